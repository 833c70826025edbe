"""Move model files through the GPU lease's 16 MiB-per-file return limit.

    python recipes/fp16_shards.py pack MODEL.safetensors OUTDIR      # fp16 shards <= 15 MiB
    python recipes/fp16_shards.py unpack OUTDIR/NAME OUT.safetensors # back to one fp32 file

The fp16 round trip changes weights by at most 2^-11 relative; results computed from unpacked
models say so.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

LIMIT = 15 * 2**20


def pack(src: Path, out_dir: Path) -> list[Path]:
    with safe_open(str(src), "pt") as f:
        meta = f.metadata()
    state = load_file(str(src))
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for k, v in state.items():
        v = v.half() if v.is_floating_point() else v
        nbytes = v.numel() * v.element_size()
        if size + nbytes > LIMIT and shards[-1]:
            shards.append({})
            size = 0
        shards[-1][k] = v.contiguous()
        size += nbytes
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, shard in enumerate(shards):
        p = out_dir / f"{src.parent.name}.fp16.{i}-of-{len(shards)}.safetensors"
        save_file(shard, str(p), metadata=meta)
        paths.append(p)
    return paths


def unpack(prefix: Path, dst: Path) -> Path:
    parts = sorted(prefix.parent.glob(prefix.name + ".fp16.*-of-*.safetensors"))
    if not parts:
        raise FileNotFoundError(f"no shards {prefix}.fp16.*")
    total = int(parts[0].name.split("-of-")[1].split(".")[0])
    if len(parts) != total:
        raise FileNotFoundError(f"{prefix}: {len(parts)} of {total} shards present")
    state: dict[str, torch.Tensor] = {}
    for p in parts:
        state.update(
            {k: (v.float() if v.is_floating_point() else v) for k, v in load_file(str(p)).items()}
        )
    with safe_open(str(parts[0]), "pt") as f:
        meta = f.metadata()
    save_file(state, str(dst), metadata=meta)
    return dst


if __name__ == "__main__":
    verb, a, b = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    print(pack(a, b) if verb == "pack" else unpack(a, b))
