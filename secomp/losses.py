"""Training losses of the spectral models, as pure functions.

power = 1 gives the paper's losses (MSE on magnitudes for the LSTM/CRN, MSE on real and
imaginary parts for the GCRN). power < 1 compresses the spectra first, |X|^p, the usual remedy
for a magnitude MSE that is dominated by the few loud low-frequency bins and leaves quiet bins
(consonants, harmonics between formants, the speech of a nearly clean input) unpunished; Braun &
Tashev (2021, "A consolidated view of loss functions for supervised deep learning-based speech
enhancement") find p = 0.3 with 0.3 of the weight on the compressed magnitude and 0.7 on the
compressed complex spectrum best on PESQ.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-8  # inside the power: keeps its gradient finite at a magnitude of zero


def compress_magnitude(mag: torch.Tensor, power: float) -> torch.Tensor:
    """|X|^p of magnitudes `mag` (any shape, >= 0); `mag` itself for p = 1."""
    return mag if power == 1.0 else (mag.clamp_min(0) + EPS) ** power


def magnitude_mse(est: torch.Tensor, ref: torch.Tensor, power: float = 1.0) -> torch.Tensor:
    """mean((|est|^p - |ref|^p)^2) over magnitudes [B, T, F] (p = 1: the paper's loss)."""
    return F.mse_loss(compress_magnitude(est, power), compress_magnitude(ref, power))


def complex_mse(
    est: torch.Tensor, ref: torch.Tensor, power: float = 1.0, magnitude_weight: float = 0.3
) -> torch.Tensor:
    """Loss of real/imaginary estimates est, ref [B, 2, T, F].

    p = 1: mean((est - ref)^2), the paper's. p < 1: (1 - w) * MSE of the compressed complex
    spectra |X|^p e^{j angle X} + w * MSE of the compressed magnitudes |X|^p, w =
    `magnitude_weight`."""
    if power == 1.0:
        return F.mse_loss(est, ref)

    def compressed(ri: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mag = torch.sqrt(ri.pow(2).sum(1, keepdim=True) + EPS)
        cmag = mag**power
        return ri * (cmag / mag), cmag

    e_ri, e_mag = compressed(est)
    r_ri, r_mag = compressed(ref)
    w = magnitude_weight
    return (1 - w) * F.mse_loss(e_ri, r_ri) + w * F.mse_loss(e_mag, r_mag)
