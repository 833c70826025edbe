"""Audio file I/O: everything inside secomp is 16 kHz mono float32 in [-1, 1].

Reading validates the file and fails with one line naming it (`AudioError`), so a bad file in a
folder of thousands is found at once and nothing downstream sees NaN or an empty array.
"""

from __future__ import annotations

import warnings
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from .files import atomic_write

SAMPLE_RATE = 16000
MIN_DURATION_S = 0.25
SILENCE_PEAK = 1e-5  # below -100 dBFS peak: nothing to enhance
# Models see their input at this RMS level (dBFS): training mixtures are scaled to it and
# `secomp.enhance` scales every input to it and the output back (as the CRN/GCRN authors'
# code normalises each mixture). Without it an MSE-trained model learns mostly from the loudest
# mixtures: the CRN trained on levels in [-35, -15] dBFS scored PESQ 1.38 on inputs scaled to
# -15 dBFS and 1.07 at -35 dBFS (12 matched 0 dB test files).
REFERENCE_DBFS = -25.0
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".opus")


class AudioError(ValueError):
    """A file that cannot be used as audio; the message names the file and the reason."""


def level_gain(sum_squares: float, n_samples: int) -> float:
    """The gain that brings a signal with this energy to REFERENCE_DBFS RMS."""
    rms = max(np.sqrt(sum_squares / max(n_samples, 1)), 1e-10)
    return float(10.0 ** (REFERENCE_DBFS / 20.0) / rms)


def resample(x: np.ndarray, sr_in: int, sr_out: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling along the last axis."""
    if sr_in == sr_out:
        return x
    g = gcd(int(sr_in), int(sr_out))
    return resample_poly(x, sr_out // g, sr_in // g, axis=-1).astype(np.float32)


def check_waveform(x: np.ndarray, name: str, min_duration_s: float = MIN_DURATION_S) -> None:
    """Raise AudioError if `x` (mono, 16 kHz) is too short, non-finite or silent."""
    if x.ndim != 1:
        raise AudioError(f"{name}: expected mono audio, got shape {x.shape}")
    if x.size < min_duration_s * SAMPLE_RATE:
        raise AudioError(
            f"{name}: too short ({x.size / SAMPLE_RATE:.3f} s < {min_duration_s} s minimum)"
        )
    if not np.isfinite(x).all():
        raise AudioError(f"{name}: contains NaN or infinite samples")
    if float(np.max(np.abs(x))) < SILENCE_PEAK:
        raise AudioError(f"{name}: silent (peak below {SILENCE_PEAK:g})")


def load_audio(
    path: str | Path,
    downmix: bool = False,
    check: bool = True,
    min_duration_s: float = MIN_DURATION_S,
) -> np.ndarray:
    """Read a wav/flac/ogg/opus file as 16 kHz mono float32.

    Other sample rates are resampled with a warning. Multi-channel input is an error unless
    `downmix` (mean over channels). With `check`, short, silent and non-finite audio is rejected.
    """
    path = Path(path)
    try:
        x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises several types for corrupt/truncated files
        raise AudioError(f"{path}: unreadable audio ({type(e).__name__}: {e})") from None
    if x.shape[1] > 1:
        if not downmix:
            raise AudioError(
                f"{path}: has {x.shape[1]} channels; secomp needs mono (pass --downmix to average)"
            )
        x = x.mean(axis=1, keepdims=True)
    x = np.ascontiguousarray(x[:, 0])
    if sr != SAMPLE_RATE:
        warnings.warn(f"{path}: resampling {sr} Hz -> {SAMPLE_RATE} Hz", stacklevel=2)
        x = resample(x, sr)
    if check:
        check_waveform(x, str(path), min_duration_s)
    return x


def save_audio(path: str | Path, x: np.ndarray, overwrite: bool = False) -> Path:
    """Write 16 kHz mono audio; format from the suffix (FLAC by default: lossless, small).

    Refuses to replace an existing file unless `overwrite`. The write goes to a temporary file
    first and is renamed into place, so a killed job never leaves a half-written output.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: exists; refusing to overwrite (use --overwrite)")
    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".opus": "OGG"}.get(
        path.suffix.lower(), "FLAC"
    )
    subtype = {"WAV": "PCM_16", "FLAC": "PCM_16", "OGG": "OPUS"}[fmt]
    if path.suffix.lower() == ".ogg":
        subtype = "VORBIS"
    y = np.clip(np.asarray(x, dtype=np.float32), -1.0, 1.0)
    with atomic_write(path) as tmp:
        sf.write(str(tmp), y, SAMPLE_RATE, format=fmt, subtype=subtype)
    return path


def list_audio(root: str | Path) -> list[Path]:
    """All audio files below `root`, sorted (so listings are reproducible)."""
    root = Path(root)
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
