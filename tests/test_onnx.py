import pytest
import torch

from secomp.artifact.onnx import export_onnx, onnx_parity
from secomp.modelio import load_model
from secomp.models import build_model

from .test_models import SMALL

pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("name", sorted(SMALL))
def test_export_parity_small_models(name, tmp_path):
    torch.manual_seed(0)
    model = build_model(name, **SMALL[name])
    path = export_onnx(model, tmp_path / f"{name}.onnx")
    assert onnx_parity(model, path) <= 1e-4


def test_export_compressed_artifact(tmp_path):
    model = load_model("demo")
    path = export_onnx(model, tmp_path / "demo.onnx")
    assert onnx_parity(model, path) <= 1e-4
