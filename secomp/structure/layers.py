"""One handler per layer type: the only place in secomp that knows what a layer's weights mean.

A handler answers, for one module: the sizes and activation axes of its input and output
channels (features, hidden units), the groups of each weight tensor (the paper's per-tensor
groups, method.md 2.1), which weight slices produce an output channel and which read an input
channel (the coupled groups of `structure.groups`), which inputs its weights read and which
outputs it produces as exact zeros, its multiply-accumulates on one call, and how to build the
narrower layer that computes only some outputs from some inputs (`secomp slim`).

Handled: Conv1d/2d, ConvTranspose1d/2d (any groups for accounting; groups=1 to slim),
Linear, LSTM/GRU (batch-first, unidirectional, no projection to slim), and the normalisation
layers the tracer must know about: BatchNorm (per channel, passed through) and LayerNorm /
GroupNorm (their statistics read every channel they normalise). Slimmed layers (SlimConv,
SlimLinear, SlimRNN) are built from handled layers, so their inner layers are what is counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .slim_conv import CONV_TYPES, SlimConv, SlimLinear, conv_args
from .slim_rnn import SlimRNN

CONV_GROUPINGS = ("kernel", "in_channel", "out_channel")


@dataclass(frozen=True)
class Slice:
    """Weights of one parameter at `index` along dimension `dim` (module-relative name)."""

    param: str
    dim: int
    index: tuple[int, ...]


class SlimSpecError(ValueError):
    """A slim spec entry that does not fit the layer it names (a forged or foreign spec)."""


def _check_spec_index(v: Any, width: int, what: str, n: int | None = None) -> None:
    ok = isinstance(v, list) and all(type(i) is int and 0 <= i < width for i in v)
    if not ok or len(set(v)) != len(v) or not v or (n is not None and len(v) != n):
        raise SlimSpecError(f"slim spec: {what} is not a list of distinct channels")


def _nonzero_along(w: torch.Tensor, dim: int) -> torch.Tensor:
    """[w.shape[dim]] bool: which slices along `dim` hold a non-zero weight (on the CPU)."""
    return w.detach().abs().transpose(0, dim).reshape(w.shape[dim], -1).sum(1).cpu() != 0


class LayerHandler:
    """What secomp needs to know about one layer type. Channel axes are of the activations:
    `in_axis` of the layer's input tensor, `out_axis` of its (first) output tensor."""

    in_axis = 1
    out_axis = 1
    batch_axis = 0
    # True for layers with weights that are traced as producers/consumers
    is_layer = True
    # True for normalisations whose statistics read all channels (traced as element-wise)
    mixes_channels = False
    # True for BatchNorm: running statistics estimated from training batches
    batch_statistics = False

    def in_width(self, m: nn.Module) -> int:
        raise NotImplementedError

    def out_width(self, m: nn.Module) -> int:
        raise NotImplementedError

    def tensor_groups(self, m: nn.Module, pname: str, conv_grouping: str):
        """(kind, perm, n_group_dims) for a prunable weight, or None."""
        return None

    def weights(self, m: nn.Module) -> list[torch.Tensor]:
        return [m.weight]

    def reads_inputs(self, m: nn.Module) -> torch.Tensor:
        """[in_width] bool: input channels some non-zero weight reads."""
        raise NotImplementedError

    def produces(self, m: nn.Module) -> torch.Tensor:
        """[out_width] bool: False where the output channel is exactly zero whatever the input
        (all producing weights and the bias are zero)."""
        raise NotImplementedError

    def slimmable(self, m: nn.Module) -> bool:
        return False

    def out_slices(self, m: nn.Module, c: int) -> list[Slice]:
        """Weights that produce output channel c (its row/filter and bias)."""
        raise NotImplementedError

    def in_slices(self, m: nn.Module, j: int) -> list[Slice]:
        """Weights that read input channel j."""
        raise NotImplementedError

    def internal_groups(self, m: nn.Module) -> dict[str, list[list[Slice]]]:
        """Coupled groups inside the layer (hidden units of inner RNN layers): key -> groups."""
        return {}

    def macs(self, m: nn.Module, inputs: tuple, output: Any) -> tuple[int, int]:
        """(dense, non-zero-only) multiply-accumulates of one call."""
        raise NotImplementedError

    def inject(self, output: Any, pairs: list[tuple[int, int]], value: float) -> Any:
        """`output` with channel c of batch item b set to `value`, for each (b, c)."""
        out = output.clone()
        bs, cs = (torch.tensor(v) for v in zip(*pairs))
        out.movedim((self.batch_axis, self.out_axis), (0, 1))[bs, cs] = value
        return out

    def slim(
        self, m: nn.Module, read_out: torch.Tensor
    ) -> tuple[nn.Module, dict[str, Any], dict[str, str]] | None:
        """(narrower layer, its slim spec, a report row) given which outputs later layers read;
        None when nothing can go."""
        return None

    def check_slim(self, m: nn.Module, name: str, args: dict) -> None:
        """Raise SlimSpecError unless `args` (a slim spec entry of this handler's kind) replaces
        `m` with exactly m's sizes: indices distinct, in range, of the widths they read."""
        raise SlimSpecError(f"slim spec: {name} is a {type(m).__name__}")

    def spans(self, m: nn.Module) -> tuple[int, ...]:
        """Kernel, stride, dilation and padding sizes of the layer (none for most layers): a
        model file's config is refused when one is implausibly large."""
        return ()


