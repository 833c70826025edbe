"""`secomp info`: what a model file holds and how many bytes it takes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..modelio import load_model, resolve


def model_info(name_or_path: str | Path) -> dict[str, Any]:
    path = resolve(name_or_path)
    model = load_model(path)
    from ..models import model_config

    cfg = model_config(model)
    params = sum(p.numel() for p in model.parameters())
    nonzero = sum(int((p != 0).sum()) for p in model.parameters())
    return {
        "path": str(path),
        "arch": cfg["arch"],
        "hparams": cfg["hparams"],
        "params": params,
        "nonzero_params": nonzero,
        "file_bytes": path.stat().st_size,
        "file_mib": path.stat().st_size / 2**20,
        "dense_fp32_bytes": params * 4,
        "dense_fp32_mib": params * 4 / 2**20,
    }


def format_info(info: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"model      {info['path']}",
            f"arch       {info['arch']} {info['hparams']}",
            f"params     {info['params']:,} ({info['nonzero_params']:,} non-zero)",
            f"file       {info['file_bytes']:,} bytes ({info['file_mib']:.3f} MiB)",
            f"dense fp32 {info['dense_fp32_bytes']:,} bytes ({info['dense_fp32_mib']:.3f} MiB)",
        ]
    )
