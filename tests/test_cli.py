"""Command-line round trips on real files."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from secomp.audio import load_audio


def secomp(*args, check=True):
    r = subprocess.run(
        [sys.executable, "-m", "secomp.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if check:
        assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.fixture(scope="module")
def testset(tmp_path_factory):
    from secomp.data import make_testset
    from tests.conftest import DEMO_DATA

    out = tmp_path_factory.mktemp("ts")
    make_testset(
        DEMO_DATA / "speech" / "test",
        DEMO_DATA / "noise" / "train",
        out,
        [-5, 0, 5],
        6,
        seed=0,
        progress=False,
    )
    return out


def test_make_testset_cli_from_shared_test_split(shared_data, tmp_path):
    secomp(
        "make-testset",
        "--speech",
        shared_data / "speech" / "test",
        "--noise",
        shared_data / "noise" / "test",
        "--babble",
        shared_data / "speech" / "babble",
        "--snr",
        -5,
        0,
        5,
        "--n",
        3,
        "--seed",
        1,
        "--out",
        tmp_path,
        "--quiet",
    )
    assert len(list(tmp_path.glob("*_noisy.flac"))) == 3


def test_evaluate_identity_and_demo(testset, tmp_path):
    secomp(
        "evaluate",
        "identity",
        "--pairs",
        testset,
        "--json",
        tmp_path / "id.json",
        "--csv",
        tmp_path / "id.csv",
        "--jobs",
        2,
        "--quiet",
    )
    ident = json.loads((tmp_path / "id.json").read_text())
    assert ident["n"] == 6 and set(ident["by_snr"]) == {"-5", "0", "5"}
    assert ident["noisy"]["pesq"] == pytest.approx(ident["enhanced"]["pesq"])
    r = secomp(
        "evaluate",
        "demo",
        "--pairs",
        testset / "manifest.csv",
        "--json",
        tmp_path / "demo.json",
        "--jobs",
        1,
        "--quiet",
    )
    demo = json.loads((tmp_path / "demo.json").read_text())
    for k in ("stoi", "pesq", "si_sdr"):
        assert k in demo["noisy"] and k in demo["enhanced"] and k in demo["by_snr"]["0"]["enhanced"]
    assert demo["enhanced"]["si_sdr"] > demo["noisy"]["si_sdr"]
    assert "all" in r.stdout
    lines = (tmp_path / "id.csv").read_text().splitlines()
    assert len(lines) == 7 and "noisy_pesq" in lines[0]


def test_evaluate_reports_bad_file_and_continues(testset, tmp_path):
    man = (testset / "manifest.csv").read_text().splitlines()
    (tmp_path / "broken.flac").write_bytes(b"not audio")
    import shutil

    for f in testset.glob("0000[01]_*.flac"):
        shutil.copy(f, tmp_path / f.name)
    rows = [man[0], man[1], man[2], "x,broken.flac,broken.flac,s,n,0"]
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    r = secomp(
        "evaluate",
        "identity",
        "--pairs",
        tmp_path / "manifest.csv",
        "--json",
        tmp_path / "o.json",
        "--jobs",
        1,
        "--quiet",
        check=False,
    )
    assert r.returncode == 1, r.stderr[-2000:]  # others scored; the exit code says one failed
    out = json.loads((tmp_path / "o.json").read_text())
    assert (
        out["n"] == 2
        and out["failed"][0]["id"] == "x"
        and "broken.flac" in out["failed"][0]["reason"]
    )


def test_enhance_files_folders_and_long_audio(testset, tmp_path):
    secomp("enhance", "demo", testset, "-o", tmp_path / "o", "--quiet")
    outs = sorted((tmp_path / "o").glob("*.flac"))
    assert len(outs) == 12
    # refuses to overwrite an existing output, and never its input
    r = secomp("enhance", "demo", testset / "00000_noisy.flac", "-o", outs[0], check=False)
    assert r.returncode != 0 and "overwrite" in r.stderr


def test_enhancement_does_not_depend_on_input_level(testset):
    from secomp.enhance import enhance_array
    from secomp.io.modelio import load_model

    model = load_model("demo")
    x = load_audio(sorted(testset.glob("*_noisy.flac"))[0])
    loud, quiet = enhance_array(model, x), enhance_array(model, x * 0.01)
    np.testing.assert_allclose(quiet * 100, loud, atol=1e-4 * np.abs(loud).max())


def test_chunked_enhancement_matches_full_pass(testset):
    from secomp.enhance import enhance_array
    from secomp.io.modelio import load_model

    model = load_model("demo")
    x = np.concatenate([load_audio(p) for p in sorted(testset.glob("*_noisy.flac"))])
    full = enhance_array(model, x, chunk_s=1e9)
    chunked = enhance_array(model, x, chunk_s=3.0, context_s=10.0)
    assert chunked.shape == full.shape
    err = np.abs(chunked - full)
    assert np.sqrt(np.mean(err**2)) < 0.02 * np.sqrt(np.mean(full**2))


def test_info_json_and_bad_model_file(tmp_path):
    r = secomp("info", "demo", "--json")
    info = json.loads(r.stdout)
    assert info["params"] == info["nonzero_params"] and info["file_bytes"] > 0
    assert info["dense_fp32_bytes"] == 4 * info["params"]
    (tmp_path / "bad.safetensors").write_bytes(b"\x01\x02")
    r = secomp("info", tmp_path / "bad.safetensors", check=False)
    assert r.returncode == 2 and "bad.safetensors" in r.stderr and "Traceback" not in r.stderr


def test_multichannel_needs_downmix(tmp_path, rng):
    sf.write(tmp_path / "st.wav", rng.uniform(-0.3, 0.3, (16000, 2)), 16000)
    r = secomp("enhance", "demo", tmp_path / "st.wav", "-o", tmp_path / "o.flac", check=False)
    assert r.returncode == 1 and "2 channels" in r.stderr
    secomp("enhance", "demo", tmp_path / "st.wav", "-o", tmp_path / "o2.flac", "--downmix")
    assert load_audio(tmp_path / "o2.flac", check=False).shape == (16000,)


def test_streamed_file_equals_in_memory_and_bad_file_leaves_nothing(testset, tmp_path):
    from secomp.enhance import enhance_array, enhance_file
    from secomp.io.modelio import load_model

    model = load_model("demo")
    x = np.concatenate([load_audio(p) for p in sorted(testset.glob("*_noisy.flac"))])
    sf.write(tmp_path / "long.wav", x, 16000, subtype="FLOAT")
    enhance_file(model, tmp_path / "long.wav", tmp_path / "out.wav", chunk_s=3.0, context_s=2.0)
    streamed = load_audio(tmp_path / "out.wav", check=False)
    in_memory = enhance_array(model, x, chunk_s=3.0, context_s=2.0)
    assert streamed.shape == in_memory.shape
    assert np.abs(streamed - np.clip(in_memory, -1, 1)).max() <= 1.5 / 32768
    x[len(x) // 2] = np.nan
    sf.write(tmp_path / "nan.wav", x, 16000, subtype="FLOAT")
    with pytest.raises(Exception, match="NaN"):
        enhance_file(model, tmp_path / "nan.wav", tmp_path / "nan_out.flac", chunk_s=3.0)
    assert not list(tmp_path.glob("nan_out*"))
