"""Model files: safetensors weights with the model's JSON config in the file's metadata.

One file holds everything needed to rebuild the model, and loading never unpickles. Compressed
models use the `.secomp` artifact (secomp.artifact); `load_model` reads both, plus the bundled
models by name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from .models import build_from_config, model_config

ASSETS = Path(__file__).parent / "assets"
BUNDLED = {"demo": ASSETS / "demo.safetensors"}


class ModelFileError(ValueError):
    """A model file that cannot be loaded; the message names the file and the reason."""


def save_model(model: nn.Module, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write weights + config atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"secomp": json.dumps({**model_config(model), **(extra or {})})}
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    tmp = path.with_name(path.name + ".part")
    save_file(state, str(tmp), metadata=meta)
    tmp.replace(path)
    return path


def read_config(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelFileError(f"{path}: not a readable safetensors model ({e})") from None
    if "secomp" not in meta:
        raise ModelFileError(f"{path}: no secomp config in the file's metadata")
    return json.loads(meta["secomp"])


def resolve(name_or_path: str | Path) -> Path:
    """A bundled model's name ('demo') or a path -> an existing file path."""
    if str(name_or_path) in BUNDLED:
        return BUNDLED[str(name_or_path)]
    path = Path(name_or_path)
    if not path.exists():
        raise ModelFileError(
            f"{path}: no such model file (bundled models: {', '.join(sorted(BUNDLED))})"
        )
    return path


def load_model(name_or_path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Load a .safetensors model or a .secomp artifact, in eval mode."""
    path = resolve(name_or_path)
    if path.suffix == ".secomp":
        from .artifact.format import load_artifact

        return load_artifact(path).to(device).eval()
    cfg = read_config(path)
    if cfg.get("arch") is None:
        raise ModelFileError(f"{path}: holds an unregistered model ({cfg.get('class')})")
    model = build_from_config(cfg)
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelFileError(f"{path}: corrupt or truncated weights ({e})") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ModelFileError(f"{path}: weights do not match the config: {e}") from None
    return model.to(device).eval()
