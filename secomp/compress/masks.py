"""Pruning masks: a bool tensor per prunable weight, True where the weight is kept.

Masks are applied by multiplying the parameter's storage in place after every optimizer step, so
pruned weights stay exactly zero through fine-tuning. No re-parametrisation: cuDNN's flattened
LSTM weights keep pointing at the same storage and keep working.
"""

from __future__ import annotations

import torch
from torch import nn

from ..structure.groups import PrunableTensor

Masks = dict[str, torch.Tensor]


def full_masks(model: nn.Module, tensors: list[PrunableTensor]) -> Masks:
    params = dict(model.named_parameters())
    return {t.name: torch.ones_like(params[t.name], dtype=torch.bool) for t in tensors}


@torch.no_grad()
def kept_masks(model: nn.Module, tensors: list[PrunableTensor]) -> Masks:
    """Masks that keep what is not exactly zero: a model pruned before (by an earlier run's
    P stages, `save_pruned`, or another tool) keeps its zeros through fine-tuning and
    quantization, so Q alone compresses it. A tensor that is all zeros (a layer initialised
    to zero, not pruned) keeps a full mask; a dense trained model gets full masks."""
    params = dict(model.named_parameters())
    masks = {}
    for t in tensors:
        p = params[t.name]
        kept = p != 0
        masks[t.name] = kept if bool(kept.any()) else torch.ones_like(p, dtype=torch.bool)
    return masks


@torch.no_grad()
def apply_masks(model: nn.Module, masks: Masks) -> None:
    params = dict(model.named_parameters())
    for name, m in masks.items():
        p = params[name]
        p.mul_(m.to(device=p.device, dtype=p.dtype))


def count_nonzero(masks: Masks) -> int:
    return int(sum(int(m.sum()) for m in masks.values()))


def sparsity(masks: Masks) -> dict[str, float]:
    """Fraction of zeros per tensor."""
    return {k: 1.0 - float(m.float().mean()) for k, m in masks.items()}


def group_alive(t: PrunableTensor, mask: torch.Tensor) -> torch.Tensor:
    """[n_groups] bool: groups with at least one kept weight."""
    return t.group_view(mask).any(dim=1)
