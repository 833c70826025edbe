"""Real-time factor on CPU (processing seconds per second of audio, lower is faster) of a
baseline and its compressed versions, with PyTorch (whole model: STFT, network, inverse STFT)
and onnxruntime (the exported network only), 1 thread and all threads.

Timing on a shared machine drifts by tens of percent over minutes, so the models are measured
interleaved: each repetition times every model once (in a rotated order), and a speed-up is the
median over repetitions of the paired ratio baseline time / model time, with a 95% bootstrap
interval of that median. A speed-up is "measured" when the interval's lower end is above 1.

    python benchmarks/rtf.py --baseline checkpoints/crn-v6/model.safetensors \
        --compressed models/crn-c2-slim.secomp --json docs/rtf_crn_c2_fast.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from machine import cpu_name

from secomp.audio import SAMPLE_RATE, list_audio, load_audio
from secomp.io.modelio import ASSETS, load_model
from secomp.io.onnx import example_input, export_onnx
from secomp.stft import stft


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _runners(path: str, audio: torch.Tensor, threads: list[int], tmp: Path) -> dict:
    """{"torch": fn, "onnx_core_{n}t": fn}: one call processes `audio` once."""
    import onnxruntime as ort

    model = load_model(path)
    onnx_path = export_onnx(model, tmp / (Path(path).stem + ".onnx"))
    core_in = example_input(model, stft(audio).shape[1])  # same shape as the real features
    if core_in.dim() == 2:
        core_in = audio
    feed = {"input": core_in.numpy()}
    out = {"torch": lambda: model(audio)}
    for n in threads:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = n
        sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        out[f"onnx_{n}t"] = lambda s=sess: s.run(None, feed)
    return out


def interleaved_times(
    runners: list[dict], threads: list[int], reps: int
) -> list[dict[str, list[float]]]:
    """Per model, {"torch_rtf_{n}t" | "onnx_core_rtf_{n}t": [seconds per repetition]}."""
    times: list[dict[str, list[float]]] = [{} for _ in runners]
    for n in threads:
        torch.set_num_threads(n)
        jobs = [("torch", f"torch_rtf_{n}t"), (f"onnx_{n}t", f"onnx_core_rtf_{n}t")]
        with torch.inference_mode():
            for r in runners:  # warm-up
                for fn_key, _ in jobs:
                    r[fn_key]()
            for rep in range(reps):
                order = [(rep + i) % len(runners) for i in range(len(runners))]
                for i in order:
                    for fn_key, key in jobs:
                        times[i].setdefault(key, []).append(_timed(runners[i][fn_key]))
    return times


def paired_speedup(base: list[float], other: list[float], seed: int = 0) -> dict[str, float]:
    """Median of base[r] / other[r] over repetitions r, with a 95% bootstrap interval."""
    ratios = np.asarray(base) / np.asarray(other)
    rng = np.random.default_rng(seed)
    boot = np.median(rng.choice(ratios, size=(2000, len(ratios))), axis=1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return {"median": float(np.median(ratios)), "ci95_low": float(lo), "ci95_high": float(hi)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--baseline", required=True)
    p.add_argument("--compressed", nargs="*", default=[])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    files = list_audio(ASSETS / "demo_data" / "speech" / "test")
    audio = np.concatenate([load_audio(f) for f in files])[: int(a.seconds * SAMPLE_RATE)]
    audio = torch.from_numpy(audio)[None]
    seconds = audio.shape[-1] / SAMPLE_RATE
    cores = os.cpu_count() or 1
    threads = sorted({1, cores})
    paths = [a.baseline, *a.compressed]
    with tempfile.TemporaryDirectory() as tmp:
        runners = [_runners(m, audio, threads, Path(tmp)) for m in paths]
        times = interleaved_times(runners, threads, a.reps)
    rows = []
    for path, t in zip(paths, times, strict=True):
        row: dict = {"model": path, "audio_s": seconds}
        row |= {k: statistics.median(v) / seconds for k, v in t.items()}
        if path != a.baseline:
            row["speedup"] = {k: paired_speedup(times[0][k], v) for k, v in t.items()}
        row["times_s"] = t
        rows.append(row)
    result = {
        "machine": {"cpu": cpu_name(), "cores": cores, "torch": torch.__version__},
        "reps": a.reps,
        "interleaved": True,
        "rows": rows,
    }
    print(
        json.dumps(
            {**result, "rows": [{k: v for k, v in r.items() if k != "times_s"} for r in rows]},
            indent=1,
        )
    )
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
