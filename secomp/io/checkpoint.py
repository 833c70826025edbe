"""Atomic training checkpoints: tensors and plain Python values only, loaded with
`weights_only=True` so a checkpoint can never execute code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..files import atomic_write


class CheckpointError(ValueError):
    """A checkpoint that cannot be read; the message names the file and the reason."""


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write to a temporary file, flush to disk, then rename over `path`: a run killed at any
    moment leaves either the previous checkpoint or the new one, never a torn file."""
    path = Path(path)
    with atomic_write(path) as tmp:
        torch.save(state, tmp)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # truncated zip, bad pickle opcodes, etc.
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({e})") from None
