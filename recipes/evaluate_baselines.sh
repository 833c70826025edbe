#!/usr/bin/env bash
# Make the two fixed test sets (test speakers; matched = training noises, untrained = test noises
# + babble from speech/babble) and evaluate every baseline model on both (CPU; PESQ needs the
# pesq package). Writes results/baselines/<model>_<set>.json.
set -eu
DATA=${DATA:-../shared/data}
N=${N:-150}
secomp make-testset --speech $DATA/speech/test --noise $DATA/noise/train --snr -5 0 5 --n $N --seed 1 --out testsets/matched --overwrite --quiet
secomp make-testset --speech $DATA/speech/test --noise $DATA/noise/test --babble $DATA/speech/babble --snr -5 0 5 --n $N --seed 2 --out testsets/untrained --overwrite --quiet
mkdir -p results/baselines
for m in ${MODELS:-demo tcnn gcrn crn lstm}; do
  for s in matched untrained; do
    secomp evaluate checkpoints/$m/model.safetensors --pairs testsets/$s --json results/baselines/${m}_$s.json --overwrite --quiet
  done
done
