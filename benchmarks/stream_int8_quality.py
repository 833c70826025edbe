"""What int8 costs in quality: the compressed models streamed with the network in onnxruntime's
dynamic int8 quantization (`export_onnx_streaming(int8=True)`, `secomp.stream.OnnxStep`)
against the same models in float (the offline causal path, which the float streamer equals to
float precision), on mixtures of the valid split, scored against the clean speech.

    python benchmarks/stream_int8_quality.py --pairs testsets/valid_v2 --n 40 \\
        --json docs/stream_int8_quality.json

The valid set is recipes/select_v5.sh's (valid speakers, -5..15 dB). The first `n` mixtures of
the manifest are used, every SNR in turn.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from secomp.audio import load_audio
from secomp.data import read_pairs
from secomp.io.modelio import load_model
from secomp.metrics import all_metrics
from secomp.stream import OnnxStep, offline_causal, stream_array

# docs/stream_int8_quality.json was measured on the v1-era files of these names (commit eda90f4)
MODELS = ("models/crn-c1.secomp", "models/crn-c2-slim.secomp", "models/gcrn-c1.secomp",
          "models/gcrn-c2-slim.secomp")
METRICS = ("stoi", "pesq", "si_sdr")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--pairs", default="testsets/valid_v2")
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--json", default=None)
    a = p.parse_args()
    torch.set_num_threads(1)
    pairs = read_pairs(a.pairs)[: a.n]
    audio = [(load_audio(q.noisy), load_audio(q.clean)) for q in pairs]
    t0 = time.time()
    out: dict = {"pairs": a.pairs, "n": len(pairs), "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.models:
            model = load_model(name)
            int8 = Path(tmp) / "int8.onnx"
            step = OnnxStep.export(model, int8, int8=True)
            rows = {"noisy": [], "float": [], "int8": []}
            for noisy, clean in audio:
                n = min(len(noisy), len(clean))
                noisy, clean = noisy[:n], clean[:n]
                for key, est in (
                    ("noisy", noisy),
                    ("float", offline_causal(model, noisy)),
                    ("int8", stream_array(model, noisy, step=step)),
                ):
                    rows[key].append(all_metrics(est, clean)[0])
            means = {k: {m: float(np.mean([r[m] for r in v])) for m in METRICS}
                     for k, v in rows.items()}
            diff = {m: [r8[m] - rf[m] for r8, rf in zip(rows["int8"], rows["float"])]
                    for m in METRICS}
            out["models"][name] = {
                **means,
                "int8_minus_float": {m: float(np.mean(d)) for m, d in diff.items()},
                "int8_minus_float_worst": {m: float(np.min(d)) for m, d in diff.items()},
                "onnx_bytes_int8": int8.stat().st_size,
            }
            print(name, json.dumps(out["models"][name]["int8_minus_float"]), flush=True)
    out["wall_s"] = time.time() - t0
    text = json.dumps(out, indent=1)
    if a.json:
        Path(a.json).write_text(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
