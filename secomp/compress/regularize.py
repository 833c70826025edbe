"""Sparse regularization (method.md 2.2, 2.4): penalties added to the training loss that drive
unimportant weights (L1), whole groups (group lasso) or both (sparse group lasso, the sibling
paper's lambda1 * L1 + lambda2 * group lasso) towards zero before pruning. The groups are those
the pruner removes: per-tensor groups, or coupled channel groups (compress/groups.py)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from .groups import PrunableTensor, TensorUnit

REGULARIZERS = ("l1", "group_lasso", "sparse_group_lasso")


def l1_penalty(model: nn.Module, tensors: list[PrunableTensor]) -> torch.Tensor:
    """sum over prunable weights of |w| (unscaled)."""
    params = dict(model.named_parameters())
    return sum(params[t.name].abs().sum() for t in tensors)


def group_lasso_penalty(
    model: nn.Module, tensors: list[PrunableTensor], eps: float = 1e-12
) -> torch.Tensor:
    """sum over groups g of sqrt(|g|) * ||w_g||_2 (unscaled); `eps` inside the square root keeps
    the gradient finite at a group that is exactly zero."""
    params = dict(model.named_parameters())
    total = 0.0
    for t in tensors:
        g = t.group_view(params[t.name])
        total = total + math.sqrt(t.group_size) * torch.sqrt(g.pow(2).sum(1) + eps).sum()
    return total


def units_penalty(model: nn.Module, units: Sequence) -> torch.Tensor:
    """Group lasso over the groups of prune units (per-tensor or channel units)."""
    params = dict(model.named_parameters())
    return sum(u.penalty(params) for u in units)


def regularizer(
    kind: str,
    tensors: list[PrunableTensor],
    units: Sequence | None = None,
    lambda1: float = 1.0,
    lambda2: float = 0.1,
) -> Callable[[nn.Module], torch.Tensor]:
    """The unscaled penalty, a function of the model: L1 of the prunable weights, group lasso
    of `units` (default: the tensors' own groups), or lambda1 * L1 + lambda2 * group lasso."""
    if kind not in REGULARIZERS:
        raise ValueError(f"unknown regularizer '{kind}' ({', '.join(REGULARIZERS)})")
    groups = list(units) if units is not None else [TensorUnit(t, True) for t in tensors]
    if kind == "l1":
        return lambda m: l1_penalty(m, tensors)
    if kind == "group_lasso":
        return lambda m: units_penalty(m, groups)
    return lambda m: lambda1 * l1_penalty(m, tensors) + lambda2 * units_penalty(m, groups)


def make_penalty(kind: str, tensors: list[PrunableTensor], lam: float, units=None, **weights):
    """A function model -> lam * penalty(model), for TrainHooks.penalty."""
    fn = regularizer(kind, tensors, units, **weights)

    def penalty(model: nn.Module) -> torch.Tensor:
        return lam * fn(model)

    return penalty
