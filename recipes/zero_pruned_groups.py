"""Zero the biases of pruned channel groups in a compressed model file written before the Q
stage kept them at zero (secomp/compress/pipeline.py, _quantization), so that slimming can
remove those channels and units; the codebooks of the weights are untouched.

    python recipes/zero_pruned_groups.py runs/gcrn-v6-c2-fast/model.secomp OUT.secomp

Changes the output where such a bias had drifted from zero: evaluate the result again on the
valid split (recipes/select_v5.sh) before using it.
"""

from __future__ import annotations

import argparse

import torch

from secomp.compress.groups import prunable_tensors, zero_pruned_groups
from secomp.io.format import save_artifact
from secomp.io.modelio import load_model
from secomp.structure import default_example


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model")
    p.add_argument("output")
    a = p.parse_args()
    model = load_model(a.model).eval()
    probe = default_example(model, seconds=1.0)
    with torch.inference_mode():
        before = model(probe)
    changed = zero_pruned_groups(model, default_example(model))
    with torch.inference_mode():
        diff = float((model(probe) - before).abs().max())
    size = save_artifact(model, a.output, prunable_tensors(model))
    nonzero = sum(int((p != 0).sum()) for p in model.parameters())
    print(f"{changed:,} values zeroed; max |output change| {diff:.2e} on 1 s of noise; "
          f"{nonzero:,} non-zero; wrote {a.output} ({size:,} bytes)")


if __name__ == "__main__":
    main()
