#!/usr/bin/env bash
# Evaluate the v5 baselines (restored with `python recipes/weights.py restore --all`, or fresh
# from recipes/gpu_v5.sh) on the two corpus-v2 test sets of recipes/make_testsets_v2.sh, and the
# valid-split selection set; writes $RESULTS/<model>_<set>.json (CPU; default
# results/baselines_v5; the v6 runs: RESULTS=results/baselines_v6 MODELS="crn-v6 gcrn-v6 lstm-v6").
set -eu
DATA=${DATA:-../shared/data}
[ -f testsets/matched_v2/manifest.csv ] || bash recipes/make_testsets_v2.sh
RESULTS=${RESULTS:-results/baselines_v5}
mkdir -p $RESULTS
for m in ${MODELS:-crn-v5 gcrn-v5 tcnn-v5 lstm-v5 demo-v5}; do
  for s in ${SETS:-untrained matched}; do
    secomp evaluate checkpoints/$m/model.safetensors --pairs testsets/${s}_v2 \
      --json $RESULTS/${m}_$s.json --overwrite --quiet
  done
done
