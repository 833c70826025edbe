"""Re-encode .secomp files in place with the current writer (e.g. range coding, when they were
written on a machine without `constriction`; a version-1 file becomes version 2, its header
compressed, float16-exact tensors `half`). Lossless: checks every tensor is bit-identical
afterwards.

    python recipes/reencode_artifacts.py models/*.secomp
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from secomp.compress.groups import prunable_tensors
from secomp.io.format import load_artifact, read_artifact, save_artifact

for name in sys.argv[1:]:
    path = Path(name)
    before = path.read_bytes()
    _, state0 = read_artifact(before, name)
    model = load_artifact(path)
    n = save_artifact(model, path, prunable_tensors(model))
    _, state1 = read_artifact(path.read_bytes(), name)
    assert all(torch.equal(state0[k], state1[k]) for k in state0), f"{name}: not lossless"
    print(f"{name}: {len(before):,} -> {n:,} bytes, tensors identical")
