#!/usr/bin/env bash
# The v5 training lease on one GPU, in steps that fit the device tool's calls (each carries at
# most 64 MiB with the working tree, and returns at most 64 MiB):
#   bash recipes/gpu_v5.sh unpack            # unpack the carried corpus shards (.gpu/shards/sK.tar,
#                                            # from recipes/pack_corpus_shards.py) into DATA
#   bash recipes/gpu_v5.sh init              # starting weights for `init:` configs (v6): the
#                                            # carried fp16 shards .gpu/init/NAME/NAME.fp16.*
#                                            # (python recipes/fp16_shards.py pack
#                                            # checkpoints/NAME/model.safetensors .gpu/init/NAME)
#                                            # -> checkpoints/NAME/model.safetensors
#   bash recipes/gpu_v5.sh bench             # benchmarks/train_throughput.py -> checkpoints/
#   bash recipes/gpu_v5.sh wait              # until the detached benchmark and trainings end
#                                            # (at most WAIT seconds, default 540)
#   bash recipes/gpu_v5.sh banks             # decode the corpus once into the bank cache CACHE
#   bash recipes/gpu_v5.sh train             # decode the corpus once into the bank cache, then
#                                            # train every config in MODELS at once on the one GPU,
#                                            # detached (survives between calls), MIN minutes each
#                                            # (MIN unset: each config's max_minutes)
#   bash recipes/gpu_v5.sh train-pack        # `train`, then wait for the trainings to end and
#                                            # `pack` MODELS, all in this one call: a lease too short
#                                            # to watch from several calls loses nothing to a gap
#                                            # between calls (the v14 lease lost its machine so)
#   bash recipes/gpu_v5.sh compress          # every MODEL:PIPELINE[:TAG[:K=V,...]] in JOBS through `secomp compress`
#                                            # at once, detached, fine-tuning on the mix of
#                                            # configs/train/MODEL.yaml, stopped at LIMIT s
#                                            # (resumable) -> runs/MODEL-PIPELINE
#   bash recipes/gpu_v5.sh compress-after    # the same, detached, once no training runs
#   bash recipes/gpu_v5.sh compress-chain    # the jobs of CHAIN one after another, detached (a
#                                            # job that starts from=runs/<earlier job>/model.secomp
#                                            # waits for it), each stopped at LIMIT s
#   bash recipes/gpu_v5.sh status            # last log lines, GPU utilisation, logs -> $OUT
#   bash recipes/gpu_v5.sh collect           # status, plus each run's pruned.secomp -> $OUT/RUN/
#   bash recipes/gpu_v5.sh pack NAME...      # fp16 shards of checkpoints/NAME/{model,best} -> $OUT
# Runs resume from checkpoints/<name> when called again with a larger MIN.
set -u
source recipes/gpu_env.sh
DATA=${DATA:-/tmp/sd}
CACHE=${CACHE:-/tmp/banks}
MIN=${MIN:-}
MODELS=${MODELS:-crn-v5 gcrn-v5 lstm-v5 tcnn-v5 demo-v5 demo-v5-dry}
mkdir -p "$DATA" checkpoints
case "${1:-}" in
  unpack)
    for t in .gpu/shards/s*.tar; do
      [ -f "$DATA/.$(basename $t).done" ] && continue
      tar xf "$t" -C "$DATA" && touch "$DATA/.$(basename $t).done" && echo "unpacked $t"
    done
    du -sh "$DATA" ;;
  init)
    for d in .gpu/init/*/; do
      n=$(basename "$d")
      [ -f checkpoints/$n/model.safetensors ] && continue
      ls "$d$n".fp16.* > /dev/null 2>&1 || continue
      mkdir -p checkpoints/$n
      # a model whose shards have not all arrived waits for a later call; the others go on
      python3 recipes/fp16_shards.py unpack "$d$n" checkpoints/$n/model.safetensors 2>&1 | tail -1
    done
    ls -la checkpoints/*/model.safetensors ;;
  bench)
    python3 benchmarks/train_throughput.py --data "$DATA" --cache "$CACHE/bench" \
      --train-split valid --new-batch ${NEW_BATCH:-32} --json checkpoints/train_throughput.json ;;
  wait)
    # the patterns carry a bracket so that they never match this shell's own command line
    for i in $(seq $(( ${WAIT:-540} / 5 ))); do
      pgrep -f "benchmarks/train_throughput[.]py|secomp[.]cli ${WHAT:-trai[n]}" > /dev/null || break
      sleep 5
    done
    pgrep -fa "benchmarks/train_throughput[.]py|secomp[.]cli ${WHAT:-trai[n]}" | cut -c1-120 ;;
  compress)
    mkdir -p runs
    bash "$0" banks || exit 1  # decoded once here, not once per job
    for job in ${JOBS:-crn-v6:c2-fast gcrn-v6:c2-fast}; do
      # MODEL:PIPELINE[:TAG[:KEY=VALUE,...]] -> runs/MODEL-PIPELINE[-TAG], with those overrides
      # (values without spaces; a ';' in a value is a comma, so stages=[P;Q] is stages=[P,Q];
      # give a run with other overrides its own TAG)
      IFS=: read -r m p tag extra <<< "$job"
      [[ "$tag" == *=* ]] && { echo "$job: the third field is a tag (MODEL:PIPELINE:TAG:K=V,...)" >&2; exit 2; }
      out=runs/$m-$p${tag:+-$tag}
      # a job whose weights are not here yet, or that already runs, is left out (the v9 lease
      # started one twice on the same folder)
      # from=PATH (among the overrides): start from that file (e.g. a run's pruned.secomp, whose
      # zeros compress keeps) instead of checkpoints/MODEL/model.safetensors
      src=checkpoints/$m/model.safetensors; [[ ",$extra," =~ ,from=([^,]*), ]] && src=${BASH_REMATCH[1]}
      [ -f "$src" ] || { echo "$job: no $src yet, not started"; continue; }
      pgrep -f "[-]-out $out( |\$)" > /dev/null && { echo "$job: already running, not started again"; continue; }
      # mixfrom=CONFIG (among the overrides): fine-tune on that training config's mix instead
      cfg=$m; [[ ",$extra," =~ ,mixfrom=([^,]*), ]] && cfg=${BASH_REMATCH[1]}
      extra=$(echo ",$extra," | sed -E 's/,mixfrom=[^,]*,/,/g; s/,from=[^,]*,/,/g; s/^,//; s/,$//')
      overrides=${extra//,/ }; overrides=${overrides//;/,}
      # fine-tune on what the model was trained on: its config's mix and loss_power
      mix=$(python3 -c 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))["mix"]))' \
        configs/train/$cfg.yaml) || exit 1
      # the loss is the model's own (mixfrom changes only the mixtures)
      power=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1])).get("loss_power", 1.0))' \
        configs/train/$m.yaml) || exit 1
      # THREADS CPU threads per job: eight jobs with torch's default of one thread per core
      # would oversubscribe the 16 cores
      OMP_NUM_THREADS=${THREADS:-2} setsid nohup timeout -s INT ${LIMIT:-900} python3 -m secomp.cli compress \
        "$src" --pipeline $p --data "$DATA" --out $out --resume \
        --quiet train.bank_cache=$CACHE "train.mix=$mix" train.loss_power=$power $overrides \
        >> $out.log 2>&1 < /dev/null &
    done
    sleep 20; tail -n 3 runs/*.log ;;
  compress-after)
    # detached: wait until no training runs (they share the GPU badly with compression, see
    # recipes/LEASE.md), then `compress` with the same JOBS and LIMIT
    mkdir -p runs
    setsid nohup bash -c "while pgrep -f 'secomp[.]cli trai[n]' > /dev/null; do sleep 5; done; \
      bash $0 compress" >> runs/compress-after.log 2>&1 < /dev/null &
    echo "compression waits for the trainings: runs/compress-after.log" ;;
  compress-chain)
    mkdir -p runs
    CHAIN=${CHAIN:-} setsid nohup bash "$0" chain-run >> runs/compress-chain.log 2>&1 < /dev/null &
    sleep 20; tail -n 3 runs/*.log ;;
  chain-run)  # compress-chain's detached loop
    set -f  # a job's [P] is not a glob
    for job in $CHAIN; do
      echo "$(date +%T) $job"
      JOBS=$job bash "$0" compress > /dev/null
      IFS=: read -r m p tag extra <<< "$job"
      while pgrep -f "secomp[.]cli compress .*--out runs/$m-$p${tag:+-$tag}( |\$)" > /dev/null; do
        sleep 5
      done
    done
    echo "$(date +%T) chain done" ;;
  banks)
    python3 - "$DATA" "$CACHE" <<'PY' || exit 1
import sys
from secomp.data import load_corpus, noise_bank, speech_bank
corpus = load_corpus(sys.argv[1])
for split in ("train", "valid"):
    print(split, len(speech_bank(corpus, split, jobs=16, cache_dir=sys.argv[2])), "utterances")
print("noise", len(noise_bank(corpus, "train", jobs=16, cache_dir=sys.argv[2])), "clips")
PY
    ;;
  train)
    bash "$0" banks || exit 1
    # setsid: a plain nohup logger dies with the call that started it (v17 lease: one minute of log)
    setsid nohup nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 10 \
      >> checkpoints/gpu_util.csv 2>&1 &
    for m in $MODELS; do
      setsid nohup python3 -m secomp.cli train --config configs/train/$m.yaml --data "$DATA" \
        --out checkpoints/$m --resume --quiet ${MIN:+max_minutes=$MIN} bank_cache=$CACHE \
        >> checkpoints/$m.log 2>&1 < /dev/null &
    done
    sleep 60; bash "$0" status ;;
  train-pack)
    bash "$0" train || exit 1
    # MIN minutes of training, then its last checkpoint and the final validation
    WAIT=$(python3 -c "print(int(${MIN:-18} * 60 + 90))") bash "$0" wait
    bash "$0" pack $MODELS && bash "$0" status > /dev/null ;;
  status)
    for m in $MODELS; do
      [ -f checkpoints/$m.log ] || continue  # e.g. the default names on a compression lease
      echo "== $m: $(tail -c 300 checkpoints/$m.log | tr '\r' '\n' | tail -1)"
      [ -f checkpoints/$m/log.csv ] && tail -1 checkpoints/$m/log.csv
    done
    tail -3 checkpoints/gpu_util.csv; nvidia-smi --query-gpu=memory.used --format=csv
    for r in runs/*.log; do [ -f "$r" ] && echo "== $r: $(tail -c 200 $r | tr '\r' '\n' | tail -1)"; done
    tar czf "$OUT/logs.tgz" $(ls checkpoints/*.log checkpoints/*.csv checkpoints/*.json \
      checkpoints/*/log.csv checkpoints/*/loss.png runs/*.log runs/*/*.md runs/*/*.json \
      runs/*/*.csv runs/*/*.png runs/*/*.yaml $(find runs -maxdepth 2 -name model.secomp -size -8M 2>/dev/null) \
      2>/dev/null) ;;
  collect)  # each run's pruned.secomp (too big for logs.tgz together) -> $OUT/RUN/, then status
    # (whose logs.tgz holds every model.secomp under 8 MB): a watch call that ends with this brings back
    # every file written so far, so a lost machine loses only the runs still going
    # (a P-only run's model.secomp can be 12 MB: those travel here too, not in logs.tgz)
    for f in runs/*/pruned.secomp $(find runs -maxdepth 2 -name model.secomp -size +8M 2>/dev/null); do
      [ -f "$f" ] || continue
      r=$(basename "$(dirname "$f")"); mkdir -p "$OUT/$r" && cp "$f" "$OUT/$r/"
    done
    bash "$0" status ;;
  pack)  # fp16 shards of each named model into $OUT/NAME/ (TAR=1: all into $OUT/small.tar)
    shift
    mkdir -p checkpoints/pack
    for m in "$@"; do
      f=checkpoints/$m/model.safetensors; [ -f $f ] || f=checkpoints/$m/best.safetensors
      mkdir -p checkpoints/pack/$m && python3 recipes/fp16_shards.py pack $f checkpoints/pack/$m \
        || exit 1
    done
    if [ -n "${TAR:-}" ]; then
      (cd checkpoints/pack && tar cf "$OUT/small.tar" "$@")
    else
      for m in "$@"; do cp -r checkpoints/pack/$m "$OUT/"; done
    fi
    ls -la "$OUT"/* ;;
  *) echo "usage: $0 unpack|init|bench|wait|banks|train|train-pack|compress|compress-after|compress-chain|status|collect|pack NAME..." >&2
     exit 2 ;;
esac
