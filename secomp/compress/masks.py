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
