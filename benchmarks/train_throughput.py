"""Training throughput on one GPU: each model alone, and all of them training at once.

Measures audio-seconds of training mixtures per second of wall time, at the old settings (one
model at a time, batch 16, bf16 autocast: what every run before corpus v2 did) and the new ones
(batch --new-batch, several models training at once on the one GPU, each in its own process, as
recipes/gpu_v5.sh runs them; docs/train_throughput.json holds the batch-64 run). Every worker
makes its batches on the GPU from in-memory banks (secomp.data), exactly as `secomp train` does,
and times full steps (make batch, forward, backward, Adam). It also times batch making alone: if
that is a small share of a step, the input pipeline is not the bottleneck. GPU utilisation is
sampled with nvidia-smi during each window.

    python benchmarks/train_throughput.py --data DATA --cache /tmp/banks \
        --json docs/train_throughput.json

DATA needs speech/<train split>, speech/valid and noise/train (the split the workers draw
training speech from is --train-split; its content does not change the speed).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

MODELS = ["crn", "gcrn", "lstm", "tcnn"]


def _step_fn(model, opt, autocast):
    def step(batch):
        with autocast():
            loss = model.loss(*batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def worker(a: argparse.Namespace) -> None:
    """One process: train each of a.models for a.seconds (after warm-up), write JSON."""
    import torch

    from secomp.models import build_model
    from secomp.train import TrainConfig, _autocast, make_optimizer, prepare_data

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # CPU: a smoke test
    torch.backends.cudnn.benchmark = True
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    cfg = TrainConfig(
        batch_size=a.batch, valid_batches=1, bank_cache=a.cache, train_split=a.train_split
    )
    data = prepare_data(a.data, cfg, dev, jobs=4)
    results = {}
    for name in a.models:
        model = build_model(name).to(dev).train()
        step = _step_fn(model, make_optimizer(model, cfg), lambda: _autocast(dev, True))
        for i in range(8):  # warm-up: cuDNN autotuning, allocator
            step(data.batch(10_000 + i, 0))
        sync()
        t = time.perf_counter()
        for i in range(10):
            data.batch(20_000 + i, 0)
        sync()
        data_s = (time.perf_counter() - t) / 10
        if a.start_at:  # together: every worker starts timing at the same moment
            time.sleep(max(0.0, a.start_at - time.time()))
        sync()
        t, steps = time.perf_counter(), 0
        while time.perf_counter() - t < a.seconds:
            step(data.batch(30_000 + steps, 0))
            steps += 1
            if steps % 4 == 0:
                sync()
        sync()
        wall = time.perf_counter() - t
        results[name] = {
            "steps": steps,
            "wall_s": wall,
            "step_ms": 1e3 * wall / steps,
            "batch_ms": 1e3 * data_s,
            "input_share_pct": 100 * data_s / (wall / steps),
            "audio_s_per_s": steps * a.batch * cfg.mix.segment_s / wall,
        }
        del model
        torch.cuda.empty_cache()
    Path(a.json).write_text(json.dumps(results))


def _sample_gpu(stop: threading.Event, out: list[float]) -> None:
    cmd = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]
    while not stop.is_set():
        try:
            out.append(float(subprocess.check_output(cmd, text=True).split()[0]))
        except (OSError, subprocess.CalledProcessError, ValueError, IndexError):
            pass
        time.sleep(0.5)


def _run(a, jobs: list[tuple[list[str], int]], tmp: Path, start_at: float) -> tuple[list, float]:
    procs, files = [], []
    for k, (models, batch) in enumerate(jobs):
        f = tmp / f"w{k}-{time.time_ns()}.json"
        cmd = [sys.executable, __file__, "--worker", "--data", a.data, "--cache", a.cache,
               "--train-split", a.train_split, "--batch", str(batch), "--seconds",
               str(a.seconds), "--json", str(f), "--start-at", str(start_at), "--models", *models]
        procs.append(subprocess.Popen(cmd))
        files.append(f)
    util: list[float] = []
    stop = threading.Event()
    th = threading.Thread(target=_sample_gpu, args=(stop, util), daemon=True)
    if start_at:
        time.sleep(max(0.0, start_at - time.time()))
    th.start()
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(f"worker failed: {p.args}")
    stop.set()
    return [json.loads(f.read_text()) for f in files], sum(util) / max(1, len(util))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", required=True, help="corpus root")
    p.add_argument("--cache", default="/tmp/banks", help="decoded-bank cache folder")
    p.add_argument("--train-split", default="train", help="speech split to draw batches from")
    p.add_argument("--json", default="docs/train_throughput.json", help="results file")
    p.add_argument("--models", nargs="+", default=MODELS, help="models to time")
    p.add_argument("--seconds", type=float, default=8.0, help="timed window per measurement")
    p.add_argument("--old-batch", type=int, default=16, help="batch of the old settings")
    p.add_argument("--new-batch", type=int, default=32, help="batch of the new settings")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, default=16, help=argparse.SUPPRESS)
    p.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker(a)
    import torch

    tmp = Path(a.cache) / "throughput"
    tmp.mkdir(parents=True, exist_ok=True)
    if not any(Path(a.cache).glob("bank-*")):  # decode once; the workers then read the cache
        _run(a, [(a.models[:1], 16)], tmp, 0.0)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (CPU smoke test)"
    out = {"gpu": gpu, "segment_s": 4.0, "seconds": a.seconds,
           "models": a.models, "settings": {}}
    for label, batch in (("old", a.old_batch), ("new", a.new_batch)):
        (alone,), util_alone = _run(a, [(a.models, batch)], tmp, 0.0)
        together, util_together = _run(
            a, [([m], batch) for m in a.models], tmp, time.time() + 45.0
        )
        together_by_model = {m: r[m] for r in together for m in r}
        out["settings"][label] = {
            "batch_size": batch,
            "alone": alone,
            "alone_gpu_util_pct": util_alone,
            "together": together_by_model,
            "together_gpu_util_pct": util_together,
            "together_aggregate_audio_s_per_s": sum(
                r["audio_s_per_s"] for r in together_by_model.values()
            ),
        }
    old_alone = out["settings"]["old"]["alone"]
    # one model at a time, one after the other: the aggregate is the mean rate over the models
    # weighted by equal wall time each
    out["old_one_at_a_time_audio_s_per_s"] = sum(
        r["audio_s_per_s"] for r in old_alone.values()
    ) / len(old_alone)
    out["speedup_new_together_vs_old_one_at_a_time"] = (
        out["settings"]["new"]["together_aggregate_audio_s_per_s"]
        / out["old_one_at_a_time_audio_s_per_s"]
    )
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(out, indent=1))
    print(f"{'setting':8} {'model':6} {'alone s/s':>10} {'together s/s':>13} {'input %':>8}")
    for label, s in out["settings"].items():
        for m in a.models:
            r, t = s["alone"][m], s["together"][m]
            print(f"{label:8} {m:6} {r['audio_s_per_s']:10.0f} {t['audio_s_per_s']:13.0f} "
                  f"{r['input_share_pct']:8.1f}")
        print(f"{label:8} {'all':6} GPU util alone {s['alone_gpu_util_pct']:.0f}%, together "
              f"{s['together_gpu_util_pct']:.0f}%, aggregate together "
              f"{s['together_aggregate_audio_s_per_s']:.0f} s/s")
    print(f"new together / old one at a time: "
          f"{out['speedup_new_together_vs_old_one_at_a_time']:.2f}x")


if __name__ == "__main__":
    main()
