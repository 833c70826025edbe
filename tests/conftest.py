from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DEMO_DATA = Path(__file__).resolve().parents[1] / "secomp" / "assets" / "demo_data"


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED / "speech.csv").exists():
        pytest.skip(f"shared corpus not found at {SHARED} (CI has it)")
    return SHARED


@pytest.fixture
def demo_data() -> Path:
    return DEMO_DATA


@pytest.fixture
def speech_file(demo_data) -> Path:
    return sorted((demo_data / "speech" / "test").rglob("*.flac"))[0]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def run_secomp(
    args: list[str], popen: bool = False, nproc: int = 1, timeout: float = 900, check: bool = True
):
    """Run `secomp ARGS` in a subprocess (one thread per process; `nproc` > 1: under torchrun
    with the gloo backend). popen: return the running process; else return the completed one,
    asserting success unless check=False."""
    import os
    import subprocess
    import sys

    cmd = [sys.executable, "-m"]
    if nproc > 1:
        cmd += ["torch.distributed.run", f"--nproc_per_node={nproc}", "--master_port=29533", "-m"]
    cmd += ["secomp.cli", *map(str, args)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if popen:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    assert not check or r.returncode == 0, r.stderr[-3000:]
    return r
