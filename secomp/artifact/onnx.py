"""ONNX export of a model's network (`core`), checked against PyTorch with onnxruntime.

The exported graph is what each model computes between its front end and back end: magnitude
[B, T, 161] -> magnitude (LSTM, CRN), real/imaginary [B, 2, T, 161] -> same (GCRN), waveform
[B, N] -> waveform (TCNN), with batch and time dynamic. The STFT and inverse STFT of the spectral
models (secomp.stft: 320-sample Hamming window, hop 160) stay outside the graph, in the caller's
runtime. Streaming export with recurrent state as inputs/outputs is not implemented yet.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..models.base import ComplexModel, MagnitudeModel, TimeModel
from ..stft import N_BINS


class _Core(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.core(x)


def example_input(model: nn.Module, frames: int = 100, batch: int = 1) -> torch.Tensor:
    """A real-valued input of the right layout (uniform noise; magnitudes are non-negative)."""
    g = torch.Generator().manual_seed(0)
    if isinstance(model, MagnitudeModel):
        return torch.rand(batch, frames, N_BINS, generator=g)
    if isinstance(model, ComplexModel):
        return torch.randn(batch, 2, frames, N_BINS, generator=g) * 0.5
    if isinstance(model, TimeModel):
        return torch.randn(batch, frames * 160, generator=g) * 0.1
    raise TypeError(f"{type(model).__name__}: not a MagnitudeModel, ComplexModel or TimeModel")


def export_onnx(model: nn.Module, path: str | Path, opset: int = 18) -> Path:
    """Write `model.core` as ONNX with dynamic batch and time axes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    x = example_input(model)
    time_axis = x.dim() - 1 if isinstance(model, TimeModel) else x.dim() - 2
    tmp = path.with_name(path.name + ".part")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Core(model),
            (x,),
            str(tmp),
            dynamo=False,
            opset_version=opset,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={
                "input": {0: "batch", time_axis: "time"},
                "output": {0: "batch", time_axis: "time"},
            },
        )
    tmp.replace(path)
    return path


def onnx_parity(model: nn.Module, path: str | Path, frames: tuple[int, ...] = (37, 250)) -> float:
    """Max |onnxruntime - PyTorch| over inputs of several lengths (not the export length)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for t in frames:
        x = example_input(model, t, batch=2)
        with torch.inference_mode():
            ref = model.eval().core(x).numpy()
        got = sess.run(None, {"input": x.numpy()})[0]
        worst = max(worst, float(np.abs(got - ref).max()))
    return worst
