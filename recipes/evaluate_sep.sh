#!/usr/bin/env bash
# Separation test set and evaluation (issue 15): 150 two-talker mixtures of the corpus-v2 test
# speakers (half speechocean762, half LibriSpeech as the first talker; the second talker is a
# different test speaker, level uniform in [-2.5, 2.5] dB relative to the first; seed 4), written
# under the ignored testsets/ folder; then every NAME=MODEL given is evaluated into
# results/separation/NAME.json (SI-SDRi, SDRi, STOI/PESQ per talker, best permutation) and its
# `secomp info --json` (parameters, file bytes, MACs for 4 s) into results/separation/NAME.info.json.
#   bash recipes/evaluate_sep.sh sep-v2=checkpoints/sep-v2/model.safetensors
set -eu
DATA=${DATA:-../shared/data}
[ -f testsets/sep_test/manifest.csv ] || secomp make-testset --separation \
  --speech $DATA/speech/test --n ${N:-150} --seed 4 --level-db -2.5 2.5 \
  --corpus-share speechocean762=0.5 librispeech_train-clean-5=0.5 --out testsets/sep_test --quiet
mkdir -p results/separation
for item in "$@"; do
  secomp evaluate "${item#*=}" --pairs testsets/sep_test --json results/separation/${item%%=*}.json \
    --overwrite --quiet ${EVAL_ARGS:-}
  secomp info "${item#*=}" --json > results/separation/${item%%=*}.info.json
done
