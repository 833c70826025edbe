"""Round the float32 tensors of an existing .secomp file that are not codebook-encoded (biases,
norm weights and statistics, PReLU slopes; anything stored dense or sparse) to float16
precision, as the Q stage's `quant_vectors: fp16` does, and write the result in the current
format (version 2: compressed header, `half` tensors). The codebook-encoded tensors (the
quantized weights) are kept bit for bit; the recipe checks that, and that every other tensor
moved by at most float16 rounding. Not lossless: the model's output changes slightly.

    python recipes/round_vectors.py IN.secomp OUT.secomp
"""

from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace

import torch

from secomp.compress.quantize import round_unquantized_to_fp16
from secomp.io.format import load_artifact, read_artifact, save_artifact


def round_file(src: Path, dst: Path) -> tuple[int, int, list[str]]:
    """Write `dst`, the model of `src` with its non-codebook float tensors rounded to float16;
    returns (bytes of src, bytes of dst, names of the tensors rounded)."""
    data = src.read_bytes()
    header, before = read_artifact(data, str(src))
    books = [d["name"] for d in header["tensors"] if d["enc"] == "codebook"]
    # the kinds `secomp info` shows, as the file recorded them
    kinds = [
        SimpleNamespace(name=d["name"], kind=d["kind"]) for d in header["tensors"] if "kind" in d
    ]
    model = load_artifact(src)
    rounded = round_unquantized_to_fp16(model, books)
    n = save_artifact(model, dst, kinds)
    _, after = read_artifact(dst.read_bytes(), str(dst))
    for k, v in before.items():
        w = after[k]
        if k in books or not v.is_floating_point():
            assert torch.equal(v, w), f"{k}: changed"
        else:
            # within half a float16 ulp (2^-11 relative; absolute below the normal range)
            tol = v.abs() * 2.0**-11 + 2.0**-25
            assert bool(((v - w).abs() <= tol).all()), f"{k}: moved more than fp16 rounding"
    return len(data), n, rounded


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    a = ap.parse_args()
    if a.src.resolve() == a.dst.resolve():
        ap.error("OUT must differ from IN (the rounding is not lossless)")
    before, after, rounded = round_file(a.src, a.dst)
    print(
        f"{a.src}: {before:,} -> {a.dst}: {after:,} bytes ({after - before:+,}, "
        f"{100 * (after / before - 1):+.1f}%); {len(rounded)} tensors rounded to float16, "
        "codebook tensors identical"
    )


if __name__ == "__main__":
    main()
