"""Magnitude pruning of one tensor at a given ratio (method.md 2.1).

Unstructured: the smallest |w| among the remaining weights go first.
Structured: the groups with the smallest L2 norm (or L1, `rank_norm="l1"`, the sibling paper's
ranking) among the remaining groups go first; a group is removed whole.
The ratio is a fraction of what remains (weights or groups), as in Algorithm 1.
"""

from __future__ import annotations

import math

import torch

from ..structure.groups import PrunableTensor
from .masks import group_alive


def prune_mask(
    t: PrunableTensor,
    w: torch.Tensor,
    mask: torch.Tensor,
    ratio: float,
    structured: bool,
    rank_norm: str = "l2",
) -> torch.Tensor:
    """The mask after removing `ratio` of the remaining weights (or groups) of `w`."""
    if ratio <= 0:
        return mask
    w = w.detach()
    if structured:
        alive = group_alive(t, mask)
        n_remove = math.floor(ratio * int(alive.sum()) + 1e-9)
        if n_remove == 0:
            return mask
        groups = t.group_view((w * mask).float())
        norms = groups.abs().sum(1) if rank_norm == "l1" else groups.norm(dim=1)
        norms = norms.masked_fill(~alive, math.inf)
        drop = torch.topk(norms, n_remove, largest=False).indices
        keep = alive.clone()
        keep[drop] = False
        return mask & t.expand_groups(keep)
    n_remove = math.floor(ratio * int(mask.sum()) + 1e-9)
    if n_remove == 0:
        return mask
    scores = w.abs().float().masked_fill(~mask, math.inf).flatten()
    drop = torch.topk(scores, n_remove, largest=False).indices
    new = mask.flatten().clone()
    new[drop] = False
    return new.view_as(mask)
