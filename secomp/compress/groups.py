"""Which tensors are prunable and how their weights form groups: the one place this is decided.

Regularizer, pruner, sensitivity analysis, quantizer, artifact writer, slimmer and MAC counter all
take the list returned by `prunable_tensors`.

Groups (method.md 2.1):
- Conv1d/Conv2d weight [out, in, *k] and ConvTranspose weight [in, out, *k]: one group per
  kernel, i.e. per (out, in) pair ("kernel"); coarser options are a whole input channel
  ("in_channel") or a whole output filter ("out_channel"), which slimming turns into speed.
- Linear weight [out, in]: one group per column (all weights fed by one input unit).
- LSTM/GRU weight_ih [G*H, in] and weight_hh [G*H, H]: one group per column, spanning all gates,
  so that removing a group removes an input (or hidden) unit from every gate.

A tensor's groups are `group_view(w)`: the weight permuted and reshaped to [n_groups, group_size].
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

import torch
from torch import nn

CONV_GROUPINGS = ("kernel", "in_channel", "out_channel")


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
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def permuted_shape(self) -> tuple[int, ...]:
        return tuple(self.shape[i] for i in self.perm)

    @property
    def n_groups(self) -> int:
        n = 1
        for s in self.permuted_shape[: self.n_group_dims]:
            n *= s
        return n

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


def _kind_and_groups(module: nn.Module, pname: str, weight: torch.Tensor, conv_grouping: str):
    nd = weight.dim()
    ident = tuple(range(nd))
    swap = (1, 0) + tuple(range(2, nd))
    if isinstance(module, nn.modules.conv._ConvNd):
        transposed = isinstance(module, nn.modules.conv._ConvTransposeNd)
        kind = "conv_transpose" if transposed else "conv"
        # weight is [out, in, *k] (conv) or [in, out, *k] (transposed)
        if conv_grouping == "kernel":
            return kind, ident, 2
        out_first = not transposed
        want_out = conv_grouping == "out_channel"
        return kind, (ident if want_out == out_first else swap), 1
    if isinstance(module, nn.Linear):
        return "linear", (1, 0), 1
    if isinstance(module, nn.LSTM | nn.GRU):
        rnn = "lstm" if isinstance(module, nn.LSTM) else "gru"
        part = "ih" if pname.startswith("weight_ih") else "hh"
        return f"{rnn}_{part}", (1, 0), 1
    return None


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
        for pname, p in module.named_parameters(recurse=False):
            full = f"{mname}.{pname}" if mname else pname
            if include and not any(fnmatch.fnmatch(full, pat) for pat in include):
                continue
            if exclude and any(fnmatch.fnmatch(full, pat) for pat in exclude):
                continue
            if pname.startswith("weight") and p.dim() >= 2:
                spec = _kind_and_groups(module, pname, p, conv_grouping)
                if spec is not None:
                    kind, perm, ng = spec
                    out.append(PrunableTensor(full, mname, kind, tuple(p.shape), perm, ng))
            elif (
                prune_bias
                and pname.startswith("bias")
                and not isinstance(module, nn.modules.batchnorm._NormBase | nn.LayerNorm)
            ):
                out.append(PrunableTensor(full, mname, "bias", tuple(p.shape), (0,), 1))
    return out
