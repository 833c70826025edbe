"""ONNX export of a model's network (`core`), checked against PyTorch with onnxruntime.

The exported graph is what each model computes between its front end and back end: magnitude
[B, T, 161] -> magnitude (LSTM, CRN), real/imaginary [B, 2, T, 161] -> same (GCRN), waveform
[B, N] -> waveform (TCNN), with batch and time dynamic. The STFT and inverse STFT of the spectral
models (secomp.stft: 320-sample Hamming window, hop 160) stay outside the graph, in the caller's
runtime.

Streaming export (`export_onnx_streaming`, every zoo model and its slimmed forms: the model's
`stream_step`): inputs `input` (one hop's frame, or a chunk of frames) and the model's state
(recurrent h/c, the cached previous input frame of each causal convolution, TCNN's dilated
convolution caches), outputs `output` and `<state>_out`. A caller feeds each hop with the
previous hop's state (zeros first) and gets what the whole-utterance graph gives. The STFT,
overlap-add and level normaliser stay outside, as in secomp.stream.Streamer; the state layout
is in docs/format.md.
"""

from __future__ import annotations

import logging
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
    if hasattr(model, "example_core_input"):  # a model that says its own layout (separation)
        return model.example_core_input(frames, batch, g)
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
            _Core(model).eval(),  # export restores the wrapper's mode on the model too
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


def stream_example(model: nn.Module, frames: int = 1, batch: int = 1) -> torch.Tensor:
    """An input of `stream_step`'s layout: magnitude [B, T, 161], real/imaginary [B, 2, T, 161],
    or TCNN waveform frames [B, T, 320] (uniform/normal noise)."""
    if isinstance(model, TimeModel):
        g = torch.Generator().manual_seed(0)
        return torch.randn(batch, frames, 320, generator=g) * 0.1
    return example_input(model, frames, batch)


def stream_time_axis(model: nn.Module) -> int:
    return 2 if isinstance(model, ComplexModel) else 1


def stream_state_layout(model: nn.Module) -> dict[str, tuple[tuple[int, ...], int]]:
    """State name -> (shape at batch 1, batch axis), in the order of the graph's inputs."""
    from ..models.causal import initial_state

    one = initial_state(model, stream_example(model, 1, 1))
    two = initial_state(model, stream_example(model, 1, 2))
    layout = {}
    for name, t in one.items():
        axes = [a for a, (p, q) in enumerate(zip(t.shape, two[name].shape)) if p != q]
        layout[name] = (tuple(t.shape), axes[0])
    return layout


class _Step(nn.Module):
    def __init__(self, model: nn.Module, names: list[str]):
        super().__init__()
        self.model = model
        self.names = names

    def forward(self, x: torch.Tensor, *state: torch.Tensor):
        y, new = self.model.stream_step(x, dict(zip(self.names, state)))
        return (y, *(new[n] for n in self.names))


def export_onnx_streaming(
    model: nn.Module, path: str | Path, opset: int = 18, int8: bool = False
) -> Path:
    """Write `model.stream_step` as ONNX: (frames, *state) -> (output, *state_out), one call per
    hop (or per chunk of frames: batch and time are dynamic). Inputs: `input` (stream_example
    layout) and one tensor per state entry named as in `stream_state_layout` (LSTM model: `h`,
    `c`); outputs `output` and `<name>_out`. Zeros are the state before the first frame. Raises
    TypeError for models without `stream_step`.

    int8: onnxruntime's dynamic quantization (`quantize_dynamic`, signed int8 weights): MatMul,
    Gemm, LSTM and convolutions compute on int8, the activations quantized to int8 on every
    call with a scale from their own range (no calibration data). Inputs, outputs and state
    stay float32, so the graph's interface is the float one."""
    if not hasattr(model, "stream_step"):
        raise TypeError(
            f"{type(model).__name__}: streaming export needs a model with stream_step "
            "(the zoo models LSTM, CRN, GCRN, TCNN and their slimmed forms)"
        )
    from ..models.causal import initial_state

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    x = stream_example(model, frames=3)
    state = initial_state(model, x[..., :1, :])
    layout = stream_state_layout(model)
    names = list(state)
    time_axis = stream_time_axis(model)
    axes = {"input": {0: "batch", time_axis: "time"}, "output": {0: "batch", time_axis: "time"}}
    for n in names:
        axes[n] = axes[f"{n}_out"] = {layout[n][1]: "batch"}
    tmp = path.with_name(path.name + ".part")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Step(model, names).eval(),  # export restores the wrapper's mode on the model too
            (x, *state.values()),
            str(tmp),
            dynamo=False,
            opset_version=opset,
            input_names=["input", *names],
            output_names=["output", *(f"{n}_out" for n in names)],
            dynamic_axes=axes,
        )
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        fp32 = tmp.with_name(tmp.name + ".fp32")
        tmp.replace(fp32)
        # quantize_dynamic logs advice through the root logger, which (without handlers)
        # logging.basicConfig would give a handler for good: keep level and handlers as found
        root = logging.getLogger()
        level, handlers = root.level, root.handlers[:]
        root.setLevel(logging.ERROR)
        if not handlers:
            root.addHandler(logging.NullHandler())
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            root.setLevel(level)
            root.handlers[:] = handlers
            fp32.unlink(missing_ok=True)
    tmp.replace(path)
    return path


def streaming_parity(
    model: nn.Module, path: str | Path, frames: int = 120, chunks: tuple[int, ...] = (1, 7)
) -> float:
    """Max |onnxruntime fed chunk by chunk (state carried) - PyTorch| over the chunk lengths
    given, against both the PyTorch `stream_step` fed the same chunks and the whole input in
    one pass (`core` for the spectral models; one `stream_step` call for TCNN frames)."""
    import onnxruntime as ort

    from ..models.causal import initial_state

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1  # many tiny calls: no thread pool
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    model = model.eval()
    x = stream_example(model, frames, batch=2)
    ax = stream_time_axis(model)
    with torch.inference_mode():
        if isinstance(model, TimeModel):
            whole = model.stream_step(x, None)[0].numpy()
        else:
            whole = model.core(x).numpy()
    worst = 0.0
    for chunk in chunks:
        state = {k: v.numpy() for k, v in initial_state(model, x.narrow(ax, 0, 1)).items()}
        torch_state = None
        got, ref = [], []
        for t in range(0, frames, chunk):
            xi = x.narrow(ax, t, min(chunk, frames - t))
            y, *new = sess.run(None, {"input": xi.numpy(), **state})
            state = dict(zip(state, new))
            got.append(y)
            with torch.inference_mode():
                y_ref, torch_state = model.stream_step(xi, torch_state)
            ref.append(y_ref.numpy())
        got_all = np.concatenate(got, ax)
        worst = max(
            worst,
            float(np.abs(got_all - np.concatenate(ref, ax)).max()),
            float(np.abs(got_all - whole).max()),
        )
    return worst
