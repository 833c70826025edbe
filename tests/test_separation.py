"""Two-talker separation (issue 15): the `sep` model and its uPIT loss, separation batches in
training, `secomp separate`, separation test sets and their evaluation, and C1/C2 on the model."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from secomp.audio import load_audio
from secomp.cli import main
from secomp.io.modelio import ASSETS, save_model
from secomp.models import build_model
from secomp.models.sep import pit_neg_si_sdr, pit_si_sdr
from secomp.separate import bss_sdr, separate_array, separate_file

TINY = {"channels": [8, 16, 16, 32, 32], "lstm_hidden": 128, "lstm_layers": 1}
SEP_DEMO = ASSETS / "sep-demo.safetensors"


def tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("sep", **TINY)


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sepmodel") / "tiny.safetensors"
    save_model(tiny_model().eval(), path)
    return path


def two_talkers(demo_data: Path, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Two utterances of different test speakers, looped to `seconds`, at equal RMS."""
    speakers = sorted(p for p in (demo_data / "speech" / "test").iterdir() if p.is_dir())
    n = int(seconds * 16000)
    out = []
    for spk in speakers[:2]:
        x = load_audio(sorted(spk.glob("*.flac"))[0])
        x = np.resize(x, n)
        out.append(0.05 * x / np.sqrt(np.mean(x**2)))
    return out[0].astype(np.float32), out[1].astype(np.float32)


# ----------------------------------------------------------------------------- model and loss


def test_pit_loss_picks_the_best_permutation():
    g = torch.Generator().manual_seed(0)
    refs = torch.randn(3, 2, 8000, generator=g)
    est = refs + 0.1 * torch.randn(3, 2, 8000, generator=g)
    swapped = est.flip(1)
    best, perm = pit_si_sdr(swapped, refs)
    assert perm.tolist() == [[1, 0]] * 3
    assert torch.allclose(best, pit_si_sdr(est, refs)[0])
    assert 19.0 < float(best.mean()) < 21.0  # noise 20 dB below the references
    # a wrong pairing must not be what the loss reports
    assert float(pit_neg_si_sdr(swapped, refs)) == pytest.approx(-float(best.mean()), abs=1e-4)
    mixed = torch.stack([refs[:, 0] + refs[:, 1]] * 2, 1)
    assert float(pit_neg_si_sdr(mixed, refs)) > float(pit_neg_si_sdr(est, refs)) + 15


def test_sep_is_causal_and_keeps_length():
    model = tiny_model().eval()
    n, t0 = 16000 + 77, 9000
    x = torch.randn(2, n) * 0.05
    y = model(x)
    assert y.shape == (2, 2, n)
    x2 = x.clone()
    x2[:, t0:] = torch.randn(2, n - t0) * 0.05
    y2 = model(x2)
    # output sample s reads input up to s + 320 (one STFT frame ahead), nothing later
    assert torch.allclose(y[..., : t0 - 320], y2[..., : t0 - 320], atol=1e-6)
    assert not torch.allclose(y[..., t0:], y2[..., t0:], atol=1e-3)
    # mixture consistency (the default): the talkers add up to the mixture
    assert torch.allclose(y.sum(1), x, atol=1e-4)


def test_default_sep_has_a_few_million_parameters():
    n = sum(p.numel() for p in build_model("sep").parameters())
    assert 2e6 < n < 8e6
    assert 4 * sum(p.numel() for p in tiny_model().parameters()) < 1_000_000


# ----------------------------------------------------------------------------- training