# ----------------------------------------------------------------------------- convolutions


class ConvHandler(LayerHandler):
    """Conv weight [out, in/groups, *k]; transposed [in, out/groups, *k]."""

    def in_width(self, m):
        return m.in_channels

    def out_width(self, m):
        return m.out_channels

    def _in_dim(self, m) -> int:
        return 0 if m.transposed else 1

    def tensor_groups(self, m, pname, conv_grouping):
        if pname != "weight":
            return None
        nd = m.weight.dim()
        ident = tuple(range(nd))
        swap = (1, 0) + tuple(range(2, nd))
        kind = "conv_transpose" if m.transposed else "conv"
        if conv_grouping == "kernel":
            return kind, ident, 2
        want_out = conv_grouping == "out_channel"
        return kind, (ident if want_out == (not m.transposed) else swap), 1

    def _pairs(self, m):
        """(in channels per group, out channels per group)."""
        return m.in_channels // m.groups, m.out_channels // m.groups

    def reads_inputs(self, m):
        w = m.weight.detach().abs().cpu()
        if m.groups == 1:
            return _nonzero_along(w, self._in_dim(m))
        ipg, opg = self._pairs(m)
        read = torch.zeros(m.in_channels, dtype=torch.bool)
        for j in range(m.in_channels):
            g = j // ipg
            if m.transposed:
                read[j] = bool(w[j].sum() != 0)
            else:
                read[j] = bool(w[g * opg : (g + 1) * opg, j % ipg].sum() != 0)
        return read

    def produces(self, m):
        w = m.weight.detach().abs().cpu()
        if m.groups == 1:
            made = _nonzero_along(w, 1 - self._in_dim(m))
        elif not m.transposed:
            made = _nonzero_along(w, 0)
        else:
            made = torch.ones(m.out_channels, dtype=torch.bool)
        if m.bias is not None:
            made |= m.bias.detach().cpu() != 0
        return made

    def slimmable(self, m):
        return m.groups == 1 and m.padding_mode == "zeros"

    def out_slices(self, m, c):
        s = [Slice("weight", 1 - self._in_dim(m), (c,))]
        return s + ([Slice("bias", 0, (c,))] if m.bias is not None else [])

    def in_slices(self, m, j):
        return [Slice("weight", self._in_dim(m), (j,))]

    def macs(self, m, inputs, output):
        # each kernel weight is applied once per output position (conv) or per input
        # position (transposed conv)
        x = inputs[0] if m.transposed else output
        reps = math.prod(x.shape[2:]) * x.shape[0]
        return reps * m.weight.numel(), reps * int((m.weight != 0).sum())

    def slim(self, m, read_out):
        if not self.slimmable(m):
            return None
        keep_in = torch.nonzero(self.reads_inputs(m)).flatten().tolist() or [0]
        keep = read_out.cpu() & self.produces(m)
        outs = None if bool(keep.all()) else (torch.nonzero(keep).flatten().tolist() or [0])
        if len(keep_in) == m.in_channels and outs is None:
            return None
        in_dim = self._in_dim(m)
        args: dict[str, Any] = {
            "kind": "conv",
            "type": type(m).__name__,
            "in_width": m.in_channels,
            "in_index": keep_in,
            "args": conv_args(m),
        }
        if outs is not None:
            args["out_index"] = outs
        new = SlimConv(**{k: v for k, v in args.items() if k != "kind"}).to(m.weight.device)
        out_index = torch.tensor(outs if outs is not None else range(m.out_channels))
        with torch.no_grad():
            w = m.weight.index_select(in_dim, new.in_index.to(m.weight.device))
            new.conv.weight.copy_(w.index_select(1 - in_dim, out_index.to(w.device)))
            if m.bias is not None:
                new.conv.bias.copy_(m.bias[out_index.to(m.bias.device)])
        row = {
            "inputs": f"{m.in_channels} -> {len(keep_in)}",
            "outputs": f"{m.out_channels} -> {len(outs)}" if outs is not None else "",
            "units": "",
        }
        return new, args, row

    def check_slim(self, m, name, args):
        if type(m).__name__ != args.get("type") or args.get("type") not in CONV_TYPES:
            raise SlimSpecError(f"slim spec: {name} is a {type(m).__name__}")
        if m.groups != 1 or args.get("in_width") != m.in_channels:
            raise SlimSpecError(f"slim spec: {name} input width differs from the model")
        if args.get("args") != conv_args(m):
            raise SlimSpecError(f"slim spec: {name} sizes differ from the model's")
        _check_spec_index(args.get("in_index"), m.in_channels, f"{name} in_index")
        if args.get("out_index") is not None:
            _check_spec_index(args["out_index"], m.out_channels, f"{name} out_index")

    def spans(self, m):
        sizes = (*m.kernel_size, *m.stride, *m.dilation, *m.output_padding)
        return sizes + (tuple(m.padding) if isinstance(m.padding, tuple) else ())


