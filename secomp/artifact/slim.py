"""Structured slimming: turn the zero groups that structured pruning left into a smaller dense
model that computes the same function.

What is removed (exactly, so the slimmed model matches the masked one up to float rounding):
- an input feature of a recurrent stack whose W_ih column is zero in every gate (it is never
  read): the stack gathers only the features it reads;
- a hidden unit that nobody reads: its W_hh column is zero in every gate (no unit of its layer
  reads it) and the next layer's W_ih column, or for the last layer the consumer's weights,
  are zero too. Its gate rows go, and the next layer loses the column.

Who reads a stack's output is model knowledge, kept here per architecture (`OUTPUT_READERS`):
CRN's first decoder layer (through the reshape to channels x frequency), the LSTM model's output
layer. GCRN's grouped LSTMs feed LayerNorms, whose mean and variance read every unit, so only
their input features are slimmed. Hidden units of the last layer of other models are all kept.

- an input channel of a convolution (Conv1d/2d, ConvTranspose1d/2d, no groups) whose kernels
  are all zero: the layer gathers only the channels it reads (models/slim_conv.py). This is
  local to the layer, so it is exact whatever produces the channel.

Not removed: a convolution's output channel. With C2's kernel groups whole output channels
rarely die (none in the CRN-C2 convolutions; only GCRN gate channels, which still emit
sigmoid(bias)), and a channel whose weights are zero still emits a constant (bias, BN,
activation) that its consumers would have to absorb, which causal zero padding makes inexact.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..models.slim_conv import SlimConv, conv_args
from ..models.slim_rnn import SlimRNN
from ..models.slimmed import replace_module, slim_layer


class SlimError(ValueError):
    """A model secomp cannot slim; the message says why."""


def _crn_readers(model: nn.Module) -> dict[str, torch.Tensor | None]:
    if model.proj is not None:
        return {"lstm": model.proj.weight.abs().sum(0) != 0}
    w = model.decoder[0].weight  # ConvTranspose2d [in, out, kt, kf]; inputs = [lstm, skip]
    channels = w.shape[0] // 2
    freqs = model.lstm.hidden_size // channels
    per_channel = w[:channels].abs().sum((1, 2, 3)) != 0
    return {"lstm": per_channel.repeat_interleave(freqs)}


def _lstm_readers(model: nn.Module) -> dict[str, torch.Tensor | None]:
    return {"lstm": model.out.weight.abs().sum(0) != 0}


def _gcrn_readers(model: nn.Module) -> dict[str, torch.Tensor | None]:
    return {
        name: None
        for name, m in model.named_modules()
        if isinstance(m, nn.LSTM) and name.startswith("glstm.")
    }


# arch -> recurrent stacks that may be slimmed, and which of their output features are read
# (None: all). Only stacks whose output is used as `rnn(x)[0]` from a zero state may be listed.
OUTPUT_READERS: dict[str, Callable[[nn.Module], dict[str, torch.Tensor | None]]] = {
    "crn": _crn_readers,
    "lstm": _lstm_readers,
    "gcrn": _gcrn_readers,
}


def _nonzero_columns(w: torch.Tensor) -> torch.Tensor:
    return w.detach().abs().sum(0) != 0


def rnn_slim_plan(rnn: nn.LSTM | nn.GRU, read: torch.Tensor | None) -> dict[str, Any]:
    """Which input features and hidden units of `rnn` are kept, in original indices, given
    which output features are read: {"inputs": [...], "units": [[...] per layer],
    "cols": [[...] per layer]}, cols[k] being the columns layer k's W_ih keeps."""
    if not rnn.batch_first or rnn.bidirectional or getattr(rnn, "proj_size", 0):
        raise SlimError("only batch-first, unidirectional LSTM/GRU without projection")
    layers, hidden = rnn.num_layers, rnn.hidden_size
    w_ih = [getattr(rnn, f"weight_ih_l{k}") for k in range(layers)]
    w_hh = [getattr(rnn, f"weight_hh_l{k}") for k in range(layers)]
    read_by_next = torch.ones(hidden, dtype=torch.bool) if read is None else read.cpu()
    units: list[list[int]] = [[] for _ in range(layers)]
    read_ih = [_nonzero_columns(w).cpu() for w in w_ih]
    for k in reversed(range(layers)):
        alive = _nonzero_columns(w_hh[k]).cpu() | read_by_next
        units[k] = torch.nonzero(alive).flatten().tolist() or [0]
        read_by_next = read_ih[k]
    inputs = torch.nonzero(read_by_next).flatten().tolist() or [0]
    # a kept unit of layer k-1 may still be unread by layer k (alive only for its recurrence)
    cols = [inputs] + [
        [u for u in units[k - 1] if bool(read_ih[k][u])] or [units[k - 1][0]]
        for k in range(1, layers)
    ]
    return {"inputs": inputs, "units": units, "cols": cols}


