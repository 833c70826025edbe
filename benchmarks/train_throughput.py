"""Training throughput per model on the GPU, and whether the input pipeline keeps up.

For each model, in one process: (1) time to make a batch of mixtures on the device alone,
(2) time of a training step (forward, backward, Adam) on a fixed batch alone, (3) time of full
steps (make batch + train), while sampling GPU utilisation with NVML. If (3) ~= (2) and (1) is
small against (2), the input pipeline is not the bottleneck. Prints a table and writes JSON.

    python benchmarks/train_throughput.py --data data --out docs/train_throughput.json
"""

from __future__ import annotations

import argparse
import json
import threading
import time

import torch

from secomp.models import build_model
from secomp.train import TrainConfig, _autocast, make_optimizer, prepare_data


def _timed(fn, n: int) -> float:
    torch.cuda.synchronize()
    t = time.perf_counter()
    for i in range(n):
        fn(i)
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / n


def gpu_util_sampler(stop: threading.Event, out: list[int]) -> None:
    import pynvml

    pynvml.nvmlInit()
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    while not stop.is_set():
        out.append(pynvml.nvmlDeviceGetUtilizationRates(h).gpu)
        time.sleep(0.1)


def bench_model(name: str, data, cfg: TrainConfig, steps: int, dev: torch.device) -> dict:
    model = build_model(name).to(dev).train()
    opt = make_optimizer(model, cfg)
    fixed = data.batch(0, 0)

    def step(batch):
        with _autocast(dev, True):
            loss = model.loss(*batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for i in range(5):  # warm-up: cuDNN autotuning, allocator
        step(data.batch(10_000 + i, 0))
    t_data = _timed(lambda i: data.batch(20_000 + i, 0), steps)
    t_train = _timed(lambda i: step(fixed), steps)
    util: list[int] = []
    stop = threading.Event()
    th = threading.Thread(target=gpu_util_sampler, args=(stop, util))
    th.start()
    t_full = _timed(lambda i: step(data.batch(30_000 + i, 0)), steps)
    stop.set()
    th.join()
    audio = cfg.batch_size * cfg.mix.segment_s
    return {
        "data_s_per_batch": t_data,
        "train_s_per_step": t_train,
        "full_s_per_step": t_full,
        "audio_s_per_s": audio / t_full,
        "gpu_util_mean_pct": sum(util) / max(1, len(util)),
        "input_share_pct": 100 * t_data / t_full,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--models", nargs="+", default=["crn", "gcrn", "lstm", "tcnn"])
    p.add_argument("--steps", type=int, default=40)
    a = p.parse_args()
    dev = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    cfg = TrainConfig(batch_size=16)
    data = prepare_data(a.data, cfg, dev)
    results = {
        "gpu": torch.cuda.get_device_name(0),
        "batch_size": cfg.batch_size,
        "segment_s": cfg.mix.segment_s,
        "models": {},
    }
    for name in a.models:
        results["models"][name] = bench_model(name, data, cfg, a.steps, dev)
        torch.cuda.empty_cache()
    with open(a.out, "w") as f:
        json.dump(results, f, indent=1)
    print(
        f"{'model':6} {'data ms':>8} {'train ms':>9} {'full ms':>8} {'audio s/s':>10} {'GPU %':>6}"
    )
    for name, r in results["models"].items():
        print(
            f"{name:6} {1e3 * r['data_s_per_batch']:8.1f} {1e3 * r['train_s_per_step']:9.1f} "
            f"{1e3 * r['full_s_per_step']:8.1f} {r['audio_s_per_s']:10.0f} "
            f"{r['gpu_util_mean_pct']:6.0f}"
        )


if __name__ == "__main__":
    main()
