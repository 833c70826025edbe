"""The compression pipeline presets bundled with the package (secomp/presets/NAME.yaml: c1,
c2, demo) and the loading of a pipeline config: a preset name or a YAML file, with key=value
overrides, into a CompressConfig."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

PRESETS = Path(__file__).resolve().parents[1] / "presets"  # package data: in every install


def preset_names() -> list[str]:
    """The bundled pipeline presets (secomp/presets/NAME.yaml)."""
    return sorted(p.stem for p in PRESETS.glob("*.yaml"))


def resolve_pipeline(name: str) -> Path:
    """c1 | c2 | demo | another bundled preset NAME -> secomp/presets/NAME.yaml (shipped in the
    package, so it works from any folder and any install), or a path to a YAML file."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml"):
        if not p.exists():
            raise FileNotFoundError(f"{p}: pipeline config not found")
        return p
    if "/" not in name and (PRESETS / f"{name}.yaml").exists():
        return PRESETS / f"{name}.yaml"
    raise FileNotFoundError(
        f"pipeline '{name}' not found: bundled presets are {', '.join(preset_names())}, "
        "or give a .yaml file"
    )


def load_pipeline(name: str, overrides: list[str] = ()) -> tuple[Path, dict, Any]:
    """(path, raw dict with overrides applied, CompressConfig) for a preset or YAML file; a
    malformed file or an unknown key fails with one line naming the file."""
    from ..config import apply_overrides, from_dict
    from .pipeline import CompressConfig

    path = resolve_pipeline(name)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}" if where else ""
        raise ValueError(f"{path}: not valid YAML{at}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a pipeline config is a mapping of options")
    raw = apply_overrides(raw, list(overrides))
    try:
        cfg = from_dict(CompressConfig, raw)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: {e}") from None
    return path, raw, cfg