def test_separation_batches_in_training(demo_data):
    from secomp.train import TrainConfig, prepare_data

    cfg = TrainConfig(model="sep", task="separation", batch_size=3, valid_batches=1)
    cfg.mix.segment_s = 1.0
    data = prepare_data(demo_data, cfg, torch.device("cpu"), jobs=1)
    mix, src = data.batch(0, 0)
    assert mix.shape == (3, 16000) and src.shape == (3, 2, 16000)
    assert torch.allclose(mix, src.sum(1), atol=1e-5)
    level = 20 * torch.log10(src[:, 1].pow(2).mean(-1).sqrt() / src[:, 0].pow(2).mean(-1).sqrt())
    assert (level.abs() <= 2.5 + 1e-3).all()
    mix2, _ = data.batch(0, 0)
    assert torch.equal(mix, mix2)  # a pure function of the step

    cfg.task = "noisy-separation"
    cfg.mix.snr_db = (10.0, 20.0)
    noisy, src = prepare_data(demo_data, cfg, torch.device("cpu"), jobs=1).batch(0, 0)
    noise = noisy - src.sum(1)
    snr = 10 * torch.log10(src.sum(1).pow(2).mean(-1) / noise.pow(2).mean(-1))
    assert ((snr > 10 - 1e-3) & (snr < 20 + 1e-3)).all()

    cfg.task = "dereverberation"
    with pytest.raises(ValueError, match="unknown task"):
        prepare_data(demo_data, cfg, torch.device("cpu"), jobs=1)


def test_pit_training_lowers_the_loss(demo_data, tmp_path):
    from secomp.train import TrainConfig, TrainData, fit

    a, b = two_talkers(demo_data, 0.5)
    src = torch.from_numpy(np.stack([a, b]))[None].repeat(2, 1, 1)
    src[1] = src[1].roll(2000, -1)
    batch = (src.sum(1), src)
    model = tiny_model()
    cfg = TrainConfig(model="sep", steps=20, batch_size=2, lr=3e-3, valid_every=20, log_every=20)
    with torch.no_grad():
        before = float(model.eval().loss(*batch))
    fit(model.train(), TrainData(lambda s, r: batch, [batch]), cfg, tmp_path, progress=False)
    with torch.no_grad():
        after = float(model.eval().loss(*batch))
    assert after < before - 3.0, (before, after)  # dB of SI-SDR gained on the batch


# ----------------------------------------------------------------------------- separate


class SwappingSplitter(nn.Module):
    """A causal 'separator' (moving-average low band, and the rest) that returns its two
    outputs in the opposite order on every second call, as a chunked model may."""

    n_speakers = 2

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = nn.functional.conv1d(nn.functional.pad(x[:, None], (31, 0)), torch.ones(1, 1, 32))
        low = low[:, 0] / 32
        out = torch.stack([low, x - low], 1)
        self.calls += 1
        return out.flip(1) if self.calls % 2 == 0 else out


def test_chunked_separation_keeps_the_talker_order(demo_data, tmp_path):
    a, b = two_talkers(demo_data, 7.3)
    x = a + b
    whole = SwappingSplitter()(torch.from_numpy(x)[None])[0].numpy()
    model = SwappingSplitter()
    y = separate_array(model, x, chunk_s=1.0, context_s=0.5)
    assert model.calls == 8  # 7.3 s in 1 s chunks
    assert y.shape == (2, len(x))
    assert np.abs(y - whole).max() < 1e-4
    src = tmp_path / "mix.wav"
    sf.write(src, x, 16000, subtype="FLOAT")
    s1, s2 = separate_file(SwappingSplitter(), src, tmp_path / "out" / "mix", 1.0, 0.5)
    got = np.stack([sf.read(s1)[0], sf.read(s2)[0]])
    assert got.shape == (2, len(x))
    assert np.abs(got - whole).max() < 2e-4  # 16-bit files


