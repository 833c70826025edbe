"""Metric throughput: files per second of `evaluate` (identity model, so only I/O + STOI, ESTOI,
PESQ, SI-SDR, SNR of input and output) with 1 job and with all cores, in one run.

    python benchmarks/metric_throughput.py [--pairs DIR] [--n 48] [--json FILE]

Without --pairs, a test set is made from the bundled demo data.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from machine import cpu_name

from secomp.data import make_testset, read_pairs
from secomp.evaluate import evaluate
from secomp.io.modelio import ASSETS


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--pairs", default=None)
    p.add_argument("--n", type=int, default=48)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if a.pairs is None:
            demo = ASSETS / "demo_data"
            a.pairs = make_testset(
                demo / "speech" / "test",
                demo / "noise" / "train",
                Path(tmp),
                [-5, 0, 5],
                a.n,
                seed=0,
                progress=False,
            )
        pairs = read_pairs(a.pairs)[: a.n]
        cores = os.cpu_count() or 1
        rates = {}
        for jobs in (1, cores):
            t = time.perf_counter()
            summary, _ = evaluate(None, pairs, jobs=jobs, progress=False)
            rates[jobs] = len(pairs) / (time.perf_counter() - t)
            assert summary["n"] == len(pairs)
    out = {
        "files": len(pairs),
        "cores": cores,
        "cpu": cpu_name(),
        "files_per_s_1_job": rates[1],
        f"files_per_s_{cores}_jobs": rates[cores],
        "speedup": rates[cores] / rates[1],
    }
    print(json.dumps(out, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
