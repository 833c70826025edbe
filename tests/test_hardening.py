"""The user path, hardened: nothing overwritten or lost, a batch survives a bad file, one-line
errors (a traceback only with --debug), presets in the wheel. Each test is one failure a new
user hit (issue 16); the commands run in this process (`secomp.cli.main`) to stay fast."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from secomp.cli import main
from tests.conftest import DEMO_DATA

ROOT = Path(__file__).resolve().parents[1]
DEMO_MODEL = ROOT / "secomp" / "assets" / "demo.safetensors"


def run(capsys, *args) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `secomp ARGS`."""
    try:
        main([str(a) for a in args])
        rc = 0
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    out, err = capsys.readouterr()
    return rc, out, err


def one_line_error(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err, err[-2000:]
    errors = [ln for ln in lines if ": error: " in ln]
    assert len(errors) == 1, err[-2000:]
    return errors[0]


def speech(n_s: float = 1.0, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(int(16000 * n_s)).astype(np.float32)
    return 0.05 * x


def truncated_flac(path: Path, seconds: float = 3.0) -> Path:
    """A FLAC whose header promises `seconds` of audio and whose frames stop half way: the
    decoder fails part way through (not at open)."""
    sf.write(path, speech(seconds), 16000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


# ----------------------------------------------------------------------------- never overwrite


def test_export_refuses_to_overwrite_its_input_or_an_existing_file(capsys, tmp_path):
    model = tmp_path / "m.safetensors"
    shutil.copy(DEMO_MODEL, model)
    before = model.read_bytes()
    rc, _, err = run(capsys, "export", model, "--onnx", model)
    assert rc != 0 and model.read_bytes() == before
    one_line_error(err)
    # an input that happens to end in .onnx is protected too
    onnx_named = tmp_path / "m.onnx"
    shutil.copy(DEMO_MODEL, onnx_named)
    rc, _, err = run(capsys, "export", onnx_named, "--onnx", onnx_named)
    assert rc != 0 and "also an input" in one_line_error(err)
    assert onnx_named.read_bytes() == before
    existing = tmp_path / "old.onnx"
    existing.write_bytes(b"keep me")
    rc, _, err = run(capsys, "export", model, "--onnx", existing)
    assert rc != 0 and "--overwrite" in one_line_error(err)
    assert existing.read_bytes() == b"keep me"


def test_make_testset_refuses_a_filled_folder_and_overwrite_leaves_no_stale_pairs(
    capsys, tmp_path
):
    out = tmp_path / "ts"
    args = ["make-testset", "--speech", DEMO_DATA / "speech" / "test", "--noise",
            DEMO_DATA / "noise" / "train", "--snr", "0", "--seed", "0", "--quiet", "--out", out]
    assert run(capsys, *args, "--n", "3")[0] == 0
    first = sorted(p.name for p in out.iterdir())
    stamp = (out / first[0]).read_bytes()
    rc, _, err = run(capsys, *args, "--n", "2")
    assert rc != 0 and "not empty" in one_line_error(err)
    assert sorted(p.name for p in out.iterdir()) == first and (out / first[0]).read_bytes() == stamp
    assert run(capsys, *args, "--n", "2", "--overwrite")[0] == 0
    names = sorted(p.name for p in out.iterdir())
    assert len([n for n in names if n.endswith("_noisy.flac")]) == 2  # the third pair is gone
    assert len(names) == 2 * 2 + 1


def test_enhance_collisions_existing_outputs_and_skip_existing(capsys, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    sf.write(src / "x.wav", speech(), 16000)
    sf.write(src / "x.flac", speech(seed=1), 16000)
    out = tmp_path / "out"
    rc, _, err = run(capsys, "enhance", "identity", src, "-o", out, "--quiet")
    line = one_line_error(err)
    assert rc != 0 and "x.wav" in line and "x.flac" in line
    assert not out.exists()  # detected before any work
    (src / "x.wav").rename(src / "y.wav")
    assert run(capsys, "enhance", "identity", src, "-o", out, "--quiet")[0] == 0
    sf.write(src / "z.flac", speech(seed=2), 16000)
    y_before = (out / "y.flac").stat().st_mtime_ns
    rc, _, err = run(capsys, "enhance", "identity", src, "-o", out, "--quiet")
    assert rc != 0 and "--skip-existing" in one_line_error(err)
    assert not (out / "z.flac").exists()  # refused before doing the new file either
    rc, o, _ = run(capsys, "enhance", "identity", src, "-o", out, "--quiet", "--skip-existing")
    assert rc == 0 and (out / "z.flac").exists() and "2 skipped" in o
    assert (out / "y.flac").stat().st_mtime_ns == y_before
    assert run(capsys, "enhance", "identity", src, "-o", out, "--quiet", "--overwrite")[0] == 0


def test_outputs_in_an_unwritable_place_fail_before_any_work(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    src = tmp_path / "x.wav"
    sf.write(src, speech(), 16000)
    rc, _, err = run(capsys, "enhance", "identity", src, "-o", blocker / "out", "--quiet")
    assert rc != 0 and "not a folder" in one_line_error(err)
    rc, _, err = run(capsys, "slim", DEMO_MODEL, "-o", blocker / "m.secomp")
    assert rc != 0
    one_line_error(err)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permission bits")
def test_folder_without_write_permission(capsys, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    src = tmp_path / "x.wav"
    sf.write(src, speech(), 16000)
    try:
        rc, _, err = run(capsys, "enhance", "identity", src, "-o", locked / "out", "--quiet")
        assert rc != 0 and "permission" in one_line_error(err)
    finally:
        locked.chmod(0o700)


def test_evaluate_checks_json_and_csv_before_computing(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    pairs = tmp_path / "pairs"  # does not even exist: the output check comes first
    rc, _, err = run(capsys, "evaluate", "identity", "--pairs", pairs, "--json", blocker / "s.json")
    assert rc != 0 and "a-file" in one_line_error(err)
    existing = tmp_path / "old.json"
    existing.write_text("{}")
    rc, _, err = run(capsys, "evaluate", "identity", "--pairs", pairs, "--json", existing)
    assert rc != 0 and "--overwrite" in one_line_error(err) and existing.read_text() == "{}"


# ----------------------------------------------------------------------------- bad files


def test_enhance_batch_survives_a_truncated_flac(capsys, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    sf.write(src / "a.flac", speech(), 16000)
    truncated_flac(src / "b.flac")
    sf.write(src / "c.flac", speech(seed=3), 16000)
    out = tmp_path / "out"
    rc, o, err = run(capsys, "enhance", "demo", src, "-o", out, "--quiet")
    assert rc == 1
    assert "Traceback" not in err
    failed = [ln for ln in err.splitlines() if ln.startswith("failed:")]
    assert len(failed) == 1 and "b.flac" in failed[0]
    assert (out / "a.flac").exists() and (out / "c.flac").exists()
    assert not (out / "b.flac").exists() and not list(out.glob(".*part"))
    assert "enhanced 2 file(s)" in o and "1 failed" in o


def test_evaluate_reports_a_truncated_file_and_exits_nonzero(capsys, tmp_path):
    from secomp.data import make_testset

    ts = tmp_path / "ts"
    make_testset(DEMO_DATA / "speech" / "test", DEMO_DATA / "noise" / "train", ts, [0.0], 3,
                 seed=0, progress=False)
    noisy = sorted(ts.glob("*_noisy.flac"))[0]
    noisy.write_bytes(noisy.read_bytes()[:200])
    rc, o, err = run(capsys, "evaluate", "identity", "--pairs", ts, "--jobs", "1", "--quiet",
                     "--json", tmp_path / "s.json")
    assert rc == 1 and "Traceback" not in err
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["n"] == 2 and len(summary["failed"]) == 1 and "failed files: 1" in o


# ----------------------------------------------------------------------------- one-line errors


def _model_with_hparams(tmp_path: Path, hparams: dict) -> Path:
    from safetensors.torch import load_file, save_file

    path = tmp_path / "typo.safetensors"
    save_file(load_file(str(DEMO_MODEL)), str(path),
              metadata={"secomp": json.dumps({"arch": "crn", "hparams": hparams})})
    return path


def test_unknown_hyper_parameter_names_the_key_and_the_allowed_ones(capsys, tmp_path):
    path = _model_with_hparams(tmp_path, {"lstm_hiden": 16})
    rc, _, err = run(capsys, "info", path)
    line = one_line_error(err)
    assert rc != 0 and "lstm_hiden" in line and "lstm_hidden" in line and "allowed" in line


def test_train_config_with_unknown_hyper_parameter(capsys, tmp_path):
    rc, _, err = run(capsys, "train", "--model", "crn", "--data", DEMO_DATA, "--out",
                     tmp_path / "run", "hparams={chanels: [4]}")
    line = one_line_error(err)
    assert rc != 0 and "chanels" in line and "channels" in line


def test_resume_with_corrupt_progress_or_truncated_state_names_the_file(capsys, tmp_path):
    out = tmp_path / "c"
    out.mkdir()
    (out / "progress.json").write_text('{"done": ["S"], "rounds": [')
    args = ["compress", "demo", "--pipeline", "demo", "--data", DEMO_DATA, "--out", out,
            "--resume", "--quiet"]
    rc, _, err = run(capsys, *args)
    assert rc != 0 and "progress.json" in one_line_error(err)
    (out / "progress.json").write_text(json.dumps({"done": [], "rounds": [], "before": {}}))
    import torch
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(5000)}, str(out / "state.safetensors"))
    data = (out / "state.safetensors").read_bytes()
    (out / "state.safetensors").write_bytes(data[: len(data) // 2])
    rc, _, err = run(capsys, *args)
    assert rc != 0 and "state.safetensors" in one_line_error(err)


def test_malformed_pipeline_config_names_the_file(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rounds: [1, 2\nstages: x")
    rc, _, err = run(capsys, "compress", "demo", "--pipeline", bad, "--data", DEMO_DATA,
                     "--out", tmp_path / "o")
    assert rc != 0 and "bad.yaml" in one_line_error(err)
    typo = tmp_path / "typo.yaml"
    typo.write_text("roundz: 3\n")
    rc, _, err = run(capsys, "compress", "demo", "--pipeline", typo, "--data", DEMO_DATA,
                     "--out", tmp_path / "o")
    assert rc != 0 and "roundz" in one_line_error(err)


def test_compress_with_a_teacher_it_cannot_learn_from_is_one_line_and_writes_nothing(
    capsys, tmp_path
):
    from secomp.io.modelio import save_model
    from secomp.models import build_model

    small = build_model("crn", channels=(2, 4), lstm_hidden=8, lstm_layers=1)
    other = save_model(small, tmp_path / "t.safetensors")
    out = tmp_path / "o"
    rc, _, err = run(capsys, "compress", "demo", "--pipeline", "demo", "--data", DEMO_DATA,
                     "--out", out, f"teacher={other}", "distill=5")
    line = one_line_error(err)
    assert rc != 0 and "t.safetensors" in line and "architecture" in line
    assert not out.exists()


def test_forged_artifact_in_info_is_one_line(capsys, tmp_path):
    """Forged files with a recomputed checksum: a header that is a JSON list (the old reader
    raised AttributeError, a traceback in `secomp info`) and a tensor table declaring 4 GiB."""
    import hashlib
    import struct

    from secomp.io.format import MAGIC

    def forged(header) -> Path:
        hb = json.dumps(header).encode()
        body = MAGIC + struct.pack("<I", len(hb)) + hb + b"\0" * 4
        path = tmp_path / "forged.secomp"
        path.write_bytes(body + hashlib.sha256(body).digest())
        return path

    rc, _, err = run(capsys, "info", forged([1]))
    assert rc != 0 and "forged.secomp" in one_line_error(err)
    huge = {"format_version": 1, "config": {"arch": "crn", "hparams": {}},
            "tensors": [{"name": "w", "shape": [1 << 30], "dtype": "float32", "enc": "codebook",
                         "nnz": 1 << 30, "k": 1, "streams": [[0, 4], [4, 0]],
                         "indices": {"coder": "packed", "bits": 1, "count": 1 << 30}}]}
    rc, _, err = run(capsys, "info", forged(huge))
    assert rc != 0 and "more than this format allows" in one_line_error(err)


def test_debug_shows_the_traceback_and_version(capsys, tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model")
    rc, _, err = run(capsys, "info", junk)
    assert rc == 2 and "junk.safetensors" in one_line_error(err)
    with pytest.raises(Exception, match="junk.safetensors"):
        main(["--debug", "info", str(junk)])
    capsys.readouterr()
    rc, o, _ = run(capsys, "--version")
    from secomp import __version__

    assert rc == 0 and o.strip() == f"secomp {__version__}"


def test_every_option_has_help_text():
    import argparse

    from secomp.cli import build_parser

    missing = []

    def walk(p: argparse.ArgumentParser, name: str) -> None:
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for sub, sp in a.choices.items():
                    walk(sp, sub)
            elif a.help is None and a.dest != "help":
                missing.append(f"{name} {'/'.join(a.option_strings) or a.dest}")

    walk(build_parser(), "secomp")
    assert missing == []


def test_demo_default_output_is_a_new_temporary_folder():
    from secomp.cli import build_parser

    a = build_parser().parse_args(["demo"])
    assert a.out is None  # cmd_demo then makes one with tempfile.mkdtemp


# ----------------------------------------------------------------------------- packaging


def test_onnx_extra_is_part_of_the_test_extra_and_installed():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = meta["optional-dependencies"]
    assert {"onnx", "onnxruntime"} <= {d.split(">")[0] for d in extras["onnx"]}
    assert any(d.startswith("secomp[") and "onnx" in d for d in extras["test"])
    import onnx  # noqa: F401  (not importorskip: the ONNX tests must not be skipped silently)
    import onnxruntime  # noqa: F401


def test_wheel_has_the_presets_and_works_from_another_folder(tmp_path):
    """Build the wheel from a copy of the sources, install it (no dependencies: they come from
    this environment) into a fresh venv, and use it from a folder with no configs/ in it."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "secomp", src / "secomp",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", str(src), "-w",
                    str(tmp_path / "dist")], check=True, capture_output=True, env=env)
    wheel = next((tmp_path / "dist").glob("secomp-*.whl"))
    venv = tmp_path / "venv"
    # no pip of its own (seconds saved): this environment's pip installs into it
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages",
                    str(venv)], check=True, env=env)
    py = venv / "bin" / "python"
    subprocess.run([*pip, "--python", str(py), "install", "--no-deps", str(wheel)],
                   check=True, capture_output=True, env=env)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = subprocess.run([str(venv / "bin" / "secomp"), "compress", "--help"], cwd=elsewhere,
                       capture_output=True, text=True, env=env)
    text = " ".join(r.stdout.split())  # argparse wraps help lines at the terminal width
    assert r.returncode == 0 and "bundled preset (c1, c2," in text and "demo)" in text, r.stderr
    code = (
        "import secomp, sys\n"
        "from secomp.compress.presets import load_pipeline\n"
        "assert 'site-packages' in secomp.__file__, secomp.__file__\n"
        "for n in ('c1', 'c2', 'demo'):\n"
        "    path, raw, cfg = load_pipeline(n)\n"
        "    print(n, path.name, cfg.rounds)\n"
    )
    r = subprocess.run([str(py), "-c", code], cwd=elsewhere, capture_output=True, text=True,
                       env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert [ln.split()[0] for ln in r.stdout.splitlines()] == ["c1", "c2", "demo"]


# ----------------------------------------------------------------------------- no reference


def test_dnsmos_scores_real_recordings_without_a_reference(tmp_path):
    """DNSMOS P.835 (speechmos's ONNX model, onnxruntime, offline) on a real utterance: its
    background score drops when a real noise is mixed in at 0 dB; a bad file is listed and
    the others are scored."""
    pytest.importorskip("speechmos")  # the [dnsmos] extra, part of [test]
    from secomp.audio import load_audio
    from secomp.evaluate import dnsmos, dnsmos_session, evaluate_dnsmos

    clean = load_audio(sorted((DEMO_DATA / "speech" / "test").rglob("*.flac"))[0])
    noise = load_audio(DEMO_DATA / "noise" / "train" / "sc_doing_the_dishes.flac")
    noise = np.resize(noise, len(clean))
    noisy = clean + noise * np.sqrt(np.mean(clean**2) / np.mean(noise**2))
    session = dnsmos_session()
    c, n = dnsmos(clean, session), dnsmos(noisy / np.abs(noisy).max() * 0.9, session)
    assert all(1.0 <= v <= 5.0 for v in (*c.values(), *n.values()))
    assert c["bak"] > n["bak"] + 0.5 and c["ovrl"] > n["ovrl"], (c, n)
    sf.write(tmp_path / "mix.flac", noisy / np.abs(noisy).max() * 0.9, 16000)
    (tmp_path / "bad.flac").write_bytes(b"not audio")
    summary, rows = evaluate_dnsmos(None, sorted(tmp_path.glob("*.flac")), progress=False)
    assert summary["n"] == 1 and len(summary["failed"]) == 1
    assert summary["noisy"]["bak"] == pytest.approx(n["bak"], abs=0.05)  # FLAC rounding only


# ----------------------------------------------------------------------------- threads, progress


def test_threads_default_and_progress_inside_a_long_file(capsys, tmp_path):
    import torch

    from secomp.cli import default_threads, set_threads
    from secomp.enhance import enhance_file
    from secomp.io.modelio import load_model

    cores = len(os.sched_getaffinity(0))
    assert 1 <= default_threads() <= cores
    before = torch.get_num_threads()
    try:
        assert set_threads(1) == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    src = tmp_path / "long.flac"
    sf.write(src, speech(4.0), 16000)
    capsys.readouterr()
    enhance_file(load_model("demo"), src, tmp_path / "out.flac", chunk_s=1.0, context_s=0.5,
                 progress=True)
    err = capsys.readouterr().err
    assert "long.flac" in err and "4/4" in err  # seconds done of the file, not files done


def test_safetensors_with_a_forged_config_is_refused_before_building(capsys, tmp_path):
    """A model file whose config asks for a 100,000-unit LSTM beside the demo's weights: the
    old loader built (allocated) that model before noticing the weights do not fit."""
    import time

    path = _model_with_hparams(tmp_path, {"lstm_hidden": 100_000})
    t = time.perf_counter()
    rc, _, err = run(capsys, "info", path)
    line = one_line_error(err)
    assert rc != 0 and "typo.safetensors" in line and "config" in line
    assert time.perf_counter() - t < 5
