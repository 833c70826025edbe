"""Multiply-accumulate operations to process a mixture (the paper's Table 3 counts 4 s).

Counted with forward hooks on one real pass, per layer, by the layer's handler
(secomp/structure/layers.py): convolutions (output positions x kernel weights; transposed:
input positions x kernel weights), linear layers (rows x weights), and LSTM/GRU (time steps x
(W_ih + W_hh) weights per layer). `nonzero` counts only non-zero weights, i.e. what a sparse
kernel has to do. Element-wise work (gates, norms, activations) and the STFT are not counted.
"""

from __future__ import annotations

import torch
from torch import nn

from ..audio import SAMPLE_RATE
from .layers import layer_handler


def count_macs(model: nn.Module, seconds: float = 4.0) -> dict:
    """{"dense": int, "nonzero": int, "layers": [{"name", "type", "dense", "nonzero"}]}."""
    rows: list[dict] = []
    hooks = []

    def hook(name: str, handler):
        def fn(module, inputs, output):
            dense, nonzero = handler.macs(module, inputs, output)
            rows.append(
                {"name": name, "type": type(module).__name__, "dense": dense, "nonzero": nonzero}
            )

        return fn

    for name, m in model.named_modules():
        h = layer_handler(m)
        if h is not None:
            hooks.append(m.register_forward_hook(hook(name, h)))
    was = model.training
    model.eval()
    try:
        with torch.inference_mode():
            x = torch.randn(1, int(seconds * SAMPLE_RATE), device=next(model.parameters()).device)
            model(x * 0.05)
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    return {
        "seconds": seconds,
        "dense": sum(r["dense"] for r in rows),
        "nonzero": sum(r["nonzero"] for r in rows),
        "layers": rows,
    }
