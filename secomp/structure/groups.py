"""Groups of weights, derived from the layer handlers and the traced structure.

Per-tensor groups (the paper's, method.md 2.1; `prunable_tensors`):
- Conv1d/Conv2d weight [out, in, *k] and ConvTranspose weight [in, out, *k]: one group per
  kernel, i.e. per (out, in) pair ("kernel"); coarser options are a whole input channel
  ("in_channel") or a whole output filter ("out_channel").
- Linear weight [out, in]: one group per column (all weights fed by one input unit).
- LSTM/GRU weight_ih [G*H, in] and weight_hh [G*H, H]: one group per column, spanning all gates.
A tensor's groups are `group_view(w)`: the weight permuted and reshaped to [n_groups, group_size].

Coupled channel groups (`channel_groups`): one group is an output channel (or hidden unit)
together with every weight that produces it (its filter/rows across all gates, and its bias)
and every weight that reads it, wherever the trace found a reader: the next layer, a skip
connection into the decoder, the features of a reshape, the other half of a gated product
(conv and gate channels that meet in one product are one group), an RNN's own recurrence and
the next layer of the stack, through norms. Zeroing a whole group makes the channel exactly
zero and unread, so `secomp slim` removes all of it. Groups are collected in sets, one per
producing layer (or per set of layers whose channels are coupled, e.g. a gated block), which
is the unit of sensitivity analysis. Channels that reach the model output, or touch a layer that
cannot be slimmed (grouped convolution, bidirectional RNN), form no group.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from .graph import Structure
from .layers import CONV_GROUPINGS, Slice, is_norm, layer_handler

# ----------------------------------------------------------------------------- per-tensor groups


@dataclass(frozen=True)
class PrunableTensor:
    """A weight tensor that may be pruned and quantized.

    name: parameter name in model.named_parameters(); module: owning module's name;
    kind: conv, conv_transpose, linear, lstm_ih, lstm_hh, gru_ih, gru_hh, bias;
    perm: permutation that brings the group-index dims to the front; n_group_dims: how many
    leading dims (after perm) index a group.
    """

    name: str
    module: str
    kind: str
    shape: tuple[int, ...]
    perm: tuple[int, ...]
    n_group_dims: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def permuted_shape(self) -> tuple[int, ...]:
        return tuple(self.shape[i] for i in self.perm)

    @property
    def n_groups(self) -> int:
        return math.prod(self.permuted_shape[: self.n_group_dims])

    @property
    def group_size(self) -> int:
        return self.numel // self.n_groups

    def group_view(self, w: torch.Tensor) -> torch.Tensor:
        """[n_groups, group_size] view (a copy when the permutation requires one)."""
        return w.permute(self.perm).reshape(self.n_groups, self.group_size)

    def expand_groups(self, per_group: torch.Tensor) -> torch.Tensor:
        """A per-group vector [n_groups] broadcast back to the weight's shape."""
        full = per_group[:, None].expand(self.n_groups, self.group_size)
        inv = [0] * len(self.perm)
        for i, p in enumerate(self.perm):
            inv[p] = i
        return full.reshape(self.permuted_shape).permute(inv)


def prunable_tensors(
    model: nn.Module,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    conv_grouping: str = "kernel",
    prune_bias: bool = False,
) -> list[PrunableTensor]:
    """The prunable weight tensors of `model`, in parameter order.

    include/exclude are fnmatch patterns on parameter names (e.g. "decoder.*", "*.lstm.*");
    with include given, only matching tensors are kept. Normalisation parameters are never
    prunable; biases only with prune_bias (each bias element its own group).
    """
    if conv_grouping not in CONV_GROUPINGS:
        raise ValueError(f"conv_grouping must be one of {CONV_GROUPINGS}")
    out: list[PrunableTensor] = []
    for mname, module in model.named_modules():
        h = layer_handler(module)
        for pname, p in module.named_parameters(recurse=False):
            full = f"{mname}.{pname}" if mname else pname
            if include and not any(fnmatch.fnmatch(full, pat) for pat in include):
                continue
            if exclude and any(fnmatch.fnmatch(full, pat) for pat in exclude):
                continue
            if pname.startswith("weight") and p.dim() >= 2:
                spec = h.tensor_groups(module, pname, conv_grouping) if h else None
                if spec is not None:
                    kind, perm, ng = spec
                    out.append(PrunableTensor(full, mname, kind, tuple(p.shape), perm, ng))
            elif prune_bias and pname.startswith("bias") and not is_norm(module):
                out.append(PrunableTensor(full, mname, "bias", tuple(p.shape), (0,), 1))
    return out


