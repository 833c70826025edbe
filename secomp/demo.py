"""The demo (`secomp demo`): the main job on the bundled demo data, on CPU, in a few minutes.

Makes a small test set from the bundled test speakers, compresses the bundled demo model with a
short C1 configuration (the bundled preset secomp/presets/demo.yaml) fine-tuned on the bundled
speech, evaluates base and compressed model on the test set and prints bytes, ratio, STOI and
PESQ. Everything it writes goes to `--out`, by default a new temporary folder (never the
current folder, which may be a source checkout). `demo_audio` is the bundled noisy utterance
the commands use when given no audio.
"""

from __future__ import annotations

from pathlib import Path

from .io.modelio import ASSETS, BUNDLED

DEMO_DATA = ASSETS / "demo_data"


def run_demo(out: str | Path, progress: bool = True, jobs: int | None = None) -> dict:
    from .compress.run import run_compress
    from .data import make_testset, read_pairs
    from .evaluate import evaluate
    from .io.modelio import load_model

    out = Path(out)
    testset = out / "testset"
    if not (testset / "manifest.csv").exists():
        make_testset(
            DEMO_DATA / "speech" / "test",
            DEMO_DATA / "noise" / "train",
            testset,
            [-5.0, 0.0, 5.0],
            24,
            seed=0,
            progress=progress,
        )
    summary = run_compress(
        "demo", "demo", str(DEMO_DATA), str(out / "compressed"), resume=True, progress=progress
    )
    pairs = read_pairs(testset)
    base, _ = evaluate(load_model("demo"), pairs, jobs, progress)
    comp, _ = evaluate(load_model(out / "compressed" / "model.secomp"), pairs, jobs, progress)
    base_bytes = BUNDLED["demo"].stat().st_size
    return {
        "base": base,
        "compressed": comp,
        "base_file_bytes": base_bytes,
        "dense_fp32_bytes": summary["before"]["dense_fp32_bytes"],
        "artifact_bytes": summary["artifact_bytes"],
        "artifact": summary["artifact"],
    }


def format_demo(r: dict) -> str:
    b, c = r["base"], r["compressed"]
    rows = [
        ("noisy input", "", "", b["noisy"]["stoi"], b["noisy"]["pesq"]),
        (
            "demo model (fp32)",
            f"{r['dense_fp32_bytes']:,}",
            "1.0x",
            b["enhanced"]["stoi"],
            b["enhanced"]["pesq"],
        ),
        (
            "compressed (C1)",
            f"{r['artifact_bytes']:,}",
            f"{r['dense_fp32_bytes'] / r['artifact_bytes']:.1f}x",
            c["enhanced"]["stoi"],
            c["enhanced"]["pesq"],
        ),
    ]
    lines = [f"{'':20} {'bytes':>10} {'ratio':>6} {'STOI':>6} {'PESQ':>6}"]
    lines += [f"{n:20} {by:>10} {ra:>6} {s:6.3f} {p:6.3f}" for n, by, ra, s, p in rows]
    lines.append(
        f"test set: {b['n']} mixtures of held-out test speakers at -5/0/5 dB; "
        f"compressed model: {r['artifact']}"
    )
    return "\n".join(lines)


def demo_audio():
    """A bundled test utterance mixed with a bundled real noise at 0 dB SNR."""
    import numpy as np
    import torch

    from .audio import load_audio
    from .data import mix_at_snr

    speech = load_audio(sorted((DEMO_DATA / "speech" / "test").rglob("*.flac"))[0])
    noise = load_audio(DEMO_DATA / "noise" / "train" / "sc_doing_the_dishes.flac")
    noise = torch.from_numpy(np.resize(noise, len(speech)))[None]
    return mix_at_snr(torch.from_numpy(speech)[None], noise, torch.zeros(1))[0].numpy()
