"""The layer a convolution becomes when `secomp slim` drops the input channels it never reads
(every kernel of that input channel is zero after structured pruning) and, where the model's
reader map says so, the output channels nobody reads:

    x[:, in_index] -> the same convolution with len(in_index) inputs and len(out_index) outputs
                   -> placed back at out_index in a zero tensor of the original output width

Dropped inputs contributed exact zeros, so kept outputs equal the original ones up to float
summation order. Dropped outputs become zeros; that is exact only because no later layer
reads them, or because they are exactly zero anyway (secomp/structure/slim.py decides which).
Works for Conv1d/2d and ConvTranspose1d/2d without groups. `SlimLinear` does the same for a
Linear layer on the last axis.
"""

from __future__ import annotations

import torch
from torch import nn

CONV_TYPES: dict[str, type[nn.Module]] = {
    "Conv1d": nn.Conv1d,
    "Conv2d": nn.Conv2d,
    "ConvTranspose1d": nn.ConvTranspose1d,
    "ConvTranspose2d": nn.ConvTranspose2d,
}
CONV_ARGS = ("out_channels", "kernel_size", "stride", "padding", "dilation")


def conv_args(conv: nn.Module) -> dict:
    """What rebuilds `conv` with another number of input channels (JSON-friendly)."""
    args = {
        k: list(v) if isinstance(v, tuple) else v
        for k, v in ((k, getattr(conv, k)) for k in CONV_ARGS)
    }
    args["bias"] = conv.bias is not None
    if conv.transposed:
        args["output_padding"] = list(conv.output_padding)
    return args


def _check_index(index: list[int], width: int, what: str) -> None:
    if not index or max(index) >= width or min(index) < 0 or len(set(index)) != len(index):
        raise ValueError(f"slim spec: {what} must name distinct channels of the layer")


class SlimConv(nn.Module):
    def __init__(
        self,
        type: str,
        in_width: int,
        in_index: list[int],
        args: dict,
        out_index: list[int] | None = None,
    ):
        super().__init__()
        if type not in CONV_TYPES:
            raise ValueError(f"slim spec: unknown convolution type {type}")
        _check_index(in_index, in_width, "in_index")
        out_width = int(args["out_channels"])
        if out_index is not None:
            _check_index(out_index, out_width, "out_index")
            args = {**args, "out_channels": len(out_index)}
            # position of each original output channel in cat([y, zeros]): dropped ones read
            # the appended zero channel (a gather, which ONNX exports as one Gather node)
            pos = torch.full((out_width,), len(out_index), dtype=torch.long)
            pos[torch.tensor(out_index)] = torch.arange(len(out_index))
            self.register_buffer("out_pos", pos, False)
        else:
            self.out_pos = None
        self.conv = CONV_TYPES[type](len(in_index), **args)
        self.register_buffer("in_index", torch.tensor(in_index, dtype=torch.long), False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x.index_select(1, self.in_index))
        if self.out_pos is None:
            return y
        zero = y.new_zeros((y.shape[0], 1) + tuple(y.shape[2:]))
        return torch.cat([y, zero], 1).index_select(1, self.out_pos)


class SlimLinear(nn.Module):
    """A Linear layer reading the features `in_index` of its input (the others have zero
    weights) and computing the outputs `out_index` (the others are zeros that nobody reads or
    that were zero anyway), on the last axis: [..., in_width] -> [..., out_width]."""

    def __init__(
        self,
        in_width: int,
        in_index: list[int],
        out_width: int,
        bias: bool = True,
        out_index: list[int] | None = None,
    ):
        super().__init__()
        _check_index(in_index, in_width, "in_index")
        n_out = out_width
        if out_index is not None:
            _check_index(out_index, out_width, "out_index")
            n_out = len(out_index)
            pos = torch.full((out_width,), n_out, dtype=torch.long)
            pos[torch.tensor(out_index)] = torch.arange(n_out)
            self.register_buffer("out_pos", pos, False)
        else:
            self.out_pos = None
        self.linear = nn.Linear(len(in_index), n_out, bias=bias)
        self.register_buffer("in_index", torch.tensor(in_index, dtype=torch.long), False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x.index_select(-1, self.in_index))
        if self.out_pos is None:
            return y
        zero = y.new_zeros(tuple(y.shape[:-1]) + (1,))
        return torch.cat([y, zero], -1).index_select(-1, self.out_pos)
