"""CRN (Tan & Wang, Interspeech 2018): causal convolutional recurrent network for magnitude
mapping, 17,579,459 parameters at the default size.

Encoder: Conv2d kernel (2, 3) over (time, frequency), stride (1, 2), causal in time (one frame
padded in front), BatchNorm + ELU; frequency 161 -> 80 -> 39 -> 19 -> 9 -> 4. A stack of LSTMs
on the flattened channels x frequency. Decoder: ConvTranspose2d mirroring the encoder, each fed
the concatenation of the previous output and the matching encoder output (skip connection), the
extra output frame of the time kernel dropped to stay causal; BN + ELU, Softplus at the end.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..stft import N_BINS
from .base import MagnitudeModel
from .causal import State, cached_conv, cached_deconv, rnn_step
from .registry import register


def conv_freqs(n_bins: int, n_layers: int, kernel: int = 3, stride: int = 2) -> list[int]:
    """Frequency sizes along an encoder of stride-2 convolutions without frequency padding."""
    f = [n_bins]
    for _ in range(n_layers):
        f.append((f[-1] - kernel) // stride + 1)
    return f


def output_padding(f_in: int, f_out: int, kernel: int = 3, stride: int = 2) -> int:
    """The ConvTranspose output_padding that maps f_in back to exactly f_out."""
    pad = f_out - ((f_in - 1) * stride + kernel)
    if not 0 <= pad < stride:
        raise ValueError(f"cannot map {f_in} to {f_out} bins with stride {stride}")
    return pad


@register("crn")
class CRN(MagnitudeModel):
    def __init__(
        self,
        channels: tuple[int, ...] = (16, 32, 64, 128, 256),
        lstm_hidden: int = 1024,
        lstm_layers: int = 2,
        n_bins: int = N_BINS,
    ):
        super().__init__()
        channels = tuple(channels)
        freqs = conv_freqs(n_bins, len(channels))
        cin = (1,) + channels[:-1]
        self.encoder = nn.ModuleList(nn.Conv2d(i, o, (2, 3), (1, 2)) for i, o in zip(cin, channels))
        self.enc_norm = nn.ModuleList(nn.BatchNorm2d(o) for o in channels)
        feat = channels[-1] * freqs[-1]
        self.lstm = nn.LSTM(feat, lstm_hidden, lstm_layers, batch_first=True)
        self.proj = nn.Linear(lstm_hidden, feat) if lstm_hidden != feat else None
        dec_out = tuple(reversed(cin))
        dec_in = tuple(2 * c for c in reversed(channels))
        pads = [output_padding(freqs[k + 1], freqs[k]) for k in reversed(range(len(channels)))]
        self.decoder = nn.ModuleList(
            nn.ConvTranspose2d(i, o, (2, 3), (1, 2), output_padding=(0, p))
            for i, o, p in zip(dec_in, dec_out, pads)
        )
        self.dec_norm = nn.ModuleList(nn.BatchNorm2d(o) for o in dec_out)

    def core(self, mag: torch.Tensor) -> torch.Tensor:
        x = mag.unsqueeze(1)  # [B, 1, T, F]
        skips = []
        for conv, norm in zip(self.encoder, self.enc_norm):
            x = F.elu(norm(conv(F.pad(x, (0, 0, 1, 0)))))
            skips.append(x)
        b, c, t, f = x.shape
        h, _ = self.lstm(x.permute(0, 2, 1, 3).reshape(b, t, c * f))
        if self.proj is not None:
            h = self.proj(h)
        x = h.reshape(b, t, c, f).permute(0, 2, 1, 3)
        last = len(self.decoder) - 1
        for k, (deconv, norm) in enumerate(zip(self.decoder, self.dec_norm)):
            x = norm(deconv(torch.cat([x, skips[last - k]], 1))[:, :, :-1])
            x = F.softplus(x) if k == last else F.elu(x)
        return x.squeeze(1)

    def stream_step(self, mag: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """Frames [B, T, 161] (any T >= 1) and the state after the frames before them (None:
        the first frames) -> (estimate [B, T, 161], new state), what `core` gives on the whole
        input. State: `encoder.k` / `decoder.k` the previous input frame of each convolution
        [B, C_in, 1, F_in], `lstm.h`, `lstm.c` [layers, B, hidden] (models/causal.py)."""
        new: State = {}
        x = mag.unsqueeze(1)
        skips = []
        for k, (conv, norm) in enumerate(zip(self.encoder, self.enc_norm)):
            x = F.elu(norm(cached_conv(conv, x, f"encoder.{k}", state, new)))
            skips.append(x)
        b, c, t, f = x.shape
        h = rnn_step(self.lstm, x.permute(0, 2, 1, 3).reshape(b, t, c * f), "lstm.", state, new)
        if self.proj is not None:
            h = self.proj(h)
        x = h.reshape(b, t, c, f).permute(0, 2, 1, 3)
        last = len(self.decoder) - 1
        for k, (deconv, norm) in enumerate(zip(self.decoder, self.dec_norm)):
            x = torch.cat([x, skips[last - k]], 1)
            x = norm(cached_deconv(deconv, x, f"decoder.{k}", state, new))
            x = F.softplus(x) if k == last else F.elu(x)
        return x.squeeze(1), new
