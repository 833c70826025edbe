"""Test sets with a fixed share per corpus, and `evaluate`'s per-corpus results."""

from __future__ import annotations

import csv
import shutil
from collections import Counter
from pathlib import Path

import pytest

from secomp.data import make_testset, read_pairs
from secomp.evaluate import evaluate


def _two_corpus_root(demo_data: Path, root: Path) -> Path:
    """A corpus root whose speech.csv labels two demo test speakers "alpha", the rest "beta"."""
    shutil.copytree(demo_data / "speech" / "test", root / "speech" / "test")
    files = sorted((root / "speech" / "test").rglob("*.flac"))
    speakers = sorted({f.parent.name for f in files})
    with open(root / "speech.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["split", "speaker", "path", "corpus"])
        for p in files:
            corpus = "alpha" if p.parent.name in speakers[:2] else "beta"
            w.writerow(["test", p.parent.name, p.relative_to(root).as_posix(), corpus])
    return root


def test_corpus_share_per_snr_and_manifest_column(demo_data, tmp_path):
    root = _two_corpus_root(demo_data, tmp_path / "corpus")
    m = make_testset(
        root / "speech" / "test",
        demo_data / "noise" / "train",
        tmp_path / "set",
        [0, 10],
        20,
        seed=4,
        babble_dir=demo_data / "speech" / "valid",
        progress=False,
        corpus_share={"alpha": 0.3, "beta": 0.7},
        babble_share=0.2,
    )
    rows = list(csv.DictReader(open(m)))
    per_snr_corpus = Counter((r["snr_db"], r["corpus"]) for r in rows)
    assert per_snr_corpus == {("0.0", "alpha"): 3, ("0.0", "beta"): 7,
                              ("10.0", "alpha"): 3, ("10.0", "beta"): 7}
    assert Counter(r["snr_db"] for r in rows if r["noise"] == "babble") == {"0.0": 2, "10.0": 2}
    with open(root / "speech.csv") as f:
        alpha = {r["speaker"] for r in csv.DictReader(f) if r["corpus"] == "alpha"}
    assert all((r["speaker"] in alpha) == (r["corpus"] == "alpha") for r in rows)
    with pytest.raises(ValueError, match="corpora here: alpha, beta"):
        make_testset(root / "speech" / "test", demo_data / "noise" / "train", tmp_path / "bad",
                     [0], 4, progress=False, corpus_share={"gamma": 1.0})


def test_evaluate_reports_each_corpus_per_snr(demo_data, tmp_path):
    root = _two_corpus_root(demo_data, tmp_path / "corpus")
    m = make_testset(root / "speech" / "test", demo_data / "noise" / "train", tmp_path / "set",
                     [0, 10], 8, seed=1, progress=False, corpus_share={"alpha": 0.5, "beta": 0.5})
    summary, rows = evaluate(None, read_pairs(m), jobs=1, progress=False)
    assert summary["n"] == 8 and set(summary["by_snr"]) == {"0", "10"}
    assert set(summary["by_corpus"]) == {"alpha", "beta"}
    for corpus, s in summary["by_corpus"].items():
        mine = [r for r in rows if r["corpus"] == corpus]
        assert s["n"] == len(mine) == 4
        assert {k: v["n"] for k, v in s["by_snr"].items()} == {"0": 2, "10": 2}
        for metric in ("stoi", "si_sdr"):
            # identity model: a corpus's mean is the mean of its own rows, its gain is 0
            mean = sum(r["noisy"][metric] for r in mine) / len(mine)
            assert s["noisy"][metric] == pytest.approx(mean)
            assert s["improvement"][metric] == pytest.approx(0.0, abs=1e-9)
            at0 = [r["noisy"][metric] for r in mine if r["snr_db"] == 0]
            assert s["by_snr"]["0"]["noisy"][metric] == pytest.approx(sum(at0) / len(at0))
        assert set(s["ci95"]) == {"noisy", "enhanced", "improvement"}
    assert summary["noisy"]["stoi"] != pytest.approx(summary["by_corpus"]["alpha"]["noisy"]["stoi"])
