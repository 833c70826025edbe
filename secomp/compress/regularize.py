"""Sparse regularization (method.md 2.2): penalties added to the training loss that drive
unimportant weights (L1) or whole groups (group lasso) towards zero before pruning."""

from __future__ import annotations

import math

import torch
from torch import nn

from .groups import PrunableTensor


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


PENALTIES = {"l1": l1_penalty, "group_lasso": group_lasso_penalty}


def make_penalty(kind: str, tensors: list[PrunableTensor], lam: float):
    """A function model -> lam * penalty(model), for TrainHooks.penalty."""
    if kind not in PENALTIES:
        raise ValueError(f"unknown regularizer '{kind}' ({', '.join(PENALTIES)})")
    fn = PENALTIES[kind]

    def penalty(model: nn.Module) -> torch.Tensor:
        return lam * fn(model, tensors)

    return penalty