def test_separate_cli_round_trip(demo_data, tiny_file, tmp_path, capsys):
    a, b = two_talkers(demo_data, 3.3)
    src = tmp_path / "in" / "talk.flac"
    src.parent.mkdir()
    sf.write(src, a + b, 16000)
    out = str(tmp_path / "out")
    main(["separate", str(tiny_file), str(src.parent), "-o", out, "--quiet", "--threads", "1"])
    outs = [tmp_path / "out" / f"talk_s{k}.wav" for k in (1, 2)]
    ys = [sf.read(p) for p in outs]
    assert all(sr == 16000 and len(y) == len(a) for y, sr in ys)
    expected = separate_array(tiny_model().eval(), load_audio(src))
    assert np.abs(ys[0][0] - expected[0]).max() < 1e-3
    # rescaled to the mixture: the talkers' sum is closer to it than silence is
    assert np.sum((ys[0][0] + ys[1][0] - (a + b)) ** 2) < np.sum((a + b) ** 2)
    with pytest.raises(SystemExit):  # outputs exist: refused without --overwrite
        main(["separate", str(tiny_file), str(src), "-o", str(tmp_path / "out"), "--quiet"])
    assert "exists" in capsys.readouterr().err


def test_separate_bad_inputs_fail_with_one_line(tiny_file, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    sf.write(bad / "silent.wav", np.zeros(16000, np.float32), 16000)
    sf.write(bad / "short.wav", np.full(800, 0.1, np.float32), 16000)
    sf.write(bad / "stereo.wav", np.full((16000, 2), 0.1, np.float32), 16000)
    (bad / "broken.wav").write_bytes(b"RIFF not audio")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as e:
        main(["separate", str(tiny_file), str(bad), "-o", str(out), "--quiet"])
    assert e.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("skipped: ") for line in err)
    assert "Traceback" not in "".join(err)
    assert not list(out.rglob("*.wav")) and not list(out.rglob("*.part"))
    for args, message in (
        (["separate", "demo", str(bad / "silent.wav"), "-o", str(out)], "not a two-talker"),
        (["separate", str(tiny_file), str(tmp_path / "nope.wav"), "-o", str(out)], "not found"),
    ):
        with pytest.raises(SystemExit) as e:
            main(args)
        assert e.value.code == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1


# ----------------------------------------------------------------------- test sets, evaluation


def test_bss_sdr_matches_a_reference_implementation(rng):
    from torchmetrics.functional.audio import signal_distortion_ratio

    ref = rng.standard_normal(16000)
    est = np.convolve(ref, [1.0, 0.5, -0.2], "same") + 0.3 * rng.standard_normal(16000)
    theirs = float(signal_distortion_ratio(torch.from_numpy(est), torch.from_numpy(ref)))
    assert bss_sdr(est, ref) == pytest.approx(theirs, abs=0.05)


@pytest.fixture(scope="module")
def sep_testset(tmp_path_factory) -> Path:
    from tests.conftest import DEMO_DATA

    out = tmp_path_factory.mktemp("sepset")
    main(
        ["make-testset", "--separation", "--speech", str(DEMO_DATA / "speech" / "test"),
         "--n", "4", "--seed", "3", "--out", str(out), "--quiet"]
    )  # fmt: skip
    return out


