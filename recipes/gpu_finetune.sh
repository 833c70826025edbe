#!/usr/bin/env bash
# One GPU call: train on from the v2 baselines (configs/train/{crn,gcrn,tcnn}-ft.yaml, or the
# configs named in MODELS, e.g. "crn-v4 gcrn-v4"), each on its own GPU (from FIRST_GPU on), for
# MIN minutes of total training time (run again with a larger MIN to go on; the runs resume).
# The starting weights come as fp16 shards in SRC (default .gpu/a, made with
# `python recipes/fp16_shards.py pack checkpoints/<m>/model.safetensors .gpu/a`), carried in
# this or an earlier call on the same machine (only the shards present are unpacked); the corpus
# in DATA as for gpu_train_baselines.sh.
set -u
SRC=${SRC:-.gpu/a}
mkdir -p checkpoints/init
for m in crn gcrn tcnn; do
  ls $SRC/$m.fp16.* > /dev/null 2>&1 || continue
  [ -f checkpoints/init/$m.safetensors ] || python3 recipes/fp16_shards.py unpack $SRC/$m checkpoints/init/$m.safetensors || exit 1
done
MODELS=${MODELS:-crn-ft gcrn-ft tcnn-ft} exec bash recipes/gpu_train_baselines.sh