class LinearHandler(LayerHandler):
    """Linear weight [out, in] on the last axis."""

    in_axis = -1
    out_axis = -1

    def in_width(self, m):
        return m.in_features

    def out_width(self, m):
        return m.out_features

    def tensor_groups(self, m, pname, conv_grouping):
        return ("linear", (1, 0), 1) if pname == "weight" else None

    def reads_inputs(self, m):
        return _nonzero_along(m.weight, 1)

    def produces(self, m):
        made = _nonzero_along(m.weight, 0)
        if m.bias is not None:
            made |= m.bias.detach().cpu() != 0
        return made

    def slimmable(self, m):
        return True

    def out_slices(self, m, c):
        s = [Slice("weight", 0, (c,))]
        return s + ([Slice("bias", 0, (c,))] if m.bias is not None else [])

    def in_slices(self, m, j):
        return [Slice("weight", 1, (j,))]

    def macs(self, m, inputs, output):
        reps = math.prod(inputs[0].shape[:-1])
        return reps * m.weight.numel(), reps * int((m.weight != 0).sum())

    def inject(self, output, pairs, value):
        out = output.clone()
        bs, cs = (torch.tensor(v) for v in zip(*pairs))
        out.movedim(-1, 1)[bs, cs] = value
        return out

    def slim(self, m, read_out):
        keep_in = torch.nonzero(self.reads_inputs(m)).flatten().tolist() or [0]
        keep = read_out.cpu() & self.produces(m)
        outs = None if bool(keep.all()) else (torch.nonzero(keep).flatten().tolist() or [0])
        if len(keep_in) == m.in_features and outs is None:
            return None
        args: dict[str, Any] = {
            "kind": "linear",
            "in_width": m.in_features,
            "in_index": keep_in,
            "out_width": m.out_features,
            "bias": m.bias is not None,
        }
        if outs is not None:
            args["out_index"] = outs
        new = SlimLinear(**{k: v for k, v in args.items() if k != "kind"}).to(m.weight.device)
        rows = torch.tensor(outs if outs is not None else range(m.out_features))
        with torch.no_grad():
            w = m.weight[rows.to(m.weight.device)][:, new.in_index.to(m.weight.device)]
            new.linear.weight.copy_(w)
            if m.bias is not None:
                new.linear.bias.copy_(m.bias[rows.to(m.bias.device)])
        row = {
            "inputs": f"{m.in_features} -> {len(keep_in)}",
            "outputs": f"{m.out_features} -> {len(outs)}" if outs is not None else "",
            "units": "",
        }
        return new, args, row

    def check_slim(self, m, name, args):
        if handler_for(m) is not self:
            raise SlimSpecError(f"slim spec: {name} is a {type(m).__name__}")
        if (args.get("in_width"), args.get("out_width")) != (m.in_features, m.out_features):
            raise SlimSpecError(f"slim spec: {name} widths differ from the model's")
        if args.get("bias", True) is not (m.bias is not None):
            raise SlimSpecError(f"slim spec: {name} bias differs from the model's")
        _check_spec_index(args.get("in_index"), m.in_features, f"{name} in_index")
        if args.get("out_index") is not None:
            _check_spec_index(args["out_index"], m.out_features, f"{name} out_index")