def _slim_rnn(rnn: nn.LSTM | nn.GRU, plan: dict[str, Any]) -> tuple[SlimRNN, dict[str, Any]]:
    mode = "lstm" if isinstance(rnn, nn.LSTM) else "gru"
    gates = 4 if mode == "lstm" else 3
    hidden = rnn.hidden_size
    units, cols = plan["units"], plan["cols"]
    # the columns as positions in the previous layer's (slimmed) output
    in_index = [plan["inputs"]] + [
        [units[k - 1].index(u) for u in cols[k]] for k in range(1, len(units))
    ]
    args = {
        "mode": mode,
        "in_width": rnn.input_size,
        "in_index": in_index,
        "hidden": [len(u) for u in units],
        "out_index": units[-1],
        "out_width": hidden,
    }
    slim = SlimRNN(**args).to(rnn.weight_ih_l0.device)
    with torch.no_grad():
        for k, layer in enumerate(slim.layers):
            rows = torch.tensor([g * hidden + u for g in range(gates) for u in units[k]])
            w_ih = getattr(rnn, f"weight_ih_l{k}")[rows][:, cols[k]]
            w_hh = getattr(rnn, f"weight_hh_l{k}")[rows][:, units[k]]
            layer.weight_ih_l0.copy_(w_ih)
            layer.weight_hh_l0.copy_(w_hh)
            if rnn.bias:
                layer.bias_ih_l0.copy_(getattr(rnn, f"bias_ih_l{k}")[rows])
                layer.bias_hh_l0.copy_(getattr(rnn, f"bias_hh_l{k}")[rows])
            else:
                layer.bias_ih_l0.zero_()
                layer.bias_hh_l0.zero_()
    return slim, args


def _in_dim(conv: nn.Module) -> int:
    """The weight dimension of input channels: Conv [out, in, *k], ConvTranspose [in, out, *k]."""
    return 0 if isinstance(conv, nn.modules.conv._ConvTransposeNd) else 1


def conv_slim_plan(conv: nn.Module) -> list[int] | None:
    """The input channels `conv` reads (some kernel non-zero), or None when it reads all of
    them or cannot be slimmed (groups, non-zero padding modes)."""
    if conv.groups != 1 or conv.padding_mode != "zeros":
        return None
    per_in = conv.weight.detach().abs().transpose(0, _in_dim(conv)).flatten(1).sum(1) != 0
    if bool(per_in.all()):
        return None
    return torch.nonzero(per_in).flatten().tolist() or [0]


def _slim_conv(conv: nn.Module, keep: list[int]) -> tuple[SlimConv, dict[str, Any]]:
    in_dim = _in_dim(conv)
    args = {
        "kind": "conv",
        "type": type(conv).__name__,
        "in_width": conv.weight.shape[in_dim],
        "in_index": keep,
        "args": conv_args(conv),
    }
    slim = slim_layer(args).to(conv.weight.device)
    with torch.no_grad():
        slim.conv.weight.copy_(conv.weight.index_select(in_dim, slim.in_index))
        if conv.bias is not None:
            slim.conv.bias.copy_(conv.bias)
    return slim, args


def slim_model(model: nn.Module) -> tuple[nn.Module, list[dict[str, Any]]]:
    """A slimmed copy of `model` and one row per slimmed layer (name, widths before/after).
    The copy's config (`model_config`) carries the slim spec, so it saves and loads like any
    model (`save_model`, `save_artifact`). Recurrent stacks are slimmed for the architectures
    in OUTPUT_READERS, convolution inputs for every model."""
    if getattr(model, "slim", None):
        raise SlimError("this model is already slimmed")
    out = copy.deepcopy(model)
    spec: dict[str, dict] = {}
    rows = []
    readers = OUTPUT_READERS.get(getattr(model, "arch", None), lambda m: {})
    for name, read in readers(out).items():
        rnn = out.get_submodule(name)
        plan = rnn_slim_plan(rnn, read)
        slim, args = _slim_rnn(rnn, plan)
        spec[name] = args
        rows.append(
            {
                "name": name,
                "inputs": f"{rnn.input_size} -> {len(plan['inputs'])}",
                "units": " / ".join(f"{rnn.hidden_size} -> {len(u)}" for u in plan["units"]),
            }
        )
        replace_module(out, name, slim)
    convs = [(n, m) for n, m in out.named_modules() if isinstance(m, nn.modules.conv._ConvNd)]
    for name, conv in convs:
        keep = conv_slim_plan(conv)
        if keep is None:
            continue
        slim, args = _slim_conv(conv, keep)
        spec[name] = args
        rows.append({"name": name, "inputs": f"{args['in_width']} -> {len(keep)}", "units": ""})
        replace_module(out, name, slim)
    if not spec:
        raise SlimError("nothing to remove: no recurrent unit or convolution input is all zero")
    out.slim = spec
    return out.eval(), rows
