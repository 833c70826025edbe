"""Objective quality metrics on 16 kHz signals: STOI and ESTOI (pystoi), wide-band PESQ (pesq,
ITU-T P.862.2), SI-SDR and SNR in dB.

A metric that fails on a file (PESQ refuses some signals, e.g. no utterance detected) is reported
as missing with its reason; it never stops an evaluation.
"""

from __future__ import annotations

import math

import numpy as np

from .audio import SAMPLE_RATE

METRICS = ("stoi", "estoi", "pesq", "si_sdr", "snr")


def si_sdr(est: np.ndarray, ref: np.ndarray) -> float:
    """Scale-invariant SDR (Le Roux et al. 2019), dB; both signals made zero-mean."""
    est = est.astype(np.float64) - est.mean()
    ref = ref.astype(np.float64) - ref.mean()
    alpha = np.dot(est, ref) / (np.dot(ref, ref) + 1e-12)
    target = alpha * ref
    return float(
        10 * np.log10((target @ target + 1e-12) / ((est - target) @ (est - target) + 1e-12))
    )


def snr(est: np.ndarray, ref: np.ndarray) -> float:
    """Plain SNR of `est` against `ref`, dB (not scale-invariant)."""
    est, ref = est.astype(np.float64), ref.astype(np.float64)
    return float(10 * np.log10((ref @ ref + 1e-12) / ((est - ref) @ (est - ref) + 1e-12)))


def pesq_wb(est: np.ndarray, ref: np.ndarray) -> float:
    from pesq import pesq

    return float(pesq(SAMPLE_RATE, ref.astype(np.float64), est.astype(np.float64), "wb"))


def stoi(est: np.ndarray, ref: np.ndarray, extended: bool = False) -> float:
    from pystoi import stoi as _stoi

    return float(_stoi(ref.astype(np.float64), est.astype(np.float64), SAMPLE_RATE, extended))


def all_metrics(est: np.ndarray, ref: np.ndarray) -> tuple[dict[str, float], dict[str, str]]:
    """(values, errors): every metric of METRICS that could be computed, and a reason for each
    that could not (NaN in values)."""
    n = min(len(est), len(ref))
    est, ref = est[:n], ref[:n]
    fns = {
        "stoi": lambda: stoi(est, ref),
        "estoi": lambda: stoi(est, ref, extended=True),
        "pesq": lambda: pesq_wb(est, ref),
        "si_sdr": lambda: si_sdr(est, ref),
        "snr": lambda: snr(est, ref),
    }
    values: dict[str, float] = {}
    errors: dict[str, str] = {}
    for name, fn in fns.items():
        try:
            v = fn()
            if not math.isfinite(v):
                raise ValueError("non-finite result")
            values[name] = v
        except Exception as e:  # the pesq C library raises its own error types
            values[name] = math.nan
            errors[name] = f"{type(e).__name__}: {e}"
    return values, errors


def mean_ci95(values: list[float]) -> dict[str, float]:
    """Mean, 95% confidence half-width (Student t) and count of the finite values."""
    from scipy import stats

    x = np.asarray([v for v in values if math.isfinite(v)], dtype=np.float64)
    if x.size == 0:
        return {"mean": math.nan, "ci95": math.nan, "n": 0}
    if x.size == 1:
        return {"mean": float(x[0]), "ci95": math.nan, "n": 1}
    half = stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    return {"mean": float(x.mean()), "ci95": float(half), "n": int(x.size)}