# ----------------------------------------------------------------------------- recurrent stacks


class RNNHandler(LayerHandler):
    """nn.LSTM / nn.GRU. W_ih_l{k} [G*H, in_k], W_hh_l{k} [G*H, H]; gate g of unit u is row
    g*H + u. The traced channels are the last layer's units; inner layers are internal."""

    in_axis = -1
    out_axis = -1

    def gates(self, m) -> int:
        return 4 if m.mode == "LSTM" else 3

    def in_width(self, m):
        return m.input_size

    def out_width(self, m):
        return m.hidden_size

    def weights(self, m):
        return [p for n, p in m.named_parameters() if n.startswith("weight_")]

    def tensor_groups(self, m, pname, conv_grouping):
        if not pname.startswith("weight_"):
            return None
        rnn = m.mode.lower()
        part = "ih" if pname.startswith("weight_ih") else "hh"
        return f"{rnn}_{part}", (1, 0), 1

    def reads_inputs(self, m):
        return _nonzero_along(m.weight_ih_l0, 1)

    def _rows(self, m, u: int) -> tuple[int, ...]:
        return tuple(g * m.hidden_size + u for g in range(self.gates(m)))

    def _unit_zero(self, m, k: int) -> torch.Tensor:
        """[H] bool: units of layer k whose output is exactly zero from a zero state (every
        gate row zero, and the candidate's biases zero, so the cell/candidate stays 0)."""
        h, g = m.hidden_size, self.gates(m)
        rows = (
            (
                _nonzero_along(getattr(m, f"weight_ih_l{k}"), 0)
                | _nonzero_along(getattr(m, f"weight_hh_l{k}"), 0)
            )
            .reshape(g, h)
            .any(0)
        )
        zero = ~rows
        if m.bias:
            cand = 2  # the candidate: LSTM gates are i, f, g, o; GRU gates r, z, n
            for b in ("bias_ih", "bias_hh"):
                bias = getattr(m, f"{b}_l{k}").detach().cpu().reshape(g, h)
                zero &= bias[cand] == 0
        return zero

    def produces(self, m):
        return ~self._unit_zero(m, m.num_layers - 1)

    def slimmable(self, m):
        return m.batch_first and not m.bidirectional and not getattr(m, "proj_size", 0)

    def _layer_out_slices(self, m, k: int, u: int) -> list[Slice]:
        rows = self._rows(m, u)
        s = [Slice(f"weight_ih_l{k}", 0, rows), Slice(f"weight_hh_l{k}", 0, rows)]
        if m.bias:
            s += [Slice(f"bias_ih_l{k}", 0, rows), Slice(f"bias_hh_l{k}", 0, rows)]
        return s + [Slice(f"weight_hh_l{k}", 1, (u,))]  # its own recurrence reads it

    def out_slices(self, m, c):
        return self._layer_out_slices(m, m.num_layers - 1, c)

    def in_slices(self, m, j):
        return [Slice("weight_ih_l0", 1, (j,))]

    def internal_groups(self, m):
        return {
            f"l{k}": [
                self._layer_out_slices(m, k, u) + [Slice(f"weight_ih_l{k + 1}", 1, (u,))]
                for u in range(m.hidden_size)
            ]
            for k in range(m.num_layers - 1)
        }

    def macs(self, m, inputs, output):
        x = inputs[0]
        reps = x.shape[0] * x.shape[1]  # one matrix-vector product per weight per step
        ws = self.weights(m)
        return reps * sum(w.numel() for w in ws), reps * sum(int((w != 0).sum()) for w in ws)

    def inject(self, output, pairs, value):
        y, state = output
        y = y.clone()
        bs, cs = (torch.tensor(v) for v in zip(*pairs))
        y.movedim(-1, 1)[bs, cs] = value
        if state is not None:  # the final state of the last layer carries the units too
            states = state if isinstance(state, tuple) else (state,)
            new = []
            for s in states:
                s = s.clone()
                s[-1, bs, cs] = value
                new.append(s)
            state = tuple(new) if isinstance(state, tuple) else new[0]
        return y, state

    def plan(self, m, read_out: torch.Tensor) -> dict[str, Any]:
        """Which input features and hidden units are kept, in original indices, given which of
        the last layer's units later layers read: {"inputs", "units": per layer, "cols": per
        layer, the columns of W_ih_l{k} kept}. A unit goes when nobody reads it (its W_hh
        column and the next layer's W_ih column are zero, or later layers do not read it), or
        when its output is exactly zero (then whoever reads it reads zeros)."""
        layers = m.num_layers
        h, g = m.hidden_size, self.gates(m)
        read_by_next = read_out.cpu().clone()
        units: list[list[int]] = [[] for _ in range(layers)]
        read_ih: list[torch.Tensor] = [torch.ones(0)] * layers
        for k in reversed(range(layers)):
            w_hh = getattr(m, f"weight_hh_l{k}")
            alive = (_nonzero_along(w_hh, 1) | read_by_next) & ~self._unit_zero(m, k)
            units[k] = torch.nonzero(alive).flatten().tolist() or [0]
            rows = torch.tensor([gate * h + u for gate in range(g) for u in units[k]])
            w_ih = getattr(m, f"weight_ih_l{k}").detach().cpu()[rows]
            read_ih[k] = _nonzero_along(w_ih, 1)
            read_by_next = read_ih[k]
        inputs = torch.nonzero(read_by_next).flatten().tolist() or [0]
        # a kept unit of layer k-1 may still be unread by layer k (alive for its recurrence)
        cols = [inputs] + [
            [u for u in units[k - 1] if bool(read_ih[k][u])] or [units[k - 1][0]]
            for k in range(1, layers)
        ]
        return {"inputs": inputs, "units": units, "cols": cols}

    def slim(self, m, read_out):
        if not self.slimmable(m):
            return None
        plan = self.plan(m, read_out)
        units, cols = plan["units"], plan["cols"]
        h, g = m.hidden_size, self.gates(m)
        if len(plan["inputs"]) == m.input_size and all(len(u) == h for u in units):
            if all(len(c) == (m.input_size if k == 0 else h) for k, c in enumerate(cols)):
                return None
        # the columns as positions in the previous layer's (slimmed) output
        in_index = [plan["inputs"]] + [
            [units[k - 1].index(u) for u in cols[k]] for k in range(1, len(units))
        ]
        args = {
            "mode": m.mode.lower(),
            "in_width": m.input_size,
            "in_index": in_index,
            "hidden": [len(u) for u in units],
            "out_index": units[-1],
            "out_width": h,
        }
        new = SlimRNN(**args).to(m.weight_ih_l0.device)
        with torch.no_grad():
            for k, layer in enumerate(new.layers):
                rows = torch.tensor([gate * h + u for gate in range(g) for u in units[k]])
                layer.weight_ih_l0.copy_(getattr(m, f"weight_ih_l{k}")[rows][:, cols[k]])
                layer.weight_hh_l0.copy_(getattr(m, f"weight_hh_l{k}")[rows][:, units[k]])
                if m.bias:
                    layer.bias_ih_l0.copy_(getattr(m, f"bias_ih_l{k}")[rows])
                    layer.bias_hh_l0.copy_(getattr(m, f"bias_hh_l{k}")[rows])
                else:
                    layer.bias_ih_l0.zero_()
                    layer.bias_hh_l0.zero_()
        row = {
            "inputs": f"{m.input_size} -> {len(plan['inputs'])}",
            "outputs": "",
            "units": " / ".join(f"{h} -> {len(u)}" for u in units),
        }
        return new, args, row

    def check_slim(self, m, name, args):
        mode = {nn.LSTM: "lstm", nn.GRU: "gru"}.get(type(m))
        if mode is None or args.get("mode") != mode:
            raise SlimSpecError(f"slim spec: {name} is a {type(m).__name__}")
        hidden = args.get("hidden")
        if not (isinstance(hidden, list) and len(hidden) == m.num_layers):
            raise SlimSpecError(f"slim spec: {name} needs one width per layer")
        if not all(type(h) is int and 1 <= h <= m.hidden_size for h in hidden):
            raise SlimSpecError(f"slim spec: {name} widths exceed the model's")
        if args.get("in_width") != m.input_size or args.get("out_width") != m.hidden_size:
            raise SlimSpecError(f"slim spec: {name} input/output widths differ from the model")
        in_index = args.get("in_index")
        if not isinstance(in_index, list) or len(in_index) != len(hidden):
            raise SlimSpecError(f"slim spec: {name} needs one in_index per layer")
        for k, (idx, width) in enumerate(zip(in_index, [m.input_size, *hidden[:-1]])):
            _check_spec_index(idx, width, f"{name} in_index[{k}]")
        _check_spec_index(args.get("out_index"), m.hidden_size, f"{name} out_index", hidden[-1])

    # streaming (models/causal.py runs recurrent layers with explicit state)

    def has_cell(self, m) -> bool:
        """True for an LSTM: its state is (h, c); a GRU's is h alone."""
        return m.mode == "LSTM"

    def cell_loop_fits(self, m) -> bool:
        """An LSTM the matrix-product cell loop of models/causal.py (`lstm_cells`) computes:
        batch first, unidirectional, no projection, with biases."""
        return (
            self.has_cell(m)
            and m.batch_first
            and not m.bidirectional
            and m.proj_size == 0
            and m.bias
        )


