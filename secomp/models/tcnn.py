"""TCNN (Pandey & Wang, ICASSP 2019): time-domain causal encoder - temporal convolutional
module - decoder, about 5.1 M parameters at the default size.

The waveform is cut into 20 ms frames (320 samples) every 10 ms: [B, 1, T, 320]. Encoder:
Conv2d kernel (2, 5) over (frames, samples), causal in time, first stride 1 then stride 2 along
samples: 320 -> 320 -> 159 -> 79 -> 39 -> 19 -> 9 -> 4, channels 16,16,32,32,64,64,64, BN +
PReLU. TCM: 3 x 6 residual blocks (1x1 conv 256 -> 512, causal depthwise conv kernel 3 with
dilation 1..32, 1x1 conv 512 -> 256, BN + PReLU). Decoder: transposed convs mirroring the
encoder with skip connections; output frames overlap-added back to a waveform.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import TimeModel
from .causal import State, cached_conv, cached_conv1d, cached_deconv
from .registry import register

FRAME = 320
HOP = 160


def frames_of(wave: torch.Tensor) -> torch.Tensor:
    """[B, N] -> [B, T, 320] with T = ceil(N / 160) + 1, zero-padded at both ends by one hop so
    every sample is covered by two frames. Built from reshapes (no unfold) so it exports to ONNX
    with a dynamic length."""
    n = wave.shape[-1]
    t = -(-n // HOP) + 1
    halves = F.pad(wave, (HOP, (t + 1) * HOP - n - HOP)).reshape(wave.shape[0], t + 1, HOP)
    return torch.cat([halves[:, :-1], halves[:, 1:]], -1)


def overlap_add(frames: torch.Tensor, n: int) -> torch.Tensor:
    """Inverse of `frames_of`: each sample is the mean of the two frames that cover it."""
    b = frames.shape[0]
    first = F.pad(frames[..., :HOP], (0, 0, 0, 1))
    second = F.pad(frames[..., HOP:], (0, 0, 1, 0))
    return (first + second).reshape(b, -1)[:, HOP : HOP + n] * 0.5


class TCMBlock(nn.Module):
    def __init__(self, channels: int, hidden: int, dilation: int, kernel: int = 3):
        super().__init__()
        self.pad = (kernel - 1) * dilation
        self.inp = nn.Conv1d(channels, hidden, 1)
        self.act1, self.norm1 = nn.PReLU(), nn.BatchNorm1d(hidden)
        self.dconv = nn.Conv1d(hidden, hidden, kernel, dilation=dilation, groups=hidden)
        self.act2, self.norm2 = nn.PReLU(), nn.BatchNorm1d(hidden)
        self.out = nn.Conv1d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm1(self.act1(self.inp(x)))
        y = self.norm2(self.act2(self.dconv(F.pad(y, (self.pad, 0)))))
        return x + self.out(y)

    def step(self, x: torch.Tensor, name: str, state: State | None, new: State) -> torch.Tensor:
        """`forward` on x [B, C, T] with the depthwise convolution's last `pad` input frames
        of the previous call (`state[name]`, [B, hidden, pad]) in place of the zero padding."""
        y = self.norm1(self.act1(self.inp(x)))
        y = self.norm2(self.act2(cached_conv1d(self.dconv, y, self.pad, name, state, new)))
        return x + self.out(y)


@register("tcnn")
class TCNN(TimeModel):
    def __init__(
        self,
        channels: tuple[int, ...] = (16, 16, 32, 32, 64, 64, 64),
        tcm_hidden: int = 512,
        tcm_repeats: int = 3,
        tcm_depth: int = 6,
    ):
        super().__init__()
        channels = tuple(channels)
        sizes = [FRAME]
        for k in range(len(channels)):
            sizes.append(sizes[-1] if k == 0 else (sizes[-1] + 2 - 5) // 2 + 1)
        cin = (1,) + channels[:-1]
        self.encoder = nn.ModuleList(
            nn.Conv2d(i, o, (2, 5), (1, 1 if k == 0 else 2), padding=(0, 2 if k == 0 else 1))
            for k, (i, o) in enumerate(zip(cin, channels))
        )
        self.enc_norm = nn.ModuleList(nn.BatchNorm2d(o) for o in channels)
        self.enc_act = nn.ModuleList(nn.PReLU() for _ in channels)
        feat = channels[-1] * sizes[-1]
        self.tcm = nn.Sequential(
            *(
                TCMBlock(feat, tcm_hidden, 2**d)
                for _ in range(tcm_repeats)
                for d in range(tcm_depth)
            )
        )
        dec_in = tuple(2 * c for c in reversed(channels))
        dec_out = tuple(reversed(cin))
        self.decoder = nn.ModuleList()
        for k, (i, o) in enumerate(zip(dec_in, dec_out)):
            layer = len(channels) - 1 - k  # mirrored encoder layer
            if layer == 0:
                self.decoder.append(nn.ConvTranspose2d(i, o, (2, 5), (1, 1), padding=(0, 2)))
            else:
                f_in, f_out = sizes[layer + 1], sizes[layer]
                pad = f_out - ((f_in - 1) * 2 - 2 + 5)
                self.decoder.append(
                    nn.ConvTranspose2d(
                        i, o, (2, 5), (1, 2), padding=(0, 1), output_padding=(0, pad)
                    )
                )
        self.dec_norm = nn.ModuleList(nn.BatchNorm2d(o) for o in dec_out[:-1])
        self.dec_act = nn.ModuleList(nn.PReLU() for _ in dec_out[:-1])

    def core(self, wave: torch.Tensor) -> torch.Tensor:
        n = wave.shape[-1]
        x = frames_of(wave).unsqueeze(1)  # [B, 1, T, 320]
        skips = []
        for conv, norm, act in zip(self.encoder, self.enc_norm, self.enc_act):
            x = act(norm(conv(F.pad(x, (0, 0, 1, 0)))))
            skips.append(x)
        b, c, t, f = x.shape
        h = self.tcm(x.permute(0, 1, 3, 2).reshape(b, c * f, t))
        x = h.reshape(b, c, f, t).permute(0, 1, 3, 2)
        last = len(self.decoder) - 1
        for k, deconv in enumerate(self.decoder):
            x = deconv(torch.cat([x, skips[last - k]], 1))[:, :, :-1]
            if k < last:
                x = self.dec_act[k](self.dec_norm[k](x))
        return overlap_add(x.squeeze(1), n)

    def stream_step(self, frames: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """Waveform frames [B, T, 320] (`frames_of`: frame t covers samples 160 t - 160 ..
        160 t + 160; any T >= 1) and the state after the frames before them (None: the first
        frames) -> output frames [B, T, 320] before `overlap_add`, new state. State:
        `encoder.k` / `decoder.k` the previous input frame of each convolution [B, C_in, 1, W],
        `tcm.k` the last 2 * dilation inputs of each block's depthwise convolution
        [B, hidden, 2 d] (models/causal.py)."""
        new: State = {}
        x = frames.unsqueeze(1)
        skips = []
        for k, (conv, norm, act) in enumerate(zip(self.encoder, self.enc_norm, self.enc_act)):
            x = act(norm(cached_conv(conv, x, f"encoder.{k}", state, new)))
            skips.append(x)
        b, c, t, f = x.shape
        h = x.permute(0, 1, 3, 2).reshape(b, c * f, t)
        for k, block in enumerate(self.tcm):
            h = block.step(h, f"tcm.{k}", state, new)
        x = h.reshape(b, c, f, t).permute(0, 1, 3, 2)
        last = len(self.decoder) - 1
        for k, deconv in enumerate(self.decoder):
            x = torch.cat([x, skips[last - k]], 1)
            x = cached_deconv(deconv, x, f"decoder.{k}", state, new)
            if k < last:
                x = self.dec_act[k](self.dec_norm[k](x))
        return x.squeeze(1), new
