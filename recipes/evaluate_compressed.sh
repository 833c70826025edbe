#!/usr/bin/env bash
# Evaluate the committed compressed models on the baseline issue's two fixed test sets
# (made by recipes/evaluate_baselines.sh). Writes results/compressed/<model>_<set>.json.
set -eu
mkdir -p results/compressed
for m in ${MODELS:-crn-c1 crn-c2 gcrn-c1 gcrn-c2}; do
  for s in matched untrained; do
    secomp evaluate models/$m.secomp --pairs testsets/$s --json results/compressed/${m}_$s.json --overwrite --quiet
  done
done