# ----------------------------------------------------------------------------- normalisation


class NormHandler(LayerHandler):
    """BatchNorm / InstanceNorm: per channel, traced through like any element-wise operation."""

    is_layer = False


class BatchNormHandler(NormHandler):
    """BatchNorm: running statistics of the training batches (`train.recalibrate_batchnorm`
    re-estimates them)."""

    batch_statistics = True


class StatNormHandler(NormHandler):
    """LayerNorm / GroupNorm: the mean and variance read every normalised channel. The tracer
    runs them element-wise (statistics frozen) to see which channel reaches which reader, and
    records that the statistics read it: such a channel may only be removed where it is
    exactly zero (then the statistics see the same zero after slimming)."""

    mixes_channels = True


# ----------------------------------------------------------------------------- dispatch

HANDLERS: dict[type, LayerHandler] = {
    nn.modules.conv._ConvNd: ConvHandler(),
    nn.Linear: LinearHandler(),
    nn.LSTM: RNNHandler(),
    nn.GRU: RNNHandler(),
    nn.modules.batchnorm._BatchNorm: BatchNormHandler(),
    nn.modules.batchnorm._NormBase: NormHandler(),
    nn.LayerNorm: StatNormHandler(),
    nn.GroupNorm: StatNormHandler(),
}

