"""GCRN (Tan & Wang, TASLP 2020): gated convolutional recurrent network for complex spectral
mapping, 9,771,340 parameters at the default size.

Input and output are the real and imaginary spectrograms as two channels. Encoder: gated conv
blocks, conv(x) * sigmoid(conv'(x)), kernel (1, 3), stride (1, 2), BN + ELU. Grouped LSTM: the
features are split into groups, each with its own LSTM, LayerNorm after each layer. Two decoders
(real, imaginary) of gated transposed convolutions with skip connections, each ending in a
Linear over frequency. Kernels are one frame wide in time, so only the LSTM sees the past, and
nothing sees the future.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..stft import N_BINS
from .base import ComplexModel
from .causal import State, rnn_step
from .crn import conv_freqs, output_padding
from .registry import register


class GatedConv(nn.Module):
    def __init__(self, cin: int, cout: int, transposed: bool = False, out_pad: int = 0):
        super().__init__()
        if transposed:

            def make():
                return nn.ConvTranspose2d(cin, cout, (1, 3), (1, 2), output_padding=(0, out_pad))
        else:

            def make():
                return nn.Conv2d(cin, cout, (1, 3), (1, 2))

        self.conv = make()
        self.gate = make()
        self.norm = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.elu(self.norm(self.conv(x) * torch.sigmoid(self.gate(x))))


class GroupedLSTM(nn.Module):
    """`layers` layers; in each, the feature vector is cut into `groups` equal parts, each run
    through its own LSTM, concatenated and layer-normalised."""

    def __init__(self, features: int, hidden: int, layers: int, groups: int):
        super().__init__()
        if features % groups or hidden % groups:
            raise ValueError("features and hidden must be divisible by groups")
        self.groups = groups
        self.lstms = nn.ModuleList()
        self.norms = nn.ModuleList()
        for k in range(layers):
            fin = features if k == 0 else hidden
            self.lstms.append(
                nn.ModuleList(
                    nn.LSTM(fin // groups, hidden // groups, batch_first=True)
                    for _ in range(groups)
                )
            )
            self.norms.append(nn.LayerNorm(hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for group_lstms, norm in zip(self.lstms, self.norms):
            parts = x.chunk(self.groups, -1)
            x = norm(torch.cat([lstm(p)[0] for lstm, p in zip(group_lstms, parts)], -1))
        return x

    def step(self, x: torch.Tensor, prefix: str, state: State | None, new: State) -> torch.Tensor:
        """`forward` on x [B, T, features] from the recurrent state `state` (None: zeros); the
        state after the last frame goes to `new`, named `{prefix}{layer}.{group}.h`/`.c`."""
        for k, (group_lstms, norm) in enumerate(zip(self.lstms, self.norms)):
            parts = x.chunk(self.groups, -1)
            outs = [
                rnn_step(lstm, p, f"{prefix}{k}.{g}.", state, new)
                for g, (lstm, p) in enumerate(zip(group_lstms, parts))
            ]
            x = norm(torch.cat(outs, -1))
        return x


@register("gcrn")
class GCRN(ComplexModel):
    def __init__(
        self,
        channels: tuple[int, ...] = (16, 32, 64, 128, 256),
        lstm_hidden: int = 1024,
        lstm_layers: int = 2,
        lstm_groups: int = 2,
        n_bins: int = N_BINS,
    ):
        super().__init__()
        channels = tuple(channels)
        freqs = conv_freqs(n_bins, len(channels))
        cin = (2,) + channels[:-1]
        self.encoder = nn.ModuleList(GatedConv(i, o) for i, o in zip(cin, channels))
        feat = channels[-1] * freqs[-1]
        self.glstm = GroupedLSTM(feat, lstm_hidden, lstm_layers, lstm_groups)
        self.proj = nn.Linear(lstm_hidden, feat) if lstm_hidden != feat else None
        dec_out = tuple(reversed(cin))[:-1] + (1,)
        dec_in = tuple(2 * c for c in reversed(channels))
        pads = [output_padding(freqs[k + 1], freqs[k]) for k in reversed(range(len(channels)))]

        def decoder() -> nn.ModuleList:
            return nn.ModuleList(
                GatedConv(i, o, transposed=True, out_pad=p)
                for i, o, p in zip(dec_in, dec_out, pads)
            )

        self.dec_real, self.dec_imag = decoder(), decoder()
        self.lin_real, self.lin_imag = nn.Linear(n_bins, n_bins), nn.Linear(n_bins, n_bins)

    def core(self, ri: torch.Tensor) -> torch.Tensor:
        return self._network(ri, self.glstm)

    def stream_step(self, ri: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """Frames [B, 2, T, 161] (any T >= 1) and the state after the frames before them (None:
        the first frames) -> (estimate [B, 2, T, 161], new state). The convolutions are one
        frame wide in time, so the state is the grouped LSTM's only: `glstm.{layer}.{group}.h`
        and `.c`, [1, B, hidden / groups] each (models/causal.py)."""
        new: State = {}
        out = self._network(ri, lambda seq: self.glstm.step(seq, "glstm.", state, new))
        return out, new

    def _network(self, ri: torch.Tensor, lstm) -> torch.Tensor:
        """Encoder, `lstm` over the flattened features [B, T, C * F], decoders: [B, 2, T, 161]."""
        x = ri
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
        b, c, t, f = x.shape
        h = lstm(x.permute(0, 2, 1, 3).reshape(b, t, c * f))
        if self.proj is not None:
            h = self.proj(h)
        h = h.reshape(b, t, c, f).permute(0, 2, 1, 3)
        outs = []
        for blocks, lin in ((self.dec_real, self.lin_real), (self.dec_imag, self.lin_imag)):
            y = h
            for k, block in enumerate(blocks):
                y = block(torch.cat([y, skips[len(blocks) - 1 - k]], 1))
            outs.append(lin(y.squeeze(1)))
        return torch.stack(outs, 1)
