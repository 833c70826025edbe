#!/usr/bin/env bash
# One GPU call: run C1 and C2 on the trained CRN and GCRN concurrently (job i on GPU i mod the
# GPU count),
# each resumable; stop them at LIMIT seconds so the call returns in time (run again with the
# same command to resume), then put each run's artifact, report and logs in $OUT.
# Needs (carried): data/ (training corpus), .whl/ (soundfile, pystoi), and the baselines as fp16
# shards in .gpu/ (recipes/fp16_shards.py pack), carried in an earlier call on the same machine.
set -u
source recipes/gpu_env.sh
LIMIT=${LIMIT:-520}
mkdir -p runs
for m in crn gcrn; do
  [ -f checkpoints/$m/model.safetensors ] || { mkdir -p checkpoints/$m; python3 recipes/fp16_shards.py unpack .gpu/$m checkpoints/$m/model.safetensors; }
done
NGPU=$(nvidia-smi -L | wc -l)
i=0
for job in ${JOBS:-crn-c1 crn-c2 gcrn-c1 gcrn-c2}; do
  m=${job%-*}; p=${job#*-}
  CUDA_VISIBLE_DEVICES=$((i % NGPU)) timeout -s INT $LIMIT python3 -m secomp.cli compress checkpoints/$m/model.safetensors --pipeline $p \
    --data data --out runs/$job --resume --quiet ${EXTRA:-} > runs/$job.log 2>&1 &
  i=$((i + 1))
done
wait
for job in ${JOBS:-crn-c1 crn-c2 gcrn-c1 gcrn-c2}; do echo "== $job"; tail -4 runs/$job.log; done
tar czf "$OUT/runs.tgz" runs/*.log runs/*/*.md runs/*/*.json runs/*/*.csv runs/*/*.png runs/*/*.yaml runs/*/work/*/log.csv 2>/dev/null
for job in ${JOBS:-crn-c1 crn-c2 gcrn-c1 gcrn-c2}; do [ -f runs/$job/model.secomp ] && cp runs/$job/model.secomp "$OUT/$job.secomp"; done
ls -la "$OUT"
