"""The common STFT front end (method.md section 5): 16 kHz, 20 ms Hamming window (320 samples),
10 ms hop (160), 320-point FFT, 161 frequency bins.

Layout convention used by every spectral model: complex spectrum [batch, frames, bins].
Frame t covers samples [160 t - 160, 160 t + 160) (zero-padded at the edges), so it depends only
on the past and the current 10 ms.
"""

from __future__ import annotations

import torch

N_FFT = 320
HOP = 160
WIN = 320
N_BINS = N_FFT // 2 + 1


def _window(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return torch.hamming_window(WIN, periodic=True, device=device, dtype=dtype)


def stft(wave: torch.Tensor) -> torch.Tensor:
    """[B, N] float waveform -> [B, T, 161] complex spectrum, T = N // 160 + 1."""
    spec = torch.stft(
        wave.float(),
        N_FFT,
        HOP,
        WIN,
        window=_window(wave.device, torch.float32),
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    return spec.transpose(1, 2)


def istft(spec: torch.Tensor, length: int) -> torch.Tensor:
    """[B, T, 161] complex spectrum -> [B, length] waveform (weighted overlap-add)."""
    return torch.istft(
        spec.transpose(1, 2),
        N_FFT,
        HOP,
        WIN,
        window=_window(spec.device, torch.float32),
        center=True,
        length=length,
    )


def n_frames(n_samples: int) -> int:
    return n_samples // HOP + 1