def test_make_separation_testset(sep_testset):
    with open(sep_testset / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4
    assert list(rows[0])[:4] == ["id", "mix", "s1", "s2"]
    for r in rows:
        assert r["speaker1"] != r["speaker2"] and abs(float(r["level_db"])) <= 2.5
        mix, s1, s2 = (load_audio(sep_testset / r[k], check=False) for k in ("mix", "s1", "s2"))
        assert len(mix) == len(s1) == len(s2)
        assert np.abs(mix - s1 - s2).max() < 1e-3  # 16-bit rounding of three files
        rel = 10 * np.log10(np.mean(s2**2) / np.mean(s1**2))
        assert rel == pytest.approx(float(r["level_db"]), abs=0.05)


def test_make_separation_testset_bad_input(demo_data, tmp_path, capsys):
    one = demo_data / "speech" / "test" / "SPEAKER0003"
    for speech, message in ((tmp_path / "none", "not found"), (one, "two speakers")):
        with pytest.raises(SystemExit) as e:
            main(["make-testset", "--separation", "--speech", str(speech), "--out",
                  str(tmp_path / "o"), "--quiet"])  # fmt: skip
        assert e.value.code == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1


def test_evaluate_recognises_a_separation_manifest(sep_testset, tiny_file, tmp_path, capsys):
    js = tmp_path / "ev.json"
    main(["evaluate", str(tiny_file), "--pairs", str(sep_testset), "--json", str(js),
          "--csv", str(tmp_path / "rows.csv"), "--jobs", "1", "--quiet"])  # fmt: skip
    s = json.loads(js.read_text())
    assert s["n"] == 4 and not s["failed"]
    for key in ("stoi", "pesq", "si_sdr", "sdr"):
        assert key in s["mixture"] and key in s["separated"]
    assert s["si_sdri"] == pytest.approx(s["separated"]["si_sdr"] - s["mixture"]["si_sdr"])
    assert -10 < s["mixture"]["si_sdr"] < 10  # each talker vs the mixture: near 0 dB
    assert "si_sdr" in s["ci95"]["improvement"]
    assert "SI-SDRi" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["evaluate", "demo", "--pairs", str(sep_testset), "--jobs", "1", "--quiet"])
    assert "not a two-talker" in capsys.readouterr().err


def test_bundled_demo_separation_model_improves_si_sdr(sep_testset, tmp_path):
    if not SEP_DEMO.exists():
        pytest.skip(f"{SEP_DEMO} not bundled yet (trained with configs/train/sep-demo.yaml)")
    from secomp.io.modelio import load_model
    from secomp.separate import evaluate_separation, read_mixtures

    model = load_model(SEP_DEMO)
    assert SEP_DEMO.stat().st_size < 1_000_000
    summary, _ = evaluate_separation(model, read_mixtures(sep_testset), jobs=1, progress=False)
    assert summary["si_sdri"] > 0, summary["si_sdri"]


# ----------------------------------------------------------------------------- compression


@pytest.mark.parametrize(
    ("structured", "groups"),
    [(False, "tensor"), (True, "tensor"), (True, "channel")],
    ids=["C1", "C2", "C2-channel-slim"],
)
def test_c1_c2_compress_the_separation_model(demo_data, tmp_path, structured, groups):
    from secomp.compress.pipeline import CompressConfig, compress
    from secomp.train import TrainConfig, TrainData

    a, b = two_talkers(demo_data, 1.0)
    src = torch.from_numpy(np.stack([a, b]))[None].repeat(2, 1, 1)
    batch = (src.sum(1), src)
    model = tiny_model()
    train = TrainConfig(model="sep", batch_size=2, valid_every=2, valid_batches=1, log_every=2)
    cfg = CompressConfig(
        structured=structured,
        groups=groups,
        regularizer="group_lasso" if structured else "l1",
        reg_steps=2,
        max_ratio=0.5,
        ratio_step=0.25,
        tolerance=0.5,
        sensitivity_batches=1,
        rounds=1,
        finetune_steps=2,
        quant_bits=4,
        centroid_steps=2,
        quality_items=2,
        train=train,
    )
    data = TrainData(lambda s, r: batch, [batch])
    result = compress(model, data, cfg, tmp_path / "c", progress=False)
    before, after = result.progress.before, result.progress.rounds[-1]
    assert after["nonzero"] < before["nonzero"]
    assert np.isfinite(after["valid_loss"]) and np.isfinite(after["si_sdr"])
    assert result.progress.reg_lambda_abs > 0  # a negative loss must not flip the penalty
    assert model(batch[0]).shape == (2, 2, 16000)
    if groups == "channel":  # whole channels pruned: slimming removes them, output unchanged
        from secomp.structure.macs import count_macs
        from secomp.structure.slim import slim_model

        slim, rows = slim_model(model.eval())
        assert rows
        assert count_macs(slim)["dense"] < 0.9 * count_macs(model)["dense"]
        with torch.no_grad():
            assert float((slim(batch[0]) - model(batch[0])).abs().max()) < 1e-4
