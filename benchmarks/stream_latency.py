"""Streaming latency: compute per 10 ms hop of secomp.stream.Streamer (normaliser, STFT, network
step, overlap-add) on one thread, for the baselines and their compressed versions, plus the
algorithmic latency (window + lookahead), and the peak memory of `enhance --stream` on long files.

Baselines are paper-size models with random weights (the trained full-size weights are not in
the repository; a dense model's compute does not depend on its weight values); the compressed
models are the committed models/*.secomp files. All models are timed in one run, interleaved
block by block (every block goes through every model, in a rotated order), so drift in the load
of a shared machine affects all of them alike. Each block is timed twice: wall clock, and this
thread's CPU time (`time.thread_time`), which leaves out the time the thread waited for a core
that other processes held (on a loaded machine the wall-clock tail is mostly that wait).

    python benchmarks/stream_latency.py --backends torch onnx onnx-int8 --seconds 30 \
        --json docs/stream_latency.json
    python benchmarks/stream_latency.py --markdown docs/stream_latency.json
    python benchmarks/stream_latency.py --rss 60 1800 --json docs/stream_rss.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from machine import describe

from secomp.audio import SAMPLE_RATE
from secomp.io.modelio import load_model
from secomp.models import build_model
from secomp.stft import HOP
from secomp.stream import Streamer, algorithmic_latency_ms, block_time_summary

ROOT = Path(__file__).resolve().parents[1]
MODELS = {
    # C2 before slimming computes as much as the baseline (dense, zeros included): not timed
    "crn": ["models/crn-c1.secomp", "models/crn-c2-slim.secomp"],
    "gcrn": ["models/gcrn-c1.secomp", "models/gcrn-c2-slim.secomp"],
    "lstm": ["models/lstm-c1.secomp", "models/lstm-c2-slim.secomp"],
    "tcnn": ["models/tcnn-c1.secomp", "models/tcnn-c2-slim.secomp"],
}


def load_models(archs: list[str]) -> dict[str, torch.nn.Module]:
    out = {}
    for arch in archs:
        torch.manual_seed(0)
        out[f"{arch} baseline (paper size, random init)"] = build_model(arch).eval()
        for path in MODELS[arch]:
            if (ROOT / path).exists():
                out[Path(path).stem] = load_model(ROOT / path)
    return out


def with_backends(models: dict, backends: list[str], tmp: Path) -> tuple[dict, dict]:
    """(models, steps) keyed "<name>" for backend torch and "<name> [onnx]" / "<name>
    [onnx-int8]" for the streaming export in onnxruntime (float / dynamic int8, one thread),
    run inside the same Streamer (`secomp.stream.OnnxStep`)."""
    from secomp.stream import OnnxStep

    out, steps = {}, {}
    for name, model in models.items():
        for b in backends:
            if b == "torch":
                out[name] = model
                continue
            key = f"{name} [{b}]"
            path = tmp / f"{len(out)}.onnx"
            out[key], steps[key] = model, OnnxStep.export(model, path, int8=b == "onnx-int8")
    return out, steps


def interleaved_latency(
    models: dict,
    seconds: float,
    warmup_s: float = 1.0,
    max_minutes: float = 1e9,
    steps: dict | None = None,
) -> dict:
    """Per-model per-block times (ms) of Streamer.process over `seconds` of noise, blocks of
    one hop, models interleaved block by block; stops early (fewer blocks, reported) after
    `max_minutes` of wall clock. `steps`: network steps (OnnxStep) for some of the names."""
    rng = np.random.default_rng(0)
    n_warm = int(warmup_s * SAMPLE_RATE) // HOP
    n = int(seconds * SAMPLE_RATE) // HOP
    x = (rng.standard_normal((n_warm + n) * HOP) * 0.056).astype(np.float32)
    names = list(models)
    steps = steps or {}
    streamers = {k: Streamer(m, step=steps.get(k)) for k, m in models.items()}
    times = {k: np.empty(n) for k in names}
    cpu = {k: np.empty(n) for k in names}  # this thread's CPU time: excludes descheduled time
    deadline = time.time() + max_minutes * 60
    for i in range(n_warm + n):
        if time.time() > deadline:
            n = max(1, i - n_warm)
            break
        block = x[i * HOP : (i + 1) * HOP]
        r = i % len(names)
        for name in names[r:] + names[:r]:
            t0, c0 = time.perf_counter(), time.thread_time()
            streamers[name].process(block)
            if i >= n_warm:
                times[name][i - n_warm] = time.perf_counter() - t0
                cpu[name][i - n_warm] = time.thread_time() - c0
    rows = {}
    for name in names:
        rows[name] = {
            "params": sum(p.numel() for p in models[name].parameters()),
            **block_time_summary(times[name][:n], cpu[name][:n]),
        }
    return {"blocks": n, "hop_ms": HOP / SAMPLE_RATE * 1e3, "models": rows}


def peak_rss(model: str, minutes: list[float], block_ms: float) -> dict:
    """Peak resident memory (MiB) of `secomp enhance MODEL --stream` on synthetic files
    (speech-shaped noise bursts) of each length, each in a fresh process."""
    import soundfile as sf

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for m in minutes:
            src, dst = Path(tmp) / f"in{m:g}.wav", Path(tmp) / f"out{m:g}.wav"
            n = int(m * 60 * SAMPLE_RATE)
            rng = np.random.default_rng(0)
            with sf.SoundFile(str(src), "w", SAMPLE_RATE, 1, "PCM_16") as f:
                for start in range(0, n, 10 * SAMPLE_RATE):
                    k = min(10 * SAMPLE_RATE, n - start)
                    env = 0.5 + 0.5 * np.sin(np.arange(k) / SAMPLE_RATE * 2 * np.pi * 3)
                    f.write((rng.standard_normal(k) * 0.05 * env).astype(np.float32))
            cmd = [
                sys.executable, "-c",
                "import resource, sys; from secomp.cli import main; main(sys.argv[1:]); "
                "print('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)",
                "enhance", model, str(src), "-o", str(dst), "--stream", "--quiet",
                "--block-ms", str(block_ms),
            ]  # fmt: skip
            t0 = time.perf_counter()
            r = subprocess.run(
                cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
            )
            if r.returncode:
                raise RuntimeError(r.stderr[-2000:])
            kib = int(r.stdout.split("RSS")[-1].split()[0])
            out[f"{m:g} min"] = {
                "peak_rss_mib": kib / 1024,
                "wall_s": time.perf_counter() - t0,
                "output_samples": sf.info(str(dst)).frames,
                "input_samples": n,
            }
    return {"model": model, "block_ms": block_ms, "files": out}


def markdown(run_json: Path) -> str:
    """The docs/benchmarks.md latency table from the JSON of one run: a row per model and
    backend, with the goal (p99 CPU time under 2 ms) marked."""
    t = json.loads(Path(run_json).read_text())
    rows = [
        "| model [backend] | params | wall median / p99 / worst (ms) | CPU median / p99 / "
        "worst (ms) | p99 CPU < 2 ms |\n|---|---|---|---|---|"
    ]
    for name, r in t["models"].items():
        rows.append(
            f"| {name} | {r['params'] / 1e6:.2f} M "
            f"| {r['median_ms']:.2f} / {r['p99_ms']:.2f} / {r['worst_ms']:.1f} "
            f"| {r['cpu_median_ms']:.2f} / {r['cpu_p99_ms']:.2f} / {r['cpu_worst_ms']:.1f} "
            f"| {'yes' if r['cpu_p99_ms'] < 2 else 'no'} |"
        )
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--archs", nargs="+", default=list(MODELS))
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--max-minutes", type=float, default=1e9, help="wall-clock cap on the run")
    p.add_argument("--rss", nargs="+", type=float, default=None, metavar="MINUTES")
    p.add_argument("--rss-model", default="demo")
    p.add_argument("--rss-block-ms", type=float, default=100.0)
    p.add_argument(
        "--backends", nargs="+", default=["torch"], choices=["torch", "onnx", "onnx-int8"],
        help="the whole streamer with the network in PyTorch and/or onnxruntime (interleaved)",
    )
    p.add_argument("--json", default=None)
    p.add_argument("--markdown", default=None, metavar="JSON", help="print the docs table of a run")
    a = p.parse_args()
    if a.markdown:
        print(markdown(Path(a.markdown)))
        return
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    t0 = time.time()
    if a.rss:
        result = peak_rss(a.rss_model, a.rss, a.rss_block_ms)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            models, steps = with_backends(load_models(a.archs), a.backends, Path(tmp))
            result = interleaved_latency(models, a.seconds, max_minutes=a.max_minutes, steps=steps)
        result["algorithmic_latency_ms"] = algorithmic_latency_ms()
        result["backends"] = a.backends
    result.update(
        machine=describe(),
        threads=1,
        loadavg_before=load_before,
        loadavg_after=os.getloadavg(),
        wall_s=time.time() - t0,
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    )
    text = json.dumps(result, indent=1)
    print(text)
    if a.json:
        Path(a.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
