"""Our metrics against torchmetrics' wrappers and definitions on real speech."""

import numpy as np
import pytest
import torch

from secomp.audio import load_audio
from secomp.metrics import all_metrics, mean_ci95, si_sdr, snr


def _pair(speech_file, rng, snr_db=5.0):
    clean = load_audio(speech_file)
    noise = rng.standard_normal(len(clean)).astype(np.float32)
    noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    return clean + noise, clean


def test_cross_check_with_torchmetrics(speech_file, rng):
    tm = pytest.importorskip("torchmetrics.functional.audio")
    noisy, clean = _pair(speech_file, rng)
    ours, errors = all_metrics(noisy, clean)
    assert not errors
    n, c = torch.from_numpy(noisy).double(), torch.from_numpy(clean).double()
    assert ours["si_sdr"] == pytest.approx(
        float(tm.scale_invariant_signal_distortion_ratio(n, c)), abs=1e-3
    )
    assert ours["snr"] == pytest.approx(5.0, abs=0.05)
    assert ours["stoi"] == pytest.approx(
        float(tm.short_time_objective_intelligibility(n, c, 16000)), abs=1e-4
    )
    assert ours["pesq"] == pytest.approx(
        float(tm.perceptual_evaluation_speech_quality(n, c, 16000, "wb")), abs=1e-3
    )


def test_metrics_order_quality(speech_file, rng):
    a, clean = _pair(speech_file, rng, 15.0)
    b, _ = _pair(speech_file, rng, -5.0)
    good, _ = all_metrics(a, clean)
    bad, _ = all_metrics(b, clean)
    for m in ("stoi", "estoi", "pesq", "si_sdr", "snr"):
        assert good[m] > bad[m], m


def test_si_sdr_scale_invariant_snr_not(rng):
    x = rng.standard_normal(16000)
    y = x + 0.1 * rng.standard_normal(16000)
    assert si_sdr(2 * y, x) == pytest.approx(si_sdr(y, x), abs=1e-6)
    assert snr(2 * y, x) < snr(y, x)


def test_failing_metric_is_reported_not_raised(rng):
    x = rng.standard_normal(2000).astype(np.float32)  # PESQ needs at least 0.25 s
    values, errors = all_metrics(x, x * 0.5)
    assert np.isnan(values["pesq"]) and "BufferTooShort" in errors["pesq"]
    assert np.isfinite(values["si_sdr"])


def test_mean_ci95():
    s = mean_ci95([1.0, 2.0, 3.0, float("nan")])
    assert s["mean"] == 2.0 and s["n"] == 3
    assert s["ci95"] == pytest.approx(4.303 * 1.0 / np.sqrt(3), rel=1e-3)
