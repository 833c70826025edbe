"""Published weights (secomp.weights, recipes/weights.py) in a throwaway git repository."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import load_file

from secomp.io.modelio import load_model, save_model, trained_loss_power
from secomp.models import build_model
from secomp.weights import (
    INDEX_PATH,
    WeightsError,
    main,
    publish,
    read_index,
    restore,
    seal,
    write_index,
)

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "weights.py"
CONFIG_TEXT = "model: crn\nsteps: 10\nlr: 1.0e-3\n"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    git(root, "config", "user.name", "test")
    git(root, "config", "user.email", "test@example.com")
    git(root, "config", "commit.gpgsign", "false")
    (root / "README.md").write_text("x\n")
    git(root, "add", "README.md")
    git(root, "commit", "-q", "-m", "init")
    return root


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    """A small CRN model file (with BatchNorm buffers, int64 counters among them) and its
    state."""
    torch.manual_seed(0)
    model = build_model("crn", channels=(2, 4), lstm_hidden=8, lstm_layers=1)
    with torch.no_grad():
        for name, b in model.named_buffers():
            if "running" in name:
                b.uniform_(0.5, 2.0)
    path = save_model(model, tmp_path / "src" / "model.safetensors")
    return path, load_file(str(path))


def publish_cli(repo: Path, name: str, model: Path, *extra: str) -> int:
    cfg = repo.parent / "train.yaml"
    cfg.write_text(CONFIG_TEXT)
    valid = repo.parent / "valid.json"
    valid.write_text(json.dumps({"n": 3, "improvement": {"pesq": 0.387, "stoi": 0.106}}))
    args = ["--repo", str(repo), "publish", name, "--model", str(model), "--config", str(cfg)]
    return main([*args, "--valid-json", str(valid), "--commit", *extra])


def test_publish_restore_round_trip(repo, tiny, tmp_path, capsys):
    path, state = tiny
    (repo / "other.txt").write_text("someone else's staged change\n")
    git(repo, "add", "other.txt")
    assert publish_cli(repo, "tiny", path) == 0

    entry = read_index(repo)["tiny"]
    # History holds the file, the working tree does not; others' staged work stays uncommitted.
    assert not (repo / "weights" / "tiny.safetensors").exists()
    assert git(repo, "ls-files", "weights").split() == [INDEX_PATH]
    assert git(repo, "status", "--porcelain", "--", "other.txt").startswith("A ")
    assert "other.txt" not in git(repo, "log", "--name-only", "--format=")
    added = git(repo, "show", "--name-status", "--format=", entry["commit"]).split()
    assert added == ["A", INDEX_PATH, "A", "weights/tiny.safetensors"]
    blob = subprocess.run(
        ["git", "-C", str(repo), "show", f"{entry['commit']}:weights/tiny.safetensors"],
        check=True,
        capture_output=True,
    ).stdout
    assert len(blob) == entry["bytes"]
    assert {v.dtype for v in load_safetensors_bytes(blob).values()} == {torch.float16, torch.int64}
    removed = git(repo, "log", "--format=%H", "--diff-filter=D", "--", "weights/tiny.safetensors")
    assert git(repo, "rev-parse", f"{removed.strip()}~1").strip() == entry["commit"]
    assert entry["dtype"] == "float16" and entry["arch"] == "crn"
    assert entry["hparams"]["lstm_hidden"] == 8
    assert entry["config"]["text"] == CONFIG_TEXT

    out = tmp_path / "checkpoints"
    assert main(["--repo", str(repo), "restore", "tiny", "--out", str(out)]) == 0
    restored = load_file(str(out / "tiny" / "model.safetensors"))
    assert restored.keys() == state.keys()
    for k, v in state.items():
        want = v.half().float() if v.is_floating_point() else v
        assert restored[k].dtype == want.dtype, k
        assert torch.equal(restored[k], want), k
    assert any(not v.half().float().equal(v) for v in state.values() if v.is_floating_point())
    model = load_model(out / "tiny" / "model.safetensors")
    x = torch.randn(1, 1600)
    assert model(x).shape == (1, 1600)
    assert (out / "tiny" / "config.yaml").read_text() == CONFIG_TEXT
    assert "restored tiny" in capsys.readouterr().out
    # the file records the loss of its training config (plain here), for `secomp compress`
    assert trained_loss_power(out / "tiny" / "model.safetensors") == 1.0


def test_restore_records_the_training_configs_loss_power(repo, tiny, tmp_path):
    path, _ = tiny
    assert trained_loss_power(path) is None  # a file written without it
    cfg = repo.parent / "pow.yaml"
    cfg.write_text(CONFIG_TEXT + "loss_power: 0.3\n")
    publish(repo, "pow", path, config=cfg)
    out = tmp_path / "checkpoints"
    restore(repo, ["pow"], out)
    assert trained_loss_power(out / "pow" / "model.safetensors") == 0.3
    # a file that records its own loss_power keeps it, whatever the config says
    model = load_model(path)
    own = save_model(model, tmp_path / "own" / "model.safetensors", {"loss_power": 0.5})
    publish(repo, "own", own, config=cfg)
    restore(repo, ["own"], out)
    assert trained_loss_power(out / "own" / "model.safetensors") == 0.5


def test_corrupted_hash_refused_and_nothing_written(repo, tiny, tmp_path, capsys):
    path, _ = tiny
    assert publish_cli(repo, "good", path) == 0
    assert publish_cli(repo, "bad", path) == 0
    index = read_index(repo)
    index["bad"]["sha256"] = "0" * 64
    write_index(repo, index)
    capsys.readouterr()

    out = tmp_path / "checkpoints"
    assert main(["--repo", str(repo), "restore", "--all", "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'bad'" in err and "sha256" in err
    assert not out.exists()  # not even the good entry: every hash is checked first
    assert main(["--repo", str(repo), "restore", "good", "--out", str(out)]) == 0
    assert (out / "good" / "model.safetensors").exists()


def test_list_table(repo, tiny, capsys):
    path, _ = tiny
    assert publish_cli(repo, "tiny", path) == 0
    capsys.readouterr()
    assert main(["--repo", str(repo), "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    entry = read_index(repo)["tiny"]
    assert lines[0].split() == ["name", "arch", "bytes", "sha256", "commit", "valid"]
    row = lines[1].split()
    assert row[:5] == ["tiny", "crn", f"{entry['bytes']:,}", entry["sha256"][:12],
                       entry["commit"][:12]]  # fmt: skip
    assert "PESQ +0.387" in lines[1] and "STOI +0.106" in lines[1]


def test_push_guard_dry_run_and_bad_input(repo, tiny, capsys, monkeypatch):
    path, _ = tiny
    with pytest.raises(WeightsError, match="limit"):
        publish(repo, "big", path, limit_bytes=1000)
    assert not (repo / "weights").exists()
    entry = publish(repo, "big", path, dry_run=True)
    assert entry["bytes"] > 0 and not (repo / "weights").exists()
    publish(repo, "big", path, limit_bytes=1000, force=True)
    assert (repo / "weights" / "big.safetensors").exists()
    # Published, not yet pushed (no remote, nothing named pushed): counts against the next one.
    for sealed in (False, True):
        with pytest.raises(WeightsError, match="limit"):
            publish(repo, "big2", path, limit_bytes=3 * entry["bytes"])
        if not sealed:
            seal(repo, "big")
    publish(repo, "big2", path, limit_bytes=3 * entry["bytes"], pushed=["HEAD"])
    with pytest.raises(WeightsError, match="already"):
        publish(repo, "big", path)
    with pytest.raises(WeightsError, match="letters"):
        publish(repo, "../x", path)

    # The recipe as run from the shell: exit status 1 and one line, no traceback.
    monkeypatch.setattr(sys, "argv", [str(RECIPE), "--repo", str(repo), "restore", "nosuch"])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(RECIPE), run_name="__main__")
    assert exited.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        f"error: weights 'nosuch': not in {INDEX_PATH} (published: big, big2)"
    ]


def test_seal_completes_an_interrupted_publication(repo, tiny, tmp_path):
    path, state = tiny
    publish(repo, "tiny", path)
    # The first of the two commits made, the second not (an interrupted seal, or by hand).
    git(repo, "add", "weights")
    git(repo, "commit", "-q", "-m", "add", "--", "weights")
    first = git(repo, "rev-parse", "HEAD").strip()
    assert seal(repo, "tiny") == first
    assert read_index(repo)["tiny"]["commit"] == first
    assert git(repo, "ls-files", "weights").split() == [INDEX_PATH]
    assert main(["--repo", str(repo), "restore", "tiny", "--out", str(tmp_path / "c")]) == 0
    restored = load_file(str(tmp_path / "c" / "tiny" / "model.safetensors"))
    assert all(
        torch.equal(restored[k], v.half().float())
        for k, v in state.items()
        if v.is_floating_point()
    )
