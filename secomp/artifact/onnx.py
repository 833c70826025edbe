"""ONNX export of a model's network (`core`), checked against PyTorch with onnxruntime.

The exported graph is what each model computes between its front end and back end: magnitude
[B, T, 161] -> magnitude (LSTM, CRN), real/imaginary [B, 2, T, 161] -> same (GCRN), waveform
[B, N] -> waveform (TCNN), with batch and time dynamic. The STFT and inverse STFT of the spectral
models (secomp.stft: 320-sample Hamming window, hop 160) stay outside the graph, in the caller's
runtime.

Streaming export (`export_onnx_streaming`, models with `initial_state`/`core_step`: the LSTM
model): inputs `input` (a chunk of frames, any length), `h`, `c`; outputs `output`, `h_out`,
`c_out`. A caller feeds each chunk with the previous chunk's state (zeros first) and gets what
the whole-utterance graph gives. CRN and GCRN would also need caches of the previous frame of
every causal convolution; they are not exported this way yet.
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


class _Step(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        return self.model.core_step(x, h, c)


def export_onnx_streaming(model: nn.Module, path: str | Path, opset: int = 18) -> Path:
    """Write `model.core_step` as ONNX: (frames, h, c) -> (estimate, h_out, c_out), with dynamic
    batch and chunk length. Raises TypeError for models without recurrent state."""
    if not hasattr(model, "core_step"):
        raise TypeError(
            f"{type(model).__name__}: streaming export needs a model with initial_state and "
            "core_step (the LSTM model); CRN/GCRN/TCNN export whole utterances only"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    x = example_input(model, frames=10)
    h, c = model.initial_state(1)
    tmp = path.with_name(path.name + ".part")
    state_axes = {1: "batch"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Step(model),
            (x, h, c),
            str(tmp),
            dynamo=False,
            opset_version=opset,
            input_names=["input", "h", "c"],
            output_names=["output", "h_out", "c_out"],
            dynamic_axes={
                "input": {0: "batch", 1: "time"},
                "output": {0: "batch", 1: "time"},
                "h": state_axes,
                "c": state_axes,
                "h_out": state_axes,
                "c_out": state_axes,
            },
        )
    tmp.replace(path)
    return path


def streaming_parity(
    model: nn.Module, path: str | Path, frames: int = 120, chunks: tuple[int, ...] = (1, 7)
) -> float:
    """Max |onnxruntime fed chunk by chunk (state carried) - PyTorch `core` on the whole input|
    over the chunk lengths given."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = example_input(model, frames, batch=2)
    with torch.inference_mode():
        ref = model.eval().core(x).numpy()
    worst = 0.0
    for chunk in chunks:
        h, c = (s.numpy() for s in model.initial_state(2))
        outs = []
        for t in range(0, frames, chunk):
            y, h, c = sess.run(None, {"input": x[:, t : t + chunk].numpy(), "h": h, "c": c})
            outs.append(y)
        worst = max(worst, float(np.abs(np.concatenate(outs, 1) - ref).max()))
    return worst
