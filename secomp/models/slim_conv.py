"""The layer a convolution becomes when `secomp slim` drops the input channels it never reads
(every kernel of that input channel is zero after structured pruning):

    x[:, in_index] -> the same convolution with len(in_index) input channels

The dropped channels contributed exact zeros, so the output is the original one up to float
summation order. Works for Conv1d/2d and ConvTranspose1d/2d without groups.
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
    if isinstance(conv, nn.modules.conv._ConvTransposeNd):
        args["output_padding"] = list(conv.output_padding)
    return args


class SlimConv(nn.Module):
    def __init__(self, type: str, in_width: int, in_index: list[int], args: dict):
        super().__init__()
        if type not in CONV_TYPES:
            raise ValueError(f"slim spec: unknown convolution type {type}")
        if not in_index or max(in_index) >= in_width or min(in_index) < 0:
            raise ValueError("slim spec: in_index must name input channels of the layer")
        self.conv = CONV_TYPES[type](len(in_index), **args)
        self.register_buffer("in_index", torch.tensor(in_index, dtype=torch.long), False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.index_select(1, self.in_index))
