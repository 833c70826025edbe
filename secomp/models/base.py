"""The three signal domains the four paper models work in. A model subclasses one of these and
implements `core`; forward (waveform in, waveform out) and the training loss come with it."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import complex_mse, magnitude_mse
from ..stft import istft, stft


class MagnitudeModel(nn.Module):
    """`core`: noisy magnitude [B, T, 161] -> estimated clean magnitude [B, T, 161].
    The noisy phase is kept. Loss: MSE between estimated and clean magnitudes (power < 1:
    between their power-compressed magnitudes, losses.magnitude_mse)."""

    def core(self, mag: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        spec = stft(wave)
        mag = self.core(spec.abs()).float()
        return istft(torch.polar(mag, spec.angle()), wave.shape[-1])

    def loss(self, noisy: torch.Tensor, clean: torch.Tensor, power: float = 1.0) -> torch.Tensor:
        return magnitude_mse(self.core(stft(noisy).abs()).float(), stft(clean).abs(), power)


class ComplexModel(nn.Module):
    """`core`: noisy real/imaginary [B, 2, T, 161] -> estimated clean [B, 2, T, 161]
    (complex spectral mapping). Loss: MSE on real and imaginary parts (power < 1: on the
    power-compressed spectra, losses.complex_mse)."""

    def core(self, ri: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        spec = stft(wave)
        est = self.core(torch.stack([spec.real, spec.imag], 1)).float()
        return istft(torch.complex(est[:, 0], est[:, 1]), wave.shape[-1])

    def loss(self, noisy: torch.Tensor, clean: torch.Tensor, power: float = 1.0) -> torch.Tensor:
        spec, target = stft(noisy), stft(clean)
        est = self.core(torch.stack([spec.real, spec.imag], 1)).float()
        return complex_mse(est, torch.stack([target.real, target.imag], 1), power)


class TimeModel(nn.Module):
    """`core`: noisy waveform [B, N] -> estimated clean waveform [B, N].
    Loss: MSE on samples (power = 1; Pandey & Wang 2019 train TCNN in the time domain). power < 1:
    the loss of the complex models on the STFTs of the estimate and the clean speech
    (losses.complex_mse), because a sample MSE is ruled by the loud low-frequency parts of the
    waveform; Pandey & Wang (TASLP 2019, "A new framework for CNN-based speech enhancement in
    the time domain") find a loss on the STFT of a time-domain network's output better on STOI
    and PESQ than one on its samples."""

    def core(self, wave: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.core(wave).float()

    def loss(self, noisy: torch.Tensor, clean: torch.Tensor, power: float = 1.0) -> torch.Tensor:
        est = self.core(noisy).float()
        if power == 1.0:
            return F.mse_loss(est, clean)
        e, r = stft(est), stft(clean)
        return complex_mse(
            torch.stack([e.real, e.imag], 1), torch.stack([r.real, r.imag], 1), power
        )
