import pytest
import torch

from secomp.io.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from secomp.io.modelio import ModelFileError, load_model, save_model
from secomp.models import build_model


def test_round_trip(tmp_path):
    m = build_model("crn", channels=[4, 8, 8, 8, 8], lstm_hidden=32)
    p = save_model(m, tmp_path / "m.safetensors")
    back = load_model(p)
    x = torch.randn(1, 4000)
    with torch.no_grad():
        assert torch.equal(m.eval()(x), back(x))
    assert back.hparams == {"channels": [4, 8, 8, 8, 8], "lstm_hidden": 32}


def test_bundled_demo_loads():
    m = load_model("demo")
    assert 100_000 < sum(p.numel() for p in m.parameters()) < 1_000_000


def test_truncated_and_foreign_files(tmp_path):
    m = build_model("lstm", hidden=16, layers=1)
    p = save_model(m, tmp_path / "m.safetensors")
    data = p.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="cut.safetensors"):
        load_model(tmp_path / "cut.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(ModelFileError, match="junk.safetensors"):
        load_model(tmp_path / "junk.safetensors")
    with pytest.raises(ModelFileError, match="no such model"):
        load_model(tmp_path / "absent.safetensors")


def test_checkpoint_atomic_and_truncated(tmp_path):
    path = tmp_path / "ck.pt"
    save_checkpoint({"w": torch.ones(3), "step": 4}, path)
    assert load_checkpoint(path)["step"] == 4
    assert not (tmp_path / "ck.pt.part").exists()
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(CheckpointError, match="ck.pt"):
        load_checkpoint(path)
