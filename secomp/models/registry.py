"""Name -> model class. The hyper-parameters a model was built with are kept on it
(`model.hparams`) so that it can be saved as safetensors + a JSON config and rebuilt exactly."""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

MODELS: dict[str, type[nn.Module]] = {}


def register(name: str):
    def deco(cls: type[nn.Module]) -> type[nn.Module]:
        if name in MODELS and MODELS[name] is not cls:
            raise ValueError(f"model name '{name}' already registered to {MODELS[name]}")
        MODELS[name] = cls
        cls.arch = name
        return cls

    return deco


def check_hparams(arch: Any, hparams: Any, source: str = "model config") -> None:
    """Raise ValueError naming the key and the allowed ones if `hparams` has a key the model
    `arch` does not take (so a typo fails on one line, not as a TypeError deep in a build)."""
    if arch not in MODELS:
        known = ", ".join(sorted(MODELS))
        raise ValueError(f"{source}: unknown model '{arch}'; registered: {known}")
    if not isinstance(hparams, dict):
        raise ValueError(f"{source}: hparams must be a mapping, not {type(hparams).__name__}")
    params = inspect.signature(MODELS[arch]).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    allowed = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = sorted(set(hparams) - set(allowed))
    if unknown:
        raise ValueError(
            f"{source}: unknown hyper-parameter{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(unknown)} for model '{arch}'; allowed: {', '.join(allowed)}"
        )


def build_model(arch: str, slim: dict[str, Any] | None = None, **hparams: Any) -> nn.Module:
    """The model `arch` built with `hparams`; `slim` (from a slimmed model's config) replaces
    its recurrent stacks and convolutions by the narrower ones `secomp slim` made
    (models/slimmed.py)."""
    if arch not in MODELS:
        raise KeyError(f"unknown model '{arch}'; registered: {', '.join(sorted(MODELS))}")
    model = MODELS[arch](**hparams)
    model.hparams = dict(hparams)
    if slim:
        from .slimmed import apply_slim

        apply_slim(model, slim)
    return model


def build_from_config(cfg: dict[str, Any]) -> nn.Module:
    """Rebuild from `model_config`'s dict (as stored in model files)."""
    return build_model(cfg["arch"], slim=cfg.get("slim"), **cfg.get("hparams", {}))


def model_config(model: nn.Module) -> dict[str, Any]:
    """{"arch": name, "hparams": {...}} for a registered model. An unregistered model gets
    arch None and its class path: its files can only be loaded into an instance the caller
    builds (`load_artifact(path, model=...)`)."""
    arch = getattr(model, "arch", None)
    if arch is None:
        cls = type(model)
        return {"arch": None, "class": f"{cls.__module__}.{cls.__qualname__}", "hparams": {}}
    cfg = {"arch": arch, "hparams": dict(getattr(model, "hparams", {}))}
    if getattr(model, "slim", None):
        cfg["slim"] = model.slim
    return cfg