# layers `secomp slim` may put in place of another (models/slimmed.py checks the spec with it)
REPLACEABLE = (nn.LSTM, nn.GRU, nn.Linear, nn.modules.conv._ConvNd, SlimRNN, SlimConv, SlimLinear)


def handler_for(module: nn.Module) -> LayerHandler | None:
    """The handler of `module`'s type (the nearest handled base class), or None."""
    for cls in type(module).__mro__:
        h = HANDLERS.get(cls)
        if h is not None:
            return h
    return None


def layer_handler(module: nn.Module) -> LayerHandler | None:
    """The handler of a layer with weights that is traced (conv, linear, RNN), or None."""
    h = handler_for(module)
    return h if h is not None and h.is_layer else None


def is_norm(module: nn.Module) -> bool:
    """Normalisation layers (their parameters are never prunable)."""
    h = handler_for(module)
    return h is not None and isinstance(h, NormHandler)


def is_replaceable(module: nn.Module) -> bool:
    return isinstance(module, REPLACEABLE)


def replace_module(model: nn.Module, name: str, new: nn.Module) -> None:
    """Put `new` where the recurrent, convolution or linear layer `name` (dotted module name)
    is."""
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    old = getattr(parent, attr, None)
    if old is None or not is_replaceable(old):
        raise ValueError(
            f"slim spec names {name}, which is not a recurrent, convolution or linear layer"
        )
    setattr(parent, attr, new)


