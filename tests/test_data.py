import csv

import numpy as np
import pytest
import torch

from secomp.audio import REFERENCE_DBFS, load_audio
from secomp.data import (
    MixConfig,
    enhancement_batch,
    load_corpus,
    make_testset,
    noise_bank,
    read_pairs,
    separation_batch,
    speech_bank,
)


def _banks(demo_data):
    corpus = load_corpus(demo_data)
    return speech_bank(corpus, "train", jobs=1), noise_bank(corpus, "train", jobs=1)


def test_corpus_index_from_manifests(shared_data):
    corpus = load_corpus(shared_data)
    # corpus v2: speechocean762 (2360 / 140 / 640) + LibriSpeech (1539 / 102 / 80)
    assert len(corpus.speech["train"]) == 3899 and len(corpus.speech["test"]) == 720
    assert len(corpus.speech["valid"]) == 242
    assert {u.speaker for u in corpus.speech["valid"]} == {
        "LS-3242",
        "LS-7859",
        "SPEAKER8585",
        "SPEAKER9070",
        "SPEAKER9556",
        "SPEAKER9639",
        "SPEAKER9645",
        "SPEAKER9646",
        "SPEAKER9649",
    }
    assert len(corpus.noise["train"]) == 2257 and len(corpus.noise["test"]) == 207
    by_corpus = {}
    for u in corpus.speech["test"]:
        by_corpus[u.corpus] = by_corpus.get(u.corpus, 0) + 1
    assert len(by_corpus) == 2 and sorted(by_corpus.values()) == [80, 640]
    train_spk = {u.speaker for u in corpus.speech["train"]}
    assert not train_spk & {u.speaker for u in corpus.speech["test"]}


def test_corpus_index_from_folders(demo_data):
    corpus = load_corpus(demo_data)
    assert set(corpus.speech) == {"train", "valid", "test"}
    assert len({u.speaker for u in corpus.speech["train"]}) == 5


def test_batches_deterministic_and_at_requested_snr(demo_data):
    speech, noise = _banks(demo_data)
    cfg = MixConfig(segment_s=1.0, snr_db=(3.0, 3.0), p_real_noise=1, p_babble=0, p_colored=0)
    a = enhancement_batch(speech, noise, cfg, 4, seed=1, rank=0, step=5)
    b = enhancement_batch(speech, noise, cfg, 4, seed=1, rank=0, step=5)
    c = enhancement_batch(speech, noise, cfg, 4, seed=1, rank=0, step=6)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    noisy, clean = a
    assert noisy.shape == (4, 16000)
    snr = 10 * torch.log10(clean.pow(2).mean(1) / (noisy - clean).pow(2).mean(1))
    torch.testing.assert_close(snr, torch.full((4,), 3.0), atol=0.05, rtol=0)
    assert noisy.abs().max() <= 0.99 + 1e-6
    # the level models are trained at (and that `secomp enhance` scales every input to)
    level = 20 * torch.log10(noisy.pow(2).mean(1).sqrt())
    assert bool((level <= REFERENCE_DBFS + 1e-3).all()) and bool((level > REFERENCE_DBFS - 1).all())


def test_babble_and_colored_sources(demo_data):
    speech, noise = _banks(demo_data)
    for p in (
        {"p_real_noise": 0, "p_babble": 1, "p_colored": 0},
        {"p_real_noise": 0, "p_babble": 0, "p_colored": 1},
    ):
        cfg = MixConfig(segment_s=1.0, **p)
        noisy, clean = enhancement_batch(speech, noise, cfg, 3, 0, 0, 0)
        assert torch.isfinite(noisy).all() and (noisy - clean).abs().mean() > 0


def test_two_speaker_mixtures(demo_data):
    speech, _ = _banks(demo_data)
    cfg = MixConfig(segment_s=2.0)
    mix, src = separation_batch(speech, cfg, 6, seed=0, rank=0, step=0)
    assert src.shape == (6, 2, 32000)
    torch.testing.assert_close(mix, src.sum(1))
    rel = 10 * torch.log10(src[:, 1].pow(2).mean(1) / src[:, 0].pow(2).mean(1))
    assert (rel.abs() <= 2.5 + 1e-3).all()


