"""Simulate a bank of room impulse responses for reverberant training mixtures.

    python recipes/make_rirs.py --out data/rirs.safetensors [--n 240 --seed 0]

Shoebox rooms by the image-source method (pyroomacoustics, `pip install pyroomacoustics`):
floor 3-10 x 3-8 m, height 2.5-4 m, RT60 uniform in 0.2-0.9 s (wall absorption from Sabine's
formula), source and microphone at least 0.5 m from the walls, 0.5-4 m apart. Each response is
shifted so that its direct-path peak sits at sample `direct` (the fractional-delay filter's
pre-ringing stays before it), cut to 0.6 s with a 50 ms fade-out, and scaled to unit direct-path
peak. Written as safetensors: `rir` [n, 9600] float16, metadata `direct`, `rt60_s` (JSON list)
and `seed`. The same arguments give the same bytes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

SAMPLE_RATE = 16000
LENGTH = int(0.6 * SAMPLE_RATE)
DIRECT = 40  # samples kept before the direct-path peak


def simulate(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    import pyroomacoustics as pra

    while True:
        room_dim = np.array([rng.uniform(3, 10), rng.uniform(3, 8), rng.uniform(2.5, 4)])
        rt60 = float(rng.uniform(0.2, 0.9))
        try:
            absorption, max_order = pra.inverse_sabine(rt60, room_dim)
        except ValueError:  # RT60 impossible for this room size
            continue
        src = rng.uniform(0.5, room_dim - 0.5)
        mic = rng.uniform(0.5, room_dim - 0.5)
        src[2], mic[2] = rng.uniform(1.2, 2.0), rng.uniform(0.8, 1.8)
        if not 0.5 <= np.linalg.norm(src - mic) <= 4.0:
            continue
        room = pra.ShoeBox(
            room_dim, fs=SAMPLE_RATE, materials=pra.Material(absorption),
            max_order=min(max_order, 40),
        )
        room.add_source(src)
        room.add_microphone(mic)
        room.compute_rir()
        return np.asarray(room.rir[0][0], dtype=np.float64), rt60


def aligned(rir: np.ndarray) -> np.ndarray:
    peak = int(np.argmax(np.abs(rir)))
    out = np.zeros(LENGTH)
    seg = rir[max(0, peak - DIRECT) : max(0, peak - DIRECT) + LENGTH]
    out[DIRECT - min(DIRECT, peak) : DIRECT - min(DIRECT, peak) + len(seg)] = seg
    fade = int(0.05 * SAMPLE_RATE)
    out[-fade:] *= np.linspace(1.0, 0.0, fade)
    return out / np.abs(out[DIRECT])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", required=True, help="safetensors file to write")
    p.add_argument("--n", type=int, default=240, help="number of responses")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    rirs, rt60s = [], []
    for _ in range(a.n):
        rir, rt60 = simulate(rng)
        rirs.append(aligned(rir))
        rt60s.append(round(rt60, 3))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"direct": str(DIRECT), "rt60_s": json.dumps(rt60s), "seed": str(a.seed)}
    save_file({"rir": torch.tensor(np.stack(rirs), dtype=torch.float16)}, str(out), meta)
    print(f"{out}: {a.n} responses, RT60 {min(rt60s):.2f}-{max(rt60s):.2f} s, "
          f"{out.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
