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
