#!/usr/bin/env bash
# Valid-split selection set for corpus v2 (valid speakers of both corpora, never tested on):
# training noises plus babble from other valid utterances, -5..15 dB, 100 mixtures (seed 3,
# 60% speechocean762 / 40% LibriSpeech per SNR). Evaluates each NAME=PATH candidate into
# results/selection_v5/NAME.json. Augmentation and run choices are made on these numbers.
set -eu
DATA=${DATA:-../shared/data}
N=${N:-100}
[ -f testsets/valid_v2/manifest.csv ] || secomp make-testset --speech $DATA/speech/valid \
  --noise $DATA/noise/train --babble $DATA/speech/valid --babble-share 0.2 \
  --snr -5 0 5 10 15 --n $N --seed 3 \
  --corpus-share speechocean762=0.6 librispeech_train-clean-5=0.4 --out testsets/valid_v2 --quiet
mkdir -p results/selection_v5
for item in "$@"; do
  name=${item%%=*}
  secomp evaluate "${item#*=}" --pairs testsets/valid_v2 \
    --json results/selection_v5/$name.json --overwrite --quiet
done
