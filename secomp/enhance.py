"""Running a model on audio of any length with bounded memory.

Long inputs are processed in overlapping chunks: each chunk is given `context_s` seconds of the
preceding audio (so recurrent state and receptive fields warm up), and only its new part is kept.
Because every model is causal, the kept part of a chunk equals what a full-length pass would give
once the context is longer than the model's effective memory; chunks are joined with a short
linear cross-fade to hide any residual difference.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .audio import SAMPLE_RATE


@torch.inference_mode()
def enhance_array(
    model: nn.Module,
    x: np.ndarray,
    chunk_s: float = 30.0,
    context_s: float = 2.0,
    fade_s: float = 0.05,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Enhance one mono 16 kHz signal; memory is O(chunk), not O(length)."""
    model.eval()
    n = len(x)
    chunk, ctx, fade = (int(s * SAMPLE_RATE) for s in (chunk_s, context_s, fade_s))
    if n <= chunk + ctx:
        y = model(torch.from_numpy(x)[None].to(device))[0]
        return y.cpu().numpy().astype(np.float32)
    out = np.zeros(n, np.float32)
    start = 0
    while start < n:
        stop = min(n, start + chunk)
        lo = max(0, start - ctx)
        seg = model(torch.from_numpy(x[lo:stop].copy())[None].to(device))[0].cpu().numpy()
        new = seg[start - lo :]
        if start == 0:
            out[start:stop] = new
        else:
            f = min(fade, start - lo, len(new))
            ramp = np.linspace(0.0, 1.0, f, dtype=np.float32)
            # the last f samples before `start` were already written; blend them with this pass
            prev = seg[start - lo - f : start - lo]
            out[start - f : start] = out[start - f : start] * (1 - ramp) + prev * ramp
            out[start:stop] = new
        start = stop
    return out