def test_make_testset_is_reproducible(demo_data, tmp_path):
    args = (demo_data / "speech" / "test", demo_data / "noise" / "train")
    m1 = make_testset(*args, tmp_path / "a", [-5, 0, 5], 6, seed=3, progress=False)
    m2 = make_testset(*args, tmp_path / "b", [-5, 0, 5], 6, seed=3, progress=False)
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert len(files) == 13
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    rows = list(csv.DictReader(open(m1)))
    assert [float(r["snr_db"]) for r in rows] == [-5, 0, 5, -5, 0, 5]
    assert set(rows[0]) == {"id", "noisy", "clean", "speaker", "noise", "snr_db", "corpus"}
    for r in rows:
        noisy = load_audio(m1.parent / r["noisy"])
        clean = load_audio(m1.parent / r["clean"])
        snr = 10 * np.log10(np.mean(clean**2) / np.mean((noisy - clean) ** 2))
        assert abs(snr - float(r["snr_db"])) < 0.1
    assert len(read_pairs(m2)) == 6


def test_make_testset_with_babble(demo_data, tmp_path):
    m = make_testset(
        demo_data / "speech" / "test",
        demo_data / "noise" / "train",
        tmp_path,
        [0],
        8,
        seed=0,
        babble_dir=demo_data / "speech" / "valid",
        progress=False,
    )
    assert "babble" in {r["noise"] for r in csv.DictReader(open(m))}


def _synthetic_rirs(path, k: int = 4, length: int = 4000, direct: int = 40):
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(0)
    t = torch.arange(length - direct, dtype=torch.float32)
    tail = torch.randn(k, length - direct, generator=g) * torch.exp(-t / 800.0) * 0.3
    rir = torch.zeros(k, length)
    rir[:, direct:] = tail
    rir[:, direct] = 1.0
    save_file({"rir": rir.half()}, str(path), {"direct": str(direct)})
    return rir


def test_reverberant_mixtures_have_early_reverberant_targets(demo_data, tmp_path):
    from secomp.data import fft_convolve, load_rirs

    _synthetic_rirs(tmp_path / "rirs.safetensors")
    rirs = load_rirs(tmp_path / "rirs.safetensors")
    speech, noise = _banks(demo_data)
    base = dict(segment_s=1.0, snr_db=(60.0, 60.0), p_real_noise=1, p_babble=0, p_colored=0)
    dry = enhancement_batch(speech, noise, MixConfig(**base), 6, seed=3, rank=0, step=0)
    wet = enhancement_batch(
        speech, noise, MixConfig(**base, p_reverb=1.0), 6, seed=3, rank=0, step=0, rirs=rirs
    )
    # same speech drawn; reverberant input differs from the target, which is the early part
    assert not torch.allclose(wet[0], wet[1], atol=1e-3)
    assert not torch.allclose(wet[1], dry[1], atol=1e-3)
    # at 60 dB SNR the input is the reverberant speech; the target is its first 50 ms of response
    x = dry[1] / dry[1].pow(2).mean(1, keepdim=True).sqrt()
    matched = 0
    for b in range(6):
        for r in range(rirs.full.shape[0]):
            full = fft_convolve(x[b : b + 1], rirs.full[r : r + 1])[0]
            if torch.corrcoef(torch.stack([wet[0][b], full]))[0, 1] > 0.9999:
                early = fft_convolve(x[b : b + 1], rirs.early(50.0)[r : r + 1])[0]
                assert torch.corrcoef(torch.stack([wet[1][b], early]))[0, 1] > 0.9999
                matched += 1
                break
    assert matched == 6  # every row: input = full response, target = its first 50 ms
    with pytest.raises(ValueError, match="RIR bank"):
        enhancement_batch(speech, noise, MixConfig(**base, p_reverb=1.0), 2, 0, 0, 0)
    (tmp_path / "bad.safetensors").write_bytes(b"not a file")
    with pytest.raises(ValueError, match="bad.safetensors"):
        load_rirs(tmp_path / "bad.safetensors")


def test_near_clean_share_draws_high_snrs(demo_data):
    speech, noise = _banks(demo_data)
    cfg = MixConfig(
        segment_s=1.0, snr_db=(0.0, 0.0), p_near_clean=0.5, near_clean_snr_db=(40.0, 40.0),
        p_real_noise=1, p_babble=0, p_colored=0,
    )
    noisy, clean = enhancement_batch(speech, noise, cfg, 32, seed=1, rank=0, step=0)
    snr = 10 * torch.log10(clean.pow(2).mean(1) / (noisy - clean).pow(2).mean(1))
    high, low = int((snr > 39).sum()), int((snr.abs() < 0.1).sum())
    assert high + low == 32 and 8 <= high <= 24


def test_bank_cache_gives_the_same_bank(demo_data, tmp_path):
    corpus = load_corpus(demo_data)
    a = speech_bank(corpus, "train", jobs=1, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("bank-*.safetensors"))) == 1
    b = speech_bank(corpus, "train", jobs=1, cache_dir=tmp_path)
    assert torch.equal(a.audio, b.audio) and a.names == b.names
    assert torch.equal(a.labels, b.labels) and torch.equal(a.offsets, b.offsets)
