#!/usr/bin/env bash
# One GPU call: train the paper baselines and the demo model, each on its own GPU where the
# machine has enough (model i on GPU i mod the GPU count), for MIN minutes of total training
# time each (a model that already has a checkpoint here resumes; run again with a larger MIN to
# go on), sample GPU utilisation, and put logs plus fp16 shards of the models in PACK in $OUT
# (the lease returns at most 64 MiB per call: pack the large models in separate calls).
# Needs (carried): the corpus in DATA (default data/: speech/train, speech/valid, noise/train) and
# .whl/ (soundfile, pystoi). MODELS names configs/train/<name>.yaml; each trains into
# checkpoints/<name>, model i on GPU (FIRST_GPU + i) mod the GPU count.
set -u
source recipes/gpu_env.sh
MIN=${MIN:-8}
FIRST_GPU=${FIRST_GPU:-0}
DATA=${DATA:-data}
MODELS=${MODELS:-lstm gcrn tcnn crn demo}
NGPU=$(nvidia-smi -L | wc -l)
mkdir -p checkpoints
nvidia-smi --query-gpu=timestamp,index,utilization.gpu,memory.used --format=csv -l 5 >> checkpoints/gpu_util.csv &
SMI=$!
i=0
for m in $MODELS; do
  CUDA_VISIBLE_DEVICES=$(((FIRST_GPU + i) % NGPU)) python3 -m secomp.cli train --config configs/train/$m.yaml \
    --data "$DATA" --out checkpoints/$m --resume --quiet max_minutes=$MIN >> checkpoints/$m.log 2>&1 &
  i=$((i + 1))
done
wait $(jobs -p | grep -v "^$SMI$")
kill $SMI
nvidia-smi > checkpoints/nvidia-smi.txt
for m in $MODELS; do tail -2 checkpoints/$m.log; done
tar czf "$OUT/logs.tgz" checkpoints/*.log checkpoints/*.txt checkpoints/gpu_util.csv checkpoints/*/log.csv checkpoints/*/loss.png
for m in ${PACK:-}; do python3 recipes/fp16_shards.py pack checkpoints/$m/model.safetensors "$OUT"; done
ls -la "$OUT"
