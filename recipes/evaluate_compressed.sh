#!/usr/bin/env bash
# Evaluate the v1-era compressed models on the baseline issue's two fixed test sets (made by
# recipes/evaluate_baselines.sh). Writes results/compressed/<model>_<set>.json. The v1 files
# were retired from models/ (the corpus-v2 artifacts took their names); they are taken from the
# history at commit eda90f4 into checkpoints/v1-files/, so a run never scores a v2 file as v1.
set -eu
mkdir -p results/compressed checkpoints/v1-files
for m in ${MODELS:-crn-c1 crn-c2 gcrn-c1 gcrn-c2}; do
  f=checkpoints/v1-files/$m.secomp
  [ -f $f ] || git show eda90f4:models/$m.secomp > $f
  for s in matched untrained; do
    secomp evaluate $f --pairs testsets/$s --json results/compressed/${m}_$s.json --overwrite --quiet
  done
done
