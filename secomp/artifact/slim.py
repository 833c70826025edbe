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
- an output channel of a convolution that no later layer reads: every consumer's kernels for
  that channel are zero (the next convolution, the skip connection into the decoder, or the
  recurrent stack's input columns). The layer computes only the read channels and puts zeros
  in the others; whatever follows (BatchNorm, gate, activation) then works on values nobody
  reads. Who reads which convolution's output is model knowledge, kept per architecture
  (`CHANNEL_READERS`, CRN and GCRN). A channel that is read but whose own weights are zero
  still emits a constant (bias, BN, activation) and is kept.
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


def _reads_inputs(conv: nn.Module) -> torch.Tensor:
    """Which input channels of `conv` some kernel reads (non-zero), on the CPU."""
    return conv.weight.detach().abs().transpose(0, _in_dim(conv)).flatten(1).sum(1).cpu() != 0


def _reads_features_per_channel(w_ih: torch.Tensor, channels: int) -> torch.Tensor:
    """Which of `channels` channels a recurrent layer reads, its input being the channels x
    frequency reshape of a convolution output (feature = channel * freqs + freq)."""
    read = _nonzero_columns(w_ih).cpu()
    return read.reshape(channels, -1).any(1)


def _encoder_decoder_reads(
    encoder: nn.ModuleList,
    decoders: dict[str, nn.ModuleList],
    block_reads: Callable[[nn.Module], torch.Tensor],
    width: Callable[[nn.Module], int],
    rnn_w_ih: torch.Tensor,
) -> tuple[list[torch.Tensor], dict[str, list[torch.Tensor]]]:
    """Which output channels of each encoder and decoder block later layers read, for the shape
    CRN and GCRN share: encoder block k feeds encoder block k+1 (the last one the recurrent
    stack, through the channels x frequency reshape) and, as the skip connection, the second
    part of the input of block n-1-k of every decoder; decoder block k feeds the first part of
    its block k+1 (the last decoder block's output is the model's and is always read)."""
    n = len(encoder)
    enc = []
    for k in range(n):
        c = width(encoder[k])
        read = torch.zeros(c, dtype=torch.bool)
        for dec in decoders.values():
            read |= block_reads(dec[n - 1 - k])[-c:]
        if k + 1 < n:
            read |= block_reads(encoder[k + 1])
        else:
            read |= _reads_features_per_channel(rnn_w_ih, c)
        enc.append(read)
    dec_reads = {
        name: [block_reads(dec[k + 1])[: width(dec[k])] for k in range(n - 1)]
        for name, dec in decoders.items()
    }
    return enc, dec_reads


def _crn_channel_readers(model: nn.Module) -> dict[str, torch.Tensor]:
    enc, dec = _encoder_decoder_reads(
        model.encoder,
        {"decoder": model.decoder},
        _reads_inputs,
        lambda conv: conv.out_channels,
        model.lstm.weight_ih_l0,
    )
    out = {f"encoder.{k}": read for k, read in enumerate(enc)}
    out.update({f"decoder.{k}": read for k, read in enumerate(dec["decoder"])})
    return out


def _gcrn_channel_readers(model: nn.Module) -> dict[str, torch.Tensor]:
    """Gated blocks: a block's conv and gate make the same channels, so both read what either
    reads and both drop what nobody reads. The grouped LSTM's first layer reads the
    concatenation of its groups' inputs."""

    def block_reads(block: nn.Module) -> torch.Tensor:
        return _reads_inputs(block.conv) | _reads_inputs(block.gate)

    enc, dec = _encoder_decoder_reads(
        model.encoder,
        {"dec_real": model.dec_real, "dec_imag": model.dec_imag},
        block_reads,
        lambda block: block.conv.out_channels,
        torch.cat([g.weight_ih_l0 for g in model.glstm.lstms[0]], 1),
    )
    blocks = [(f"encoder.{k}", read) for k, read in enumerate(enc)] + [
        (f"{name}.{k}", read) for name, reads in dec.items() for k, read in enumerate(reads)
    ]
    return {f"{block}.{part}": read for block, read in blocks for part in ("conv", "gate")}


# arch -> which output channels of which convolutions later layers read (the rest may go)
CHANNEL_READERS: dict[str, Callable[[nn.Module], dict[str, torch.Tensor]]] = {
    "crn": _crn_channel_readers,
    "gcrn": _gcrn_channel_readers,
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


def conv_slim_plan(
    conv: nn.Module, read: torch.Tensor | None = None
) -> tuple[list[int], list[int] | None] | None:
    """(input channels `conv` reads, output channels to compute or None for all), given which
    output channels later layers `read`; None when nothing can go or the layer cannot be
    slimmed (groups, non-zero padding modes)."""
    if conv.groups != 1 or conv.padding_mode != "zeros":
        return None
    per_in = _reads_inputs(conv)
    outs = None
    if read is not None and not bool(read.all()):
        outs = torch.nonzero(read).flatten().tolist() or [0]
    if bool(per_in.all()) and outs is None:
        return None
    return torch.nonzero(per_in).flatten().tolist() or [0], outs


def _slim_conv(
    conv: nn.Module, keep: list[int], outs: list[int] | None
) -> tuple[SlimConv, dict[str, Any]]:
    in_dim = _in_dim(conv)
    out_dim = 1 - in_dim
    args: dict[str, Any] = {
        "kind": "conv",
        "type": type(conv).__name__,
        "in_width": conv.weight.shape[in_dim],
        "in_index": keep,
        "args": conv_args(conv),
    }
    if outs is not None:
        args["out_index"] = outs
    slim = slim_layer(args).to(conv.weight.device)
    out_index = torch.tensor(outs if outs is not None else range(conv.out_channels))
    with torch.no_grad():
        w = conv.weight.index_select(in_dim, slim.in_index.to(conv.weight.device))
        slim.conv.weight.copy_(w.index_select(out_dim, out_index.to(w.device)))
        if conv.bias is not None:
            slim.conv.bias.copy_(conv.bias[out_index.to(conv.bias.device)])
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
    arch = getattr(model, "arch", None)
    # from the unslimmed weights: which convolution outputs later layers read
    channel_reads = CHANNEL_READERS.get(arch, lambda m: {})(out)
    readers = OUTPUT_READERS.get(arch, lambda m: {})
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
        plan = conv_slim_plan(conv, channel_reads.get(name))
        if plan is None:
            continue
        keep, outs = plan
        slim, args = _slim_conv(conv, keep, outs)
        spec[name] = args
        rows.append(
            {
                "name": name,
                "inputs": f"{args['in_width']} -> {len(keep)}",
                "outputs": f"{conv.out_channels} -> {len(outs)}" if outs is not None else "",
                "units": "",
            }
        )
        replace_module(out, name, slim)
    if not spec:
        raise SlimError(
            "nothing to remove: no recurrent unit or convolution channel is unread or all zero"
        )
    out.slim = spec
    return out.eval(), rows