# ----------------------------------------------------------------------------- coupled groups


def _slice_sums(w: torch.Tensor, dim: int) -> torch.Tensor:
    """[w.shape[dim]]: the sum of each slice of `w` along `dim` (a reduction, no copy of w)."""
    dim %= w.dim()
    other = [d for d in range(w.dim()) if d != dim]
    return w.sum(dim=other) if other else w.reshape(-1, 1).sum(1)


@dataclass
class ChannelGroupSet:
    """The coupled groups of one producing layer (or coupled set of layers).

    members: (parameter name, dim, index [m], owner [m]): slice index[i] of the parameter
    along dim belongs to group owner[i]; channels: per group, the (layer, channel) pairs it
    removes; sizes: [n_groups] weights per group.
    """

    name: str
    channels: list[list[tuple[str, int]]]
    members: list[tuple[str, int, torch.Tensor, torch.Tensor]] = field(default_factory=list)
    sizes: torch.Tensor = field(default_factory=lambda: torch.zeros(0))
    # members and sizes copied to each device once: a host-to-device copy per member and step
    # stalled every training step of the regularizer on a busy GPU (0.8 s per step on an H200)
    _on_device: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def _device_members(self, device: torch.device):
        key = str(device)
        if key not in self._on_device:
            members = [(p, d, i.to(device), o.to(device)) for p, d, i, o in self.members]
            self._on_device[key] = (members, self.sizes.to(device))
        return self._on_device[key]

    @property
    def n_groups(self) -> int:
        return len(self.channels)

    @property
    def params(self) -> list[str]:
        return sorted({p for p, *_ in self.members})

    def _per_group(self, tensors: dict[str, torch.Tensor], fn) -> torch.Tensor:
        out = None
        device = tensors[self.members[0][0]].device
        for p, dim, index, owner in self._device_members(device)[0]:
            s = _slice_sums(fn(tensors[p]), dim)[index]
            if out is None:
                out = torch.zeros(self.n_groups, device=device, dtype=s.dtype)
            out = out.index_add(0, owner, s)
        return out

    def sq_norms(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """[n_groups] sum of squares of each group's weights (differentiable)."""
        return self._per_group(params, lambda w: w.pow(2))

    def norms(self, params: dict[str, torch.Tensor], ord: str = "l2") -> torch.Tensor:
        """[n_groups] L2 (or L1) norm of each group."""
        if ord == "l1":
            return self._per_group(params, lambda w: w.detach().abs().float())
        return self._per_group(params, lambda w: w.detach().float().pow(2)).sqrt()

    def penalty(self, params: dict[str, torch.Tensor], eps: float = 1e-12) -> torch.Tensor:
        """sum over groups of sqrt(|g|) * ||w_g||_2 (group lasso)."""
        sq = self.sq_norms(params)
        sizes = self._device_members(sq.device)[1]
        return (sizes.sqrt() * torch.sqrt(sq + eps)).sum()

    def alive(self, masks: dict[str, torch.Tensor]) -> torch.Tensor:
        """[n_groups] bool: groups with at least one kept weight."""
        return self._per_group(masks, lambda m: m.float()) > 0

    def drop(self, masks: dict[str, torch.Tensor], remove: torch.Tensor) -> dict[str, torch.Tensor]:
        """New masks for this set's parameters with the groups `remove` ([n_groups] bool)
        zeroed whole."""
        out = {p: masks[p].clone() for p in self.params}
        for p, dim, index, owner in self.members:
            sel = index[remove.cpu()[owner]]
            if sel.numel():
                out[p].index_fill_(dim, sel.to(out[p].device), False)
        return out


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[tuple, tuple] = {}

    def find(self, a: tuple) -> tuple:
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: tuple, b: tuple) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def _member_lists(
    model: nn.Module, prefix: str, groups: list[list[Slice]], shapes: dict[str, tuple]
) -> tuple[list[tuple[str, int, torch.Tensor, torch.Tensor]], torch.Tensor]:
    """(members, sizes) of a set from each group's module-relative slices."""
    acc: dict[tuple[str, int], tuple[list[int], list[int]]] = {}
    sizes = torch.zeros(len(groups))
    for g, slices in enumerate(groups):
        for s in slices:
            full = f"{prefix}.{s.param}" if prefix else s.param
            idx, own = acc.setdefault((full, s.dim), ([], []))
            idx.extend(s.index)
            own.extend([g] * len(s.index))
            shape = shapes[full]
            sizes[g] += len(s.index) * math.prod(shape) // shape[s.dim]
    members = [
        (p, d, torch.tensor(i, dtype=torch.long), torch.tensor(o, dtype=torch.long))
        for (p, d), (i, o) in acc.items()
    ]
    return members, sizes