def recurrent(module: nn.Module) -> RNNHandler | None:
    """The handler of a plain nn.LSTM / nn.GRU (not a slimmed stack), or None."""
    h = handler_for(module)
    return h if isinstance(h, RNNHandler) else None


def batch_norms(model: nn.Module) -> list[nn.Module]:
    """The BatchNorm layers of `model` (layers with running batch statistics), in order."""
    out = []
    for m in model.modules():
        h = handler_for(m)
        if h is not None and h.batch_statistics:
            out.append(m)
    return out


# slim spec entries name their kind; recurrent stacks have none (they have a "mode")
SPEC_KINDS: dict[str | None, LayerHandler] = {
    "conv": HANDLERS[nn.modules.conv._ConvNd],
    "linear": HANDLERS[nn.Linear],
}


def check_slim_entry(module: nn.Module, name: str, args: dict) -> None:
    """Raise SlimSpecError unless the slim spec entry `args` fits the un-slimmed `module`."""
    SPEC_KINDS.get(args.get("kind"), HANDLERS[nn.LSTM]).check_slim(module, name, args)


def layer_spans(module: nn.Module) -> tuple[int, ...]:
    """Kernel/stride/dilation/padding sizes of a convolution (empty for other modules)."""
    h = handler_for(module)
    return h.spans(module) if h is not None else ()
