"""The compressed models committed in models/ are what the docs say they are: their reported
sizes are their file sizes, C1 files sit within 10% of their entropy bound, and every slimmed
file computes what its C2 file computes, with fewer MACs."""

from pathlib import Path

import pytest
import torch

from secomp.audio import list_audio, load_audio
from secomp.info import model_info
from secomp.io.modelio import load_model
from secomp.structure.macs import count_macs

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted((ROOT / "models").glob("*.secomp"))
SLIM = [f for f in FILES if f.stem.endswith("-slim")]


def test_the_promised_files_exist():
    names = {f.stem for f in FILES}
    for arch in ("crn", "gcrn"):
        assert {f"{arch}-c1", f"{arch}-c2", f"{arch}-c2-slim"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_reported_size_is_the_file_size(path):
    info = model_info(path, macs=False)
    assert info["file_bytes"] == info["accounted_bytes"] == path.stat().st_size
    if path.stem.endswith("-c1"):
        assert info["file_bytes"] <= 1.10 * info["entropy_bound_bytes"]


@pytest.mark.parametrize("slim", SLIM, ids=lambda p: p.stem)
def test_slimmed_file_computes_what_its_c2_file_computes(slim):
    full = slim.with_name(slim.stem.removesuffix("-slim") + ".secomp")
    speech = list_audio(ROOT / "secomp" / "assets" / "demo_data" / "speech" / "test")[0]
    x = torch.from_numpy(load_audio(speech)[: 2 * 16000].copy())[None]
    a, b = load_model(full).eval(), load_model(slim).eval()
    with torch.inference_mode():
        assert (a(x) - b(x)).abs().max() <= 1e-5
    assert count_macs(b)["dense"] < 0.75 * count_macs(a)["dense"]
