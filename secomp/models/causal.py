"""Building blocks for running the causal models a few frames at a time with explicit state.

Each model's `stream_step(x, state)` (lstm.py, crn.py, gcrn.py, tcnn.py) takes the next T >= 1
frames in its `core` layout and the state after the frames before them, and returns the output
frames and the new state; fed an utterance in chunks of any length it gives what `core` gives on
the whole utterance. State is a flat dict name -> tensor (so it maps one to one onto the inputs
and outputs of a streaming ONNX graph); `state=None` means the state before the first frame
(zeros, shaped on first use), which `initial_state` materialises.

The helpers call convolution and recurrent layers as black boxes with extra cached input, so
they work unchanged on the narrower layers `secomp slim` puts in their place (SlimConv,
SlimRNN): only the shapes of the cached tensors change.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from ..structure.layers import recurrent

State = dict[str, torch.Tensor]


class Streamable(Protocol):
    def stream_step(self, x: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]: ...


def cached_conv(
    conv: nn.Module, x: torch.Tensor, name: str, state: State | None, new: State, frames: int = 1
) -> torch.Tensor:
    """A convolution over [B, C, T, ...] whose offline form pads `frames` zero frames in front
    of the time axis (dim 2): here the last `frames` input frames of the previous call take the
    place of the zeros. The new cache goes to `new[name]`."""
    cache = x.new_zeros(x.shape[:2] + (frames,) + x.shape[3:]) if state is None else state[name]
    full = torch.cat([cache, x], 2)
    new[name] = full[:, :, -frames:]
    return conv(full)


def cached_deconv(
    deconv: nn.Module, x: torch.Tensor, name: str, state: State | None, new: State
) -> torch.Tensor:
    """A transposed convolution with a time kernel of 2 whose offline form drops the last output
    frame (out[t] = W0 x[t] + W1 x[t-1]): the previous call's last input frame is put in front
    and the first and last output frames are dropped."""
    cache = x.new_zeros(x.shape[:2] + (1,) + x.shape[3:]) if state is None else state[name]
    full = torch.cat([cache, x], 2)
    new[name] = full[:, :, -1:]
    return deconv(full)[:, :, 1:-1]


def cached_conv1d(
    conv: nn.Module, x: torch.Tensor, pad: int, name: str, state: State | None, new: State
) -> torch.Tensor:
    """As `cached_conv` for [B, C, T] inputs (time last), with `pad` cached frames."""
    cache = x.new_zeros(x.shape[:2] + (pad,)) if state is None else state[name]
    full = torch.cat([cache, x], -1)
    new[name] = full[..., -pad:]
    return conv(full)


def rnn_step(
    rnn: nn.Module, x: torch.Tensor, prefix: str, state: State | None, new: State
) -> torch.Tensor:
    """Run a batch-first nn.LSTM / nn.GRU or a slimmed stack (SlimRNN: a list of single-layer
    RNNs with index gathers) on x [B, T, F] from the state `state[prefix + ...]`; the state after
    the last frame goes to `new`. Names: nn.LSTM `h`, `c` ([layers, B, hidden]); nn.GRU `h`;
    SlimRNN `h0`, `c0`, `h1`, ... one per layer ([1, B, hidden_k])."""
    if recurrent(rnn) is not None:
        return _single_rnn(rnn, x, prefix, "", state, new)
    layers = getattr(rnn, "layers", None)
    if not isinstance(layers, nn.ModuleList):
        raise TypeError(f"{type(rnn).__name__}: not a recurrent layer secomp can stream")
    # Mirrors SlimRNN.forward (structure/slim_rnn.py) with the state passed through.
    for k, layer in enumerate(layers):
        if rnn.gathers[k]:
            x = x.index_select(-1, getattr(rnn, f"in_index_{k}"))
        x = _single_rnn(layer, x, prefix, str(k), state, new)
    if rnn.scatter:
        x = torch.cat([x, x.new_zeros(*x.shape[:-1], 1)], -1).index_select(-1, rnn.out_gather)
    return x


def _single_rnn(
    rnn: nn.Module, x: torch.Tensor, prefix: str, suffix: str, state: State | None, new: State
) -> torch.Tensor:
    h_name, c_name = f"{prefix}h{suffix}", f"{prefix}c{suffix}"
    handler = recurrent(rnn)
    cell = handler is not None and handler.has_cell(rnn)  # an LSTM: state (h, c)
    if state is None:
        shape = (rnn.num_layers, x.shape[0], rnn.hidden_size)
        h = x.new_zeros(shape)
        hx = (h, h.clone()) if cell else h
    else:
        hx = (state[h_name], state[c_name]) if cell else state[h_name]
    if cell and not torch.jit.is_tracing() and handler.cell_loop_fits(rnn):
        y, hx = lstm_cells(rnn, x, hx)
    else:  # the fused op: what an ONNX export traces into one LSTM node
        y, hx = rnn(x, hx)
    if cell:
        new[h_name], new[c_name] = hx
    else:
        new[h_name] = hx
    return y


def lstm_cells(
    lstm: nn.LSTM, x: torch.Tensor, hx: tuple[torch.Tensor, torch.Tensor]
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """nn.LSTM's function (batch first, x [B, T, F], h and c [layers, B, H]) from matrix
    products and the cell equations. On the CPU the fused op re-lays out its weights on every
    call, which costs far more than the arithmetic when a call is one frame (measured: 31 ms vs
    4.6 ms per frame for 2 x 1024 units, one thread); this path has no per-call weight cost.
    Equal to the fused op to float rounding."""
    h0, c0 = hx
    hs, cs = [], []
    for k in range(lstm.num_layers):
        w_hh = getattr(lstm, f"weight_hh_l{k}")
        bias = getattr(lstm, f"bias_ih_l{k}") + getattr(lstm, f"bias_hh_l{k}")
        inp = torch.nn.functional.linear(x, getattr(lstm, f"weight_ih_l{k}"), bias)
        h, c = h0[k], c0[k]
        outs = []
        for t in range(x.shape[1]):
            i, f, g, o = (inp[:, t] + h @ w_hh.t()).chunk(4, -1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outs.append(h)
        hs.append(h)
        cs.append(c)
        x = torch.stack(outs, 1)
    return x, (torch.stack(hs), torch.stack(cs))


def initial_state(model: Streamable, example: torch.Tensor) -> State:
    """The zero state before the first frame, shaped for `example` (one frame, batch B, in the
    model's stream layout): obtained by one step from `state=None`, then zeroed."""
    with torch.inference_mode():
        _, state = model.stream_step(example, None)
    return {k: torch.zeros_like(v) for k, v in state.items()}
