#!/usr/bin/env bash
# Model selection set: valid speakers (never tested on), training noises plus babble made from
# other valid utterances, -5/0/5 dB, 150 mixtures (seed 3). Evaluates each candidate model file
# given as NAME=PATH and writes results/selection/NAME.json. Choices between training recipes
# are made on these numbers, never on the test sets.
set -eu
DATA=${DATA:-../shared/data}
N=${N:-150}
[ -f testsets/valid/manifest.csv ] || secomp make-testset --speech $DATA/speech/valid \
  --noise $DATA/noise/train --babble $DATA/speech/valid --snr -5 0 5 --n $N --seed 3 \
  --out testsets/valid --quiet
mkdir -p results/selection
for item in "$@"; do
  name=${item%%=*}
  secomp evaluate "${item#*=}" --pairs testsets/valid --json results/selection/$name.json --overwrite --quiet
done
