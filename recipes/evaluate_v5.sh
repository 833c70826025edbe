#!/usr/bin/env bash
# Evaluate the v5 baselines (restored with `python recipes/weights.py restore --all`, or fresh
# from recipes/gpu_v5.sh) on the two corpus-v2 test sets of recipes/make_testsets_v2.sh, and the
# valid-split selection set; writes results/baselines_v5/<model>_<set>.json (CPU).
set -eu
DATA=${DATA:-../shared/data}
[ -f testsets/matched_v2/manifest.csv ] || bash recipes/make_testsets_v2.sh
mkdir -p results/baselines_v5
for m in ${MODELS:-crn-v5 gcrn-v5 tcnn-v5 lstm-v5 demo-v5}; do
  for s in ${SETS:-untrained matched}; do
    secomp evaluate checkpoints/$m/model.safetensors --pairs testsets/${s}_v2 \
      --json results/baselines_v5/${m}_$s.json --overwrite --quiet
  done
done
