import pytest
import torch

from secomp.io.modelio import load_model
from secomp.io.onnx import export_onnx, onnx_parity
from secomp.models import build_model

from .test_models import SMALL

pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("name", sorted(SMALL))
def test_export_parity_small_models(name, tmp_path):
    torch.manual_seed(0)
    model = build_model(name, **SMALL[name])
    path = export_onnx(model, tmp_path / f"{name}.onnx")
    assert onnx_parity(model, path) <= 1e-4


def test_export_parity_separation_model(tmp_path):
    """The separation network (its core takes [B, 3, T, F] features) exports like the others."""
    torch.manual_seed(0)
    model = build_model("sep", channels=[4, 8, 8, 8, 8], lstm_hidden=32)
    path = export_onnx(model, tmp_path / "sep.onnx")
    assert onnx_parity(model, path) <= 1e-4


def test_export_compressed_artifact(tmp_path):
    """The demo model pruned to half its weights and 4-bit k-means quantized, written as a
    .secomp file, loaded back and exported: the export is of the compressed weights."""
    from secomp.compress.groups import prunable_tensors
    from secomp.compress.prune import prune_mask
    from secomp.compress.quantize import quantize_model
    from secomp.io.format import save_artifact

    model = load_model("demo")
    tensors = prunable_tensors(model)
    params = dict(model.named_parameters())
    with torch.no_grad():
        masks = {}
        for t in tensors:
            w = params[t.name]
            masks[t.name] = prune_mask(t, w, torch.ones_like(w, dtype=torch.bool), 0.5, False)
            w.mul_(masks[t.name])
    quantize_model(model, tensors, masks, default_bits=4)
    art = tmp_path / "demo-c1.secomp"
    size = save_artifact(model, art, tensors)
    compressed = load_model(art)
    dense_bytes = 4 * sum(p.numel() for p in compressed.parameters())
    assert size < dense_bytes / 4
    w = dict(compressed.named_parameters())[tensors[0].name]
    assert torch.unique(w[w != 0]).numel() <= 16 and (w == 0).float().mean() >= 0.5
    path = export_onnx(compressed, tmp_path / "demo-c1.onnx")
    assert onnx_parity(compressed, path) <= 1e-4


def test_streaming_export_carries_lstm_state(tmp_path):
    """The LSTM model exported with its state as inputs/outputs: fed 1 and 7 frames at a time,
    onnxruntime reproduces the whole-utterance output; chunks without the carried state do
    not (so the state really flows through the graph)."""
    import numpy as np
    import onnxruntime as ort

    from secomp.io.onnx import example_input, export_onnx_streaming, streaming_parity

    torch.manual_seed(0)
    model = build_model("lstm", **SMALL["lstm"]).eval()
    path = export_onnx_streaming(model, tmp_path / "lstm-stream.onnx")
    assert streaming_parity(model, path, frames=60) <= 1e-4
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = example_input(model, 20)
    h, c = (s.numpy() for s in model.initial_state(1))
    second_fresh = sess.run(None, {"input": x[:, 10:].numpy(), "h": h, "c": c})[0]
    with torch.inference_mode():
        whole = model.core(x)[:, 10:].numpy()
    assert np.abs(second_fresh - whole).max() > 1e-3


def test_streaming_export_refuses_models_without_state(tmp_path):
    from secomp.io.onnx import export_onnx_streaming
    from secomp.models.base import MagnitudeModel

    class NoStream(MagnitudeModel):
        def core(self, mag):
            return mag

    with pytest.raises(TypeError, match="stream_step"):
        export_onnx_streaming(NoStream(), tmp_path / "x.onnx")


def test_export_cli_streaming(tmp_path):
    from secomp.io.modelio import save_model

    from .conftest import run_secomp

    save_model(build_model("lstm", **SMALL["lstm"]), tmp_path / "lstm.safetensors")
    out = run_secomp(
        [
            "export",
            str(tmp_path / "lstm.safetensors"),
            "--onnx",
            str(tmp_path / "s.onnx"),
            "--streaming",
        ]
    )
    assert "1 and 7 frames" in out.stdout and (tmp_path / "s.onnx").exists()
    crn = run_secomp(["export", "demo", "--onnx", str(tmp_path / "d.onnx"), "--streaming"])
    assert "state carried" in crn.stdout and (tmp_path / "d.onnx").exists()
