#!/usr/bin/env bash
# One GPU call: run C1 and C2 on the trained CRN and GCRN concurrently (job i on GPU i mod the
# GPU count),
# each resumable; stop them at LIMIT seconds so the call returns in time (run again with the
# same command to resume), then put each run's artifact, report and logs in $OUT.
# Needs (carried): the corpus in DATA (default data/), .whl/ (soundfile, pystoi), and the
# baselines as fp16 shards in SRC (default .gpu/; recipes/fp16_shards.py pack), carried in an
# earlier call on the same machine. EXTRA: config overrides for every job (e.g.
# conv_grouping=in_channel), TAG: suffix of the run names, FIRST_GPU: GPU of the first job.
set -u
source recipes/gpu_env.sh
LIMIT=${LIMIT:-520}
DATA=${DATA:-data}
SRC=${SRC:-.gpu}
TAG=${TAG:-}
JOBS=${JOBS:-crn-c1 crn-c2 gcrn-c1 gcrn-c2}
mkdir -p runs
for job in $JOBS; do
  m=${job%-*}
  [ -f checkpoints/$m/model.safetensors ] || { mkdir -p checkpoints/$m; python3 recipes/fp16_shards.py unpack $SRC/$m checkpoints/$m/model.safetensors; }
done
NGPU=$(nvidia-smi -L | wc -l)
i=${FIRST_GPU:-0}
for job in $JOBS; do
  m=${job%-*}; p=${job#*-}
  CUDA_VISIBLE_DEVICES=$((i % NGPU)) timeout -s INT $LIMIT python3 -m secomp.cli compress checkpoints/$m/model.safetensors --pipeline $p \
    --data "$DATA" --out runs/$job$TAG --resume --quiet ${EXTRA:-} > runs/$job$TAG.log 2>&1 &
  i=$((i + 1))
done
wait
for job in $JOBS; do echo "== $job$TAG"; tail -4 runs/$job$TAG.log; done
tar czf "$OUT/runs$TAG.tgz" runs/*.log runs/*/*.md runs/*/*.json runs/*/*.csv runs/*/*.png runs/*/*.yaml runs/*/work/*/log.csv 2>/dev/null
for job in $JOBS; do [ -f runs/$job$TAG/model.secomp ] && cp runs/$job$TAG/model.secomp "$OUT/$job$TAG.secomp"; done
ls -la "$OUT"
