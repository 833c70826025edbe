"""Multiply-accumulate operations to process a mixture (the paper's Table 3 counts 4 s).

Counted with forward hooks on one real pass, per layer: convolutions (output positions x kernel
weights; transposed: input positions x kernel weights), linear layers (rows x weights), and
LSTM/GRU (time steps x (W_ih + W_hh) weights per layer). `nonzero` counts only non-zero weights,
i.e. what a sparse kernel has to do. Element-wise work (gates, norms, activations) and the
STFT are not counted.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..audio import SAMPLE_RATE


def _weights(module: nn.Module) -> list[torch.Tensor]:
    if isinstance(module, nn.LSTM | nn.GRU):
        return [p for n, p in module.named_parameters() if n.startswith("weight_")]
    return [module.weight]


def count_macs(model: nn.Module, seconds: float = 4.0) -> dict:
    """{"dense": int, "nonzero": int, "layers": [{"name", "type", "dense", "nonzero"}]}."""
    rows: list[dict] = []
    hooks = []

    def hook(name: str):
        def fn(module, inputs, output):
            x = inputs[0]
            ws = _weights(module)
            dense = sum(w.numel() for w in ws)
            nz = sum(int((w != 0).sum()) for w in ws)
            if isinstance(module, nn.modules.conv._ConvTransposeNd):
                reps = math.prod(x.shape[2:]) * x.shape[0]
            elif isinstance(module, nn.modules.conv._ConvNd):
                out = output
                reps = math.prod(out.shape[2:]) * out.shape[0]
            elif isinstance(module, nn.Linear):
                reps = math.prod(x.shape[:-1])
            else:  # LSTM / GRU: one matrix-vector product per weight per step
                reps = x.shape[0] * x.shape[1] if module.batch_first else x.shape[1] * x.shape[0]
            rows.append(
                {
                    "name": name,
                    "type": type(module).__name__,
                    "dense": reps * dense,
                    "nonzero": reps * nz,
                }
            )

        return fn

    for name, m in model.named_modules():
        if isinstance(m, nn.modules.conv._ConvNd | nn.Linear | nn.LSTM | nn.GRU):
            hooks.append(m.register_forward_hook(hook(name)))
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
