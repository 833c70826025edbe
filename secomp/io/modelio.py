"""Model files: safetensors weights with the model's JSON config in the file's metadata.

One file holds everything needed to rebuild the model, and loading never unpickles. Compressed
models use the `.secomp` artifact (secomp.io.format); `load_model` reads both, plus the bundled
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

from ..files import atomic_write
from ..models import build_from_config, check_hparams, model_config
from .format import ArtifactError, check_config, load_artifact

ASSETS = Path(__file__).resolve().parents[1] / "assets"
BUNDLED = {"demo": ASSETS / "demo.safetensors"}


class ModelFileError(ValueError):
    """A model file that cannot be loaded; the message names the file and the reason."""


def save_model(model: nn.Module, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write weights + config atomically (temporary file, then rename)."""
    path = Path(path)
    meta = {"secomp": json.dumps({**model_config(model), **(extra or {})})}
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_write(path) as tmp:
        save_file(state, str(tmp), metadata=meta)
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
    try:
        cfg = json.loads(meta["secomp"])
    except json.JSONDecodeError as e:
        raise ModelFileError(f"{path}: unreadable secomp config in the metadata ({e})") from None
    if not isinstance(cfg, dict):
        raise ModelFileError(f"{path}: the secomp config in the metadata is not a mapping")
    return cfg


def trained_loss_power(name_or_path: str | Path) -> float | None:
    """The `loss_power` a model file records it was trained with (`secomp train` writes it,
    `recipes/weights.py restore` adds it from the published training config), or None for a
    file that records none (an older file, a `.secomp` artifact, a user's own model)."""
    path = resolve(name_or_path)
    if path.suffix == ".secomp":
        return None
    power = read_config(path).get("loss_power")
    if power is None:
        return None
    try:
        return float(power)
    except (TypeError, ValueError):
        raise ModelFileError(f"{path}: unreadable loss_power {power!r} in its config") from None


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


def _check_against_file(path: Path, cfg: dict[str, Any]) -> None:
    """Before building anything: the config, built on the meta device, must hold exactly the
    file's tensors (names, shapes, dtypes from the safetensors header), so a forged config
    cannot allocate more than the file holds or fail only when the model runs."""
    try:
        with safe_open(str(path), "pt") as f:
            # dtype None: load_state_dict casts (an fp16 file loads into the fp32 model)
            table = [
                {"name": k, "shape": list(f.get_slice(k).get_shape()), "dtype": None}
                for k in f.keys()
            ]
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelFileError(f"{path}: corrupt or truncated weights ({e})") from None
    # a dense file: its tensors may decode to about its own size, whatever the format's ratio
    try:
        check_config(cfg, {"tensors": table}, path.stat().st_size, str(path))
    except ArtifactError as e:
        raise ModelFileError(str(e)) from None


def load_model(name_or_path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Load a .safetensors model or a .secomp artifact, in eval mode."""
    path = resolve(name_or_path)
    if path.suffix == ".secomp":
        return load_artifact(path).to(device).eval()
    cfg = read_config(path)
    if cfg.get("arch") is None:
        raise ModelFileError(f"{path}: holds an unregistered model ({cfg.get('class')})")
    try:
        check_hparams(cfg.get("arch"), cfg.get("hparams", {}), str(path))
    except ValueError as e:
        raise ModelFileError(str(e)) from None
    _check_against_file(path, cfg)
    try:
        model = build_from_config(cfg)
    except (TypeError, KeyError, ValueError) as e:
        raise ModelFileError(f"{path}: cannot build the model from its config ({e})") from None
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelFileError(f"{path}: corrupt or truncated weights ({e})") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ModelFileError(f"{path}: weights do not match the config: {e}") from None
    return model.to(device).eval()
