"""What compression prunes: per-tensor groups (the paper's) or coupled channel groups, as
prune units that the regularizer, the sensitivity analysis and the pruner share.

The groups themselves are derived in secomp/structure/groups.py (the one place structure is
known); this module wraps them in one interface:

    unit.name                              what the sensitivity analysis reports
    unit.params                            parameters the unit's masks cover
    unit.prune(params, masks, ratio, rank_norm) -> new masks of those parameters
    unit.penalty(params)                   group lasso of its groups (unscaled)
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..structure.groups import ChannelGroupSet, PrunableTensor, channel_groups, prunable_tensors
from ..structure.layers import CONV_GROUPINGS
from .masks import apply_masks
from .prune import prune_mask

GROUP_MODES = ("tensor", "channel")
RANK_NORMS = ("l2", "l1")

__all__ = [
    "CONV_GROUPINGS",
    "GROUP_MODES",
    "RANK_NORMS",
    "ChannelUnit",
    "PrunableTensor",
    "TensorUnit",
    "channel_units",
    "prunable_tensors",
]


class TensorUnit:
    """One prunable tensor: unstructured (weights) or structured (its groups)."""

    def __init__(self, t: PrunableTensor, structured: bool):
        self.tensor, self.structured = t, structured
        self.name = t.name
        self.params = [t.name]

    def prune(self, params, masks, ratio: float, rank_norm: str = "l2") -> dict[str, torch.Tensor]:
        w = params[self.name]
        return {
            self.name: prune_mask(
                self.tensor, w, masks[self.name], ratio, self.structured, rank_norm
            )
        }

    def penalty(self, params, eps: float = 1e-12) -> torch.Tensor:
        g = self.tensor.group_view(params[self.name])
        return math.sqrt(self.tensor.group_size) * torch.sqrt(g.pow(2).sum(1) + eps).sum()


class ChannelUnit:
    """The coupled channel groups of one layer (or coupled layers): pruning a group zeroes the
    channel's producing weights and bias and every weight that reads it."""

    def __init__(self, groups: ChannelGroupSet):
        self.groups = groups
        self.name = groups.name
        self.params = groups.params

    def prune(self, params, masks, ratio: float, rank_norm: str = "l2") -> dict[str, torch.Tensor]:
        alive = self.groups.alive(masks).cpu()
        n_remove = math.floor(ratio * int(alive.sum()) + 1e-9)
        if ratio <= 0 or n_remove == 0:
            return {p: masks[p] for p in self.params}
        masked = {p: params[p].detach() * masks[p] for p in self.params}
        norms = self.groups.norms(masked, rank_norm).cpu().masked_fill(~alive, math.inf)
        remove = torch.zeros(self.groups.n_groups, dtype=torch.bool)
        remove[torch.topk(norms, n_remove, largest=False).indices] = True
        return self.groups.drop(masks, remove)

    def penalty(self, params, eps: float = 1e-12) -> torch.Tensor:
        return self.groups.penalty(params, eps)


@torch.no_grad()
def zero_pruned_groups(model: nn.Module, example: torch.Tensor) -> int:
    """Zero every member of each coupled channel group of `model` (traced on `example`, one
    input item) whose weights are all zero already, biases included; returns how many
    values that zeroed. A pruned group is one whose weights are zero; its bias
    left non-zero makes the channel emit a constant that slimming must keep (files written
    before the Q stage kept the masks of biases, secomp/compress/pipeline.py). Changes the
    model's output where such a bias was non-zero: measure quality again after it."""
    params = dict(model.named_parameters())
    before = sum(int(p.count_nonzero()) for p in params.values())
    for unit in channel_units(model, example):
        weights_only = {n: (params[n] != 0) & (params[n].dim() > 1) for n in unit.params}
        dead = ~unit.groups.alive(weights_only).cpu()
        if dead.any():
            ones = {n: torch.ones_like(params[n], dtype=torch.bool) for n in unit.params}
            apply_masks(model, unit.groups.drop(ones, dead))
    return before - sum(int(p.count_nonzero()) for p in params.values())


def channel_units(model: nn.Module, example: torch.Tensor) -> list[ChannelUnit]:
    """The channel units of `model`, traced on `example` (one input item)."""
    from ..structure import trace

    return [ChannelUnit(g) for g in channel_groups(model, trace(model, example))]
