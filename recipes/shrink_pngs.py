"""Re-save plot PNGs as 128-colour palette images, where that makes them smaller.

The run records under results/compress/ keep the plots `secomp compress` drew on the GPU machine
(sensitivity, sparsity, progress: 24-bit RGBA, 20-110 KB each, 10.6 MB of the tracked tree on
2026-12-03). A line plot has a few dozen colours, so a palette copy looks the same at a quarter
of the bytes, and the tree that travels to the GPU machine with every call stays small.

    python recipes/shrink_pngs.py results/compress/*/*.png

Each file is replaced atomically (written beside it, then renamed) and only when the copy is
smaller; the image size is unchanged.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from PIL import Image


def shrink(path: Path, colors: int = 128) -> tuple[int, int]:
    """Palette-quantize one PNG in place if that saves bytes; return (bytes before, after)."""
    before = path.stat().st_size
    with Image.open(path) as im:
        if im.mode == "P":  # already a palette image
            return before, before
        pal = im.convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
    tmp = path.with_name(path.name + ".part")
    pal.save(tmp, format="PNG", optimize=True)
    after = tmp.stat().st_size
    if after >= before:
        tmp.unlink()
        return before, before
    os.replace(tmp, path)
    return before, after


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pngs", nargs="+", type=Path)
    ap.add_argument("--colors", type=int, default=128)
    args = ap.parse_args()
    total = [0, 0]
    for p in args.pngs:
        b, a = shrink(p, args.colors)
        total[0] += b
        total[1] += a
    print(f"{len(args.pngs)} files: {total[0]:,} -> {total[1]:,} bytes")


if __name__ == "__main__":
    main()
