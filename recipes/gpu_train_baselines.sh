#!/usr/bin/env bash
# One GPU lease: train the four paper baselines and the demo model concurrently on one GPU for
# MIN minutes each, sample GPU utilisation, and put logs + fp16 shards of the small models in
# $OUT (fetch the large ones in later calls: python3 recipes/fp16_shards.py pack
# checkpoints/<model>/model.safetensors $OUT, at most 64 MiB per call).
# Needs (carried): data/ (speech/train, speech/valid, noise/train) and .whl/ (soundfile, pystoi).
set -u
source recipes/gpu_env.sh
MIN=${MIN:-7}
mkdir -p checkpoints
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 5 > checkpoints/gpu_util.csv &
SMI=$!
for m in ${MODELS:-crn gcrn lstm tcnn demo}; do
  python3 -m secomp.cli train --config configs/train/$m.yaml --data data --out checkpoints/$m \
    --quiet max_minutes=$MIN > checkpoints/$m.log 2>&1 &
done
wait $(jobs -p | grep -v "^$SMI$")
kill $SMI
nvidia-smi > checkpoints/nvidia-smi.txt
for m in ${MODELS:-crn gcrn lstm tcnn demo}; do tail -2 checkpoints/$m.log; done
tar czf "$OUT/logs.tgz" checkpoints/*.log checkpoints/*.txt checkpoints/gpu_util.csv checkpoints/*/log.csv checkpoints/*/loss.png
for m in demo tcnn gcrn; do python3 recipes/fp16_shards.py pack checkpoints/$m/model.safetensors "$OUT"; done
ls -la "$OUT"
