"""The compressed models committed in models/ are what the docs say they are: their reported
sizes are their file sizes, C1 files sit within 10% of their entropy bound, and every C2-slim
file is slimmed and computes with far fewer MACs than its architecture. (That slimming keeps
the output is `secomp slim`'s own check and tests/test_slim.py's; the unslimmed C2 files are
not committed.)"""

from pathlib import Path

import pytest
import torch

from secomp.audio import list_audio, load_audio
from secomp.info import model_info
from secomp.io.modelio import load_model
from secomp.models.registry import build_model
from secomp.structure.macs import count_macs

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted((ROOT / "models").glob("*.secomp"))
SLIM = [f for f in FILES if f.stem.endswith("-slim")]


def test_the_promised_files_exist():
    """C1 and C2-slim for the four enhancement models and the separation model, and no
    unslimmed C2 file."""
    names = {f.stem for f in FILES}
    for arch in ("lstm", "crn", "gcrn", "tcnn", "sep"):
        assert {f"{arch}-c1", f"{arch}-c2-slim"} <= names
    assert not [n for n in names if n.endswith("-c2")]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_reported_size_is_the_file_size(path):
    info = model_info(path, macs=False)
    assert info["file_bytes"] == info["accounted_bytes"] == path.stat().st_size
    if path.stem.endswith("-c1"):
        assert info["file_bytes"] <= 1.10 * info["entropy_bound_bytes"]


@pytest.mark.parametrize("slim", SLIM, ids=lambda p: p.stem)
def test_slimmed_file_is_slimmed_and_computes_less(slim):
    info = model_info(slim, macs=False)
    model = load_model(slim).eval()
    assert model.slim  # the slim spec travels in the file
    unslimmed = build_model(info["arch"], **info["hparams"])
    assert count_macs(model)["dense"] < 0.75 * count_macs(unslimmed)["dense"]
    speech = list_audio(ROOT / "secomp" / "assets" / "demo_data" / "speech" / "test")[0]
    x = torch.from_numpy(load_audio(speech)[: 2 * 16000].copy())[None]
    with torch.inference_mode():
        y = model(x)
    assert y.shape[-1] == x.shape[-1] and torch.isfinite(y).all()
