"""Real-time factor on CPU (processing seconds per second of audio, lower is faster) of a
baseline and its compressed versions, with PyTorch (whole model: STFT, network, inverse STFT)
and onnxruntime (the exported network only), 1 thread and all threads, all in one run: every
ratio compares numbers taken minutes apart on the same machine. Median of --reps repetitions.

    python benchmarks/rtf.py --baseline checkpoints/crn/model.safetensors \
        --compressed models/crn-c1.secomp models/crn-c2.secomp --json docs/rtf_crn.json
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

from secomp.artifact.onnx import example_input, export_onnx
from secomp.audio import SAMPLE_RATE, list_audio, load_audio
from secomp.modelio import ASSETS, load_model
from secomp.stft import stft


def _median_time(fn, reps: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench(path: str, audio: torch.Tensor, reps: int, threads: list[int], tmp: Path) -> dict:
    import onnxruntime as ort

    model = load_model(path)
    seconds = audio.shape[-1] / SAMPLE_RATE
    onnx_path = export_onnx(model, tmp / (Path(path).stem + ".onnx"))
    spec = stft(audio)
    core_in = example_input(model, spec.shape[1])  # same shape as the real features
    if core_in.dim() == 2:
        core_in = audio
    out = {"model": path, "audio_s": seconds}
    for n in threads:
        torch.set_num_threads(n)
        with torch.inference_mode():
            t_torch = _median_time(lambda: model(audio), reps)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = n
        sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        feed = {"input": core_in.numpy()}
        t_ort = _median_time(lambda s=sess, f=feed: s.run(None, f), reps)
        out[f"torch_rtf_{n}t"] = t_torch / seconds
        out[f"onnx_core_rtf_{n}t"] = t_ort / seconds
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--baseline", required=True)
    p.add_argument("--compressed", nargs="*", default=[])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    files = list_audio(ASSETS / "demo_data" / "speech" / "test")
    audio = np.concatenate([load_audio(f) for f in files])[: int(a.seconds * SAMPLE_RATE)]
    audio = torch.from_numpy(audio)[None]
    cores = os.cpu_count() or 1
    threads = sorted({1, cores})
    with tempfile.TemporaryDirectory() as tmp:
        rows = [bench(m, audio, a.reps, threads, Path(tmp)) for m in [a.baseline, *a.compressed]]
    result = {
        "machine": {
            "cpu": cpu_name(),
            "cores": cores,
            "torch": torch.__version__,
        },
        "reps": a.reps,
        "rows": rows,
    }
    print(json.dumps(result, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
