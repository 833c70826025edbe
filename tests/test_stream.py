"""The streaming engine (secomp.stream) against the offline causal path, on real audio."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from secomp.audio import REFERENCE_DBFS, load_audio
from secomp.io.modelio import load_model
from secomp.models import build_model
from secomp.stream import (
    DELAY,
    CausalLevel,
    Streamer,
    causal_gains,
    offline_causal,
    stream_array,
)

from .test_models import SMALL

ZOO = sorted(SMALL)
COMMITTED_SLIM = "models/crn-c2-slim.secomp"


@pytest.fixture(autouse=True)
def one_thread():
    """Streaming is thousands of tiny ops; thread pools only add contention on a shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def noisy() -> np.ndarray:
    """1.5 s of real speech plus real noise (dishes) at about 0 dB, at a low level (-40 dBFS),
    plus an odd number of samples (not a multiple of the hop)."""
    from pathlib import Path

    demo = Path(__file__).resolve().parents[1] / "secomp" / "assets" / "demo_data"
    speech = load_audio(sorted((demo / "speech" / "test").rglob("*.flac"))[0])[: 24000 + 77]
    noise = load_audio(demo / "noise" / "train" / "sc_doing_the_dishes.flac")[: len(speech)]
    x = speech / np.std(speech) + noise / np.std(noise)
    return (x * 10 ** (-40 / 20) / np.std(x)).astype(np.float32)


def _model(name: str):
    torch.manual_seed(0)
    return build_model(name, **SMALL[name]).eval()


@pytest.mark.parametrize("name", ZOO)
def test_streamer_equals_offline_causal_path(name, noisy):
    model = _model(name)
    ref = offline_causal(model, noisy)
    for block in (160, 37, 1000):
        got = stream_array(model, noisy, block)
        assert got.shape == ref.shape
        assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max(), block


@pytest.mark.parametrize("name", ["demo", COMMITTED_SLIM, "models/gcrn-c2-slim.secomp"])
def test_streamer_equals_offline_trained_and_slimmed(name, noisy):
    """The bundled demo CRN and the committed slimmed compressed CRN and GCRN (SlimRNN and
    SlimConv layers), hop-sized and odd blocks; one-sample blocks on the demo model."""
    model = load_model(name)
    x = noisy[:12077]
    ref = offline_causal(model, x)
    for block in (160, 333) + ((1,) if name == "demo" else ()):
        got = stream_array(model, x, block)
        assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max(), block
    # the normaliser off: plain model(x)
    with torch.inference_mode():
        plain = model(torch.from_numpy(x)[None])[0].numpy()
    got = stream_array(model, x, 160, normalise=False)
    assert np.abs(got - plain).max() <= 1e-5 * np.abs(plain).max()


def test_output_is_input_delayed_and_state_matters(noisy):
    """Block by block the output is the offline output delayed by DELAY samples (zeros first);
    and a streamer whose state were dropped between blocks would not match (state flows)."""
    model = _model("crn")
    s = Streamer(model)
    first = s.process(noisy[:DELAY])
    assert not first.any()
    out = np.concatenate([first] + [s.process(noisy[i : i + 160]) for i in range(DELAY, 8000, 160)])
    ref = offline_causal(model, noisy[:8000])
    np.testing.assert_allclose(out[DELAY:], ref[: len(out) - DELAY], atol=1e-6)
    fresh = []
    for i in range(0, 8000, 800):  # a new streamer (zero state) per 50 ms block
        fresh.append(stream_array(model, noisy[i : i + 800], 160))
    assert np.abs(np.concatenate(fresh) - ref).max() > 1e-4


def test_memory_is_bounded():
    """Buffers and state do not grow with the length of the stream."""
    model = _model("tcnn")
    s = Streamer(model)
    rng = np.random.default_rng(0)
    sizes = []
    for n_blocks in (50, 300):
        for _ in range(n_blocks):
            s.process(rng.standard_normal(160).astype(np.float32) * 0.05)
        state = sum(t.numel() for t in s._state.values())
        sizes.append((s.buffered_samples(), state))
    assert sizes[0] == sizes[1]
    assert sizes[0][0] <= 3 * DELAY


def test_causal_level_normaliser():
    """Gains reach the reference level on a steady signal, are the same whatever the block
    split, use only the past, and are clipped on silence."""
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(16000 * 8) * 10 ** (-45 / 20)).astype(np.float32)
    g = causal_gains(x)
    assert g[0] == 1.0 and np.all(g[:160] == 1.0)
    level = 20 * np.log10(np.std(x[-16000:] * g[-16000:]))
    assert abs(level - REFERENCE_DBFS) < 0.5
    split = CausalLevel()
    parts = [split.gains(x[i : i + 97]) for i in range(0, len(x), 97)]
    np.testing.assert_array_equal(np.concatenate(parts), g)
    y = x.copy()
    y[8000:] *= 100  # a change later on leaves earlier gains alone
    assert np.array_equal(causal_gains(y)[:8160], g[:8160])
    silent = causal_gains(np.zeros(3200, np.float32))
    assert silent[-1] == pytest.approx(100.0)  # the 40 dB ceiling
    with pytest.raises(ValueError):
        CausalLevel(time_constant_s=0)


