"""STOI per noise type at one SNR of a test set: where does a model fail? (CPU)

    python recipes/per_noise_stoi.py checkpoints/crn/model.safetensors testsets/untrained -5 \
        > results/baselines/crn_untrained_-5dB_per_noise.md
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from secomp.audio import load_audio
from secomp.enhance import enhance_array
from secomp.io.modelio import load_model
from secomp.metrics import stoi

model_path, root, snr = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
model = load_model(model_path)
scores: dict[str, list[tuple[float, float]]] = defaultdict(list)
for row in csv.DictReader(open(root / "manifest.csv")):
    if float(row["snr_db"]) != snr:
        continue
    noisy, clean = load_audio(root / row["noisy"]), load_audio(root / row["clean"])
    noise = Path(row["noise"]).stem
    scores[noise].append((stoi(noisy, clean), stoi(enhance_array(model, noisy), clean)))
print(f"STOI of `{model_path}` on `{root}` at {snr:g} dB, per noise\n")
print("| noise | files | noisy | enhanced | change |\n|---|---|---|---|---|")
for noise, v in sorted(scores.items()):
    a = np.array(v)
    print(
        f"| {noise} | {len(a)} | {a[:, 0].mean():.3f} | {a[:, 1].mean():.3f} | "
        f"{a[:, 1].mean() - a[:, 0].mean():+.3f} |"
    )
