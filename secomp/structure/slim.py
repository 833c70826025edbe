"""Structured slimming: turn the zero groups that structured pruning left into a smaller dense
model that computes the same function, for any model built from the layers secomp handles.

Who reads which channel comes from one traced structure (secomp/structure/graph.py), not from
per-model knowledge. Per layer (secomp/structure/layers.py):
- input channels / features whose weights are all zero are never read: the layer gathers only
  the ones it reads (exact whatever produces them);
- output channels / hidden units go when nobody reads them (no later layer has a non-zero
  weight on them, they do not reach the model's output, no norm takes statistics over them) or
  when they are exactly zero anyway (every producing weight and the bias are zero). The layer
  computes only the others and puts zeros in their place, so whatever follows runs unchanged;
- recurrent stacks: per layer, a unit goes when neither its own recurrence nor the next layer
  (or, for the last layer, the readers above) reads it, or when it outputs exactly zero.
A channel behind a LayerNorm (GCRN's grouped LSTM) is read by the norm's statistics, so it goes
only when it is exactly zero; then the norm sees the same zero as before and the result is
exact. The slimmed model is checked against the original on the example input.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from .graph import Structure, default_example, trace
from .layers import layer_handler, replace_module


class SlimError(ValueError):
    """A model secomp cannot slim; the message says why."""


def slim_model(
    model: nn.Module,
    example: torch.Tensor | None = None,
    structure: Structure | None = None,
    tolerance: float = 1e-4,
) -> tuple[nn.Module, list[dict[str, Any]]]:
    """A slimmed copy of `model` and one row per slimmed layer (name, widths before/after).

    example: one input item for the trace (default: 0.05 s of noise, the waveform input of
    every secomp model). The copy's config (`model_config`) carries the slim spec, so it saves
    and loads like any model (`save_model`, `save_artifact`)."""
    if getattr(model, "slim", None):
        raise SlimError("this model is already slimmed")
    if example is None:
        example = default_example(model)
    out = copy.deepcopy(model).eval()
    if structure is None:
        structure = trace(out, example)
    read = structure.read_outputs(out)
    spec: dict[str, dict] = {}
    rows = []
    plans = []
    for name in structure.layers:  # all plans from the unslimmed weights, then replace
        module = out.get_submodule(name)
        made = layer_handler(module).slim(module, read[name])
        if made is not None:
            plans.append((name, made))
    for name, (new, args, row) in plans:
        spec[name] = args
        rows.append({"name": name, **row})
        replace_module(out, name, new)
    if not spec:
        raise SlimError(
            "nothing to remove: no recurrent unit or channel is unread, all zero or exactly zero"
        )
    out.slim = spec
    was = model.training
    model.eval()
    with torch.inference_mode():
        err = float((model(example[:1]) - out(example[:1])).abs().max())
    model.train(was)
    if not err <= tolerance:
        raise SlimError(f"the slimmed model differs by {err:.2e} on the example; not slimmed")
    return out, rows