def channel_groups(model: nn.Module, structure: Structure) -> list[ChannelGroupSet]:
    """The coupled channel/unit groups of `model`, one set per producing layer(s)."""
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    modules = {n: model.get_submodule(n) for n in structure.layers}
    uf = _UnionFind()
    for p, h in structure.layers.items():
        for c in range(h.out_width(modules[p])):
            uf.find(("out", p, c))
        for q, e in structure.readers(p):
            for c, j in torch.nonzero(e).tolist():
                uf.union(("out", p, c), ("in", q, j))
    comps: dict[tuple, list[tuple]] = {}
    for node in list(uf.parent):
        comps.setdefault(uf.find(node), []).append(node)
    by_set: dict[str, list[tuple[list[tuple[str, int]], list[Slice]]]] = {}
    for nodes in comps.values():
        outs = sorted((n[1], n[2]) for n in nodes if n[0] == "out")
        layers_touched = {n[1] for n in nodes}
        if not outs or any(bool(structure.to_output[p][c]) for p, c in outs):
            continue
        if not all(structure.layers[n].slimmable(modules[n]) for n in layers_touched):
            continue
        slices: list[tuple[str, Slice]] = []
        for kind, name, idx in sorted(nodes):
            h = structure.layers[name]
            part = (
                h.out_slices(modules[name], idx)
                if kind == "out"
                else h.in_slices(modules[name], idx)
            )
            slices += [(name, s) for s in part]
        key = "+".join(sorted({p for p, _ in outs}))
        by_set.setdefault(key, []).append((outs, slices))
    sets = []
    for key, groups in sorted(by_set.items()):
        flat = [
            [Slice(f"{m}.{s.param}" if m else s.param, s.dim, s.index) for m, s in sl]
            for _, sl in groups
        ]
        members, sizes = _member_lists(model, "", flat, shapes)
        sets.append(ChannelGroupSet(key, [o for o, _ in groups], members, sizes))
    for name, h in structure.layers.items():
        if not h.slimmable(modules[name]):
            continue
        for sub, groups in h.internal_groups(modules[name]).items():
            members, sizes = _member_lists(model, name, groups, shapes)
            chans = [[(f"{name}/{sub}", u)] for u in range(len(groups))]
            sets.append(ChannelGroupSet(f"{name}/{sub}", chans, members, sizes))
    return sets