def test_enhance_array_causal_option(noisy):
    from secomp.enhance import enhance_array

    model = load_model("demo")
    np.testing.assert_array_equal(
        enhance_array(model, noisy, normaliser="causal"), offline_causal(model, noisy)
    )
    with pytest.raises(ValueError, match="normaliser"):
        enhance_array(model, noisy, normaliser="loudest")


def test_bad_input():
    with pytest.raises(TypeError, match="stream_step"):
        Streamer(torch.nn.Linear(2, 2))
    s = Streamer(load_model("demo"))
    with pytest.raises(ValueError, match="NaN"):
        s.process(np.array([0.0, np.nan], np.float32))


@pytest.mark.parametrize("name", ZOO)
def test_streaming_onnx_parity(name, tmp_path):
    pytest.importorskip("onnxruntime")
    from secomp.io.onnx import export_onnx_streaming, streaming_parity

    model = _model(name)
    path = export_onnx_streaming(model, tmp_path / f"{name}.onnx")
    assert not any(m.training for m in model.modules())  # export leaves the model in eval
    assert streaming_parity(model, path, frames=40, chunks=(1, 7)) <= 1e-4


def test_cli_enhance_stream_and_bench(noisy, tmp_path, capsys):
    """`enhance --stream` writes what offline_causal gives (to 16-bit PCM), and stream-bench
    reports its numbers; bad options give one line, no traceback (in-process: the CLI's own
    code path, without a second interpreter start)."""
    import soundfile as sf

    from secomp.cli import main

    src = tmp_path / "in.wav"
    sf.write(str(src), noisy * 10, 16000, subtype="FLOAT")
    out = tmp_path / "out.wav"
    main(["enhance", "demo", str(src), "-o", str(out), "--stream", "--block-ms", "7", "--quiet"])
    got, sr = sf.read(str(out), dtype="float32")
    ref = offline_causal(load_model("demo"), noisy * 10)
    assert sr == 16000 and got.shape == ref.shape
    assert np.abs(got - np.clip(ref, -1, 1)).max() <= 2 / 32768
    main(["stream-bench", "demo", "--seconds", "0.5"])
    printed = capsys.readouterr().out
    assert "p99" in printed and "algorithmic latency 20 ms" in printed
    with pytest.raises(SystemExit):
        main(["stream-bench", "demo", "--seconds", "0"])
    err = capsys.readouterr().err
    assert "positive" in err and "Traceback" not in err


# int8 size bound: dynamic int8 covers the matrix products (recurrent and linear layers) and
# leaves convolutions float, so how much smaller depends on the model (slimmed GCRN: 0.58)
@pytest.mark.parametrize("name, int8_share", [("demo", 0.4), ("models/gcrn-c2-slim.secomp", 0.65)])
def test_streamer_runs_the_onnx_export_fp32_and_int8(name, int8_share, noisy, tmp_path):
    """The Streamer with the network in onnxruntime (OnnxStep): the float export gives the
    PyTorch streamer's output; the dynamically quantized int8 export is smaller and close."""
    pytest.importorskip("onnxruntime")
    from secomp.io.onnx import export_onnx_streaming
    from secomp.stream import OnnxStep

    model = load_model(name)
    x = noisy[:8077]
    ref = stream_array(model, x, 160)
    fp32 = export_onnx_streaming(model, tmp_path / "fp32.onnx")
    got = stream_array(model, x, 333, step=OnnxStep(fp32, model))
    assert np.abs(got - ref).max() <= 1e-4 * np.abs(ref).max()
    int8 = export_onnx_streaming(model, tmp_path / "int8.onnx", int8=True)
    assert int8.stat().st_size < int8_share * fp32.stat().st_size
    got8 = stream_array(model, x, 160, step=OnnxStep(int8, model))
    snr = 10 * np.log10(np.sum(ref**2) / np.sum((got8 - ref) ** 2))
    assert 10 < snr < 80, snr  # close to the float output, but not the float output


def test_cli_int8_export_and_bench(tmp_path, capsys):
    """`export --streaming --int8` writes the smaller quantized graph and says how close it
    streams; `stream-bench --int8` times the streamer with it; --int8 alone is refused."""
    pytest.importorskip("onnxruntime")
    import json
    import logging

    from secomp.cli import main

    handlers = logging.getLogger().handlers[:]
    main(["export", "demo", "--onnx", str(tmp_path / "f.onnx"), "--streaming"])
    main(["export", "demo", "--onnx", str(tmp_path / "q.onnx"), "--streaming", "--int8"])
    assert logging.getLogger().handlers == handlers  # the quantizer's logging left no trace
    assert not list(tmp_path.glob("*.part*"))
    assert (tmp_path / "q.onnx").stat().st_size < 0.5 * (tmp_path / "f.onnx").stat().st_size
    assert "dB SNR" in capsys.readouterr().out
    main(["stream-bench", "demo", "--seconds", "0.3", "--int8", "--json"])
    r = json.loads(capsys.readouterr().out)
    assert r["backend"] == "onnx-int8" and 0 < r["cpu_median_ms"] <= r["cpu_p99_ms"]
    with pytest.raises(SystemExit):
        main(["export", "demo", "--onnx", str(tmp_path / "x.onnx"), "--int8"])
    err = capsys.readouterr().err
    assert "--streaming" in err and "Traceback" not in err and not (tmp_path / "x.onnx").exists()
