"""Structured slimming (issue 5): a model after structured pruning becomes a smaller dense model
with the same output, which saves, loads and exports like any other."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch

from secomp.audio import load_audio
from secomp.compress.groups import prunable_tensors
from secomp.compress.prune import prune_mask
from secomp.io.format import save_artifact
from secomp.io.modelio import load_model, save_model
from secomp.models import build_model
from secomp.models.base import MagnitudeModel
from secomp.structure.macs import count_macs
from secomp.structure.slim import SlimError, slim_model

from .conftest import run_secomp
from .test_models import SMALL

# the LSTM model gets 3 layers so that units die in a middle layer too
SLIMMABLE = {
    "crn": SMALL["crn"],
    "gcrn": SMALL["gcrn"],
    "lstm": {"hidden": 32, "layers": 3},
}


def structured_prune(model: torch.nn.Module, ratio: float, seed: int = 0) -> None:
    """Random weights, then the secomp pruner removes `ratio` of every tensor's groups
    (conv kernels, LSTM/linear columns), as one round of C2 would."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
        params = dict(model.named_parameters())
        for t in prunable_tensors(model):
            w = params[t.name]
            mask = prune_mask(t, w, torch.ones_like(w, dtype=torch.bool), ratio, structured=True)
            w.mul_(mask)
    model.eval()


@pytest.fixture
def noisy(speech_file) -> torch.Tensor:
    x = load_audio(speech_file)
    rng = np.random.default_rng(0)
    return torch.from_numpy(x + 0.05 * rng.standard_normal(len(x)).astype(np.float32))[None]


@pytest.mark.parametrize("name", sorted(SLIMMABLE))
def test_slim_matches_pruned_model(name, noisy, tmp_path):
    model = build_model(name, **SLIMMABLE[name])
    structured_prune(model, 0.6)
    slim, rows = slim_model(model)
    with torch.inference_mode():
        ref, out = model(noisy), slim(noisy)
    assert (ref - out).abs().max() <= 1e-5
    assert sum(p.numel() for p in slim.parameters()) < sum(p.numel() for p in model.parameters())
    assert count_macs(slim)["dense"] < count_macs(model)["dense"]
    assert rows and all(" -> " in r["inputs"] for r in rows)
    # the slim structure travels in the config: both file formats rebuild it
    save_model(slim, tmp_path / "slim.safetensors")
    save_artifact(slim, tmp_path / "slim.secomp", prunable_tensors(slim))
    for path in ("slim.safetensors", "slim.secomp"):
        loaded = load_model(tmp_path / path)
        with torch.inference_mode():
            assert torch.equal(loaded(noisy), out), path


def test_slim_removes_exactly_the_unread_units():
    """A 3-layer LSTM where unit 5 of layer 1 is read by nobody and unit 6 only by its own
    recurrence: 5 goes, 6 stays; an input feature nobody reads goes."""
    model = build_model("lstm", hidden=16, layers=3)
    with torch.no_grad():
        model.lstm.weight_hh_l1[:, 5] = 0
        model.lstm.weight_ih_l2[:, 5] = 0
        model.lstm.weight_ih_l2[:, 6] = 0
        model.lstm.weight_ih_l0[:, 3] = 0
    slim, _ = slim_model(model)
    spec = slim.slim["lstm"]
    assert spec["hidden"] == [16, 15, 16]
    assert 3 not in spec["in_index"][0] and len(spec["in_index"][0]) == 160
    x = torch.rand(1, 8000)
    with torch.inference_mode():
        assert (model(x) - slim(x)).abs().max() <= 1e-6


def test_slim_drops_unread_conv_inputs(noisy, tmp_path):
    """Input channels whose kernels are all zero leave Conv1d, Conv2d and ConvTranspose2d
    layers (the TCNN has all three; its depthwise convolutions are left alone)."""
    model = build_model("tcnn", **SMALL["tcnn"]).eval()
    torch.manual_seed(0)
    zeroed = {}
    with torch.no_grad():
        for kind in (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.ConvTranspose2d):
            name, conv = next(
                (n, m)
                for n, m in model.named_modules()
                if type(m) is kind and m.groups == 1 and m.weight.shape[1] > 2
            )
            in_dim = 0 if kind is torch.nn.ConvTranspose2d else 1
            drop = [0, 2] if conv.weight.shape[in_dim] > 2 else [0]
            conv.weight.index_fill_(in_dim, torch.tensor(drop), 0.0)
            zeroed[name] = conv.weight.shape[in_dim] - len(drop)
    slim, rows = slim_model(model)
    for name, kept in zeroed.items():
        assert len(slim.slim[name]["in_index"]) == kept, name
    # the decoder's unread inputs also leave the last residual block's outputs unread
    assert {r["name"] for r in rows} == set(zeroed) | {"tcm.5.out"}
    # (decoder.0 reads channels x 4 frequencies of the 32-feature stream; channels 0, 2 unread)
    unread = set(range(0, 4)) | set(range(8, 12))
    assert slim.slim["tcm.5.out"]["out_index"] == [c for c in range(32) if c not in unread]
    with torch.inference_mode():
        ref, out = model(noisy), slim(noisy)
    assert (ref - out).abs().max() <= 1e-5
    assert count_macs(slim)["dense"] < count_macs(model)["dense"]
    save_artifact(slim, tmp_path / "slim.secomp", prunable_tensors(slim))
    with torch.inference_mode():
        assert torch.equal(load_model(tmp_path / "slim.secomp")(noisy), out)


def test_unsupported_models_are_refused():
    with pytest.raises(SlimError, match="nothing to remove"):
        slim_model(build_model("tcnn", **SMALL["tcnn"]))
    model = build_model("lstm", hidden=8, layers=1)
    with pytest.raises(SlimError, match="nothing to remove"):
        slim_model(model)
    with torch.no_grad():
        model.lstm.weight_ih_l0[:, 0] = 0
    slim, _ = slim_model(model)
    with pytest.raises(SlimError, match="already"):
        slim_model(slim)


def test_slimmed_model_exports_to_onnx(noisy, tmp_path):
    pytest.importorskip("onnxruntime")
    from secomp.io.onnx import export_onnx, onnx_parity

    model = build_model("crn", **SMALL["crn"])
    structured_prune(model, 0.6)
    slim, _ = slim_model(model)
    path = export_onnx(slim, tmp_path / "slim.onnx")
    assert onnx_parity(slim, path) <= 1e-4


def test_slim_cli(tmp_path):
    model = build_model("crn", **SMALL["crn"])
    structured_prune(model, 0.6)
    save_model(model, tmp_path / "pruned.safetensors")
    args = ["slim", str(tmp_path / "pruned.safetensors"), "-o", str(tmp_path / "s.secomp")]
    r = run_secomp(args)
    assert "fewer" in r.stdout and (tmp_path / "s.secomp").exists()
    # info reports the slimmed MACs: of the slim file itself, and what slimming would leave
    # of the pruned file (the same number, below the pruned file's dense MACs)
    slim_macs = count_macs(load_model(tmp_path / "s.secomp"))["dense"]
    for path in ("s.secomp", "pruned.safetensors"):
        info = json.loads(run_secomp(["info", str(tmp_path / path), "--json"]).stdout)
        assert info["macs_4s"]["slimmed"] == slim_macs, path
    assert slim_macs < info["macs_4s"]["dense"] == count_macs(model)["dense"]
    again = run_secomp(args, check=False)
    assert again.returncode != 0 and "exists" in again.stderr


def test_in_channel_groups_let_slimming_cut_convolution_work(noisy):
    """With whole-input-channel groups (conv_grouping="in_channel"), pruning half of every
    convolution's groups lets slimming remove at least a third of the convolution MACs."""
    model = build_model("gcrn", **SMALL["gcrn"])
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
        params = dict(model.named_parameters())
        for t in prunable_tensors(model, conv_grouping="in_channel"):
            w = params[t.name]
            w.mul_(prune_mask(t, w, torch.ones_like(w, dtype=torch.bool), 0.5, structured=True))
    model.eval()
    slim, _ = slim_model(model)
    with torch.inference_mode():
        assert (model(noisy) - slim(noisy)).abs().max() <= 1e-5

    def conv_macs(m):
        return sum(r["dense"] for r in count_macs(m)["layers"] if "Conv" in r["type"])

    assert conv_macs(slim) <= 0.67 * conv_macs(model)


def _unread(conv: torch.nn.Module, channels: list[int], offset: int = 0) -> None:
    """Zero every kernel of `conv` that reads input channel offset + c, for c in channels."""
    in_dim = 0 if isinstance(conv, torch.nn.modules.conv._ConvTransposeNd) else 1
    with torch.no_grad():
        conv.weight.index_fill_(in_dim, torch.tensor([offset + c for c in channels]), 0.0)


def test_slim_drops_output_channels_nobody_reads(noisy, tmp_path):
    """GCRN: dec_real.0's output channels 0 and 2 go once dec_real.1 (conv and gate) reads
    neither; channel 1, read by the gate only, stays. CRN: encoder.1's channel 3 goes once
    encoder.2 and the skip into decoder.3 both stop reading it."""
    gcrn = build_model("gcrn", **SLIMMABLE["gcrn"])
    structured_prune(gcrn, 0.0)
    _unread(gcrn.dec_real[1].conv, [0, 1, 2])
    _unread(gcrn.dec_real[1].gate, [0, 2])
    crn = build_model("crn", **SLIMMABLE["crn"])
    structured_prune(crn, 0.0)
    _unread(crn.encoder[2], [3])
    _unread(crn.decoder[3], [3], offset=crn.decoder[2].out_channels)
    expect = {
        "gcrn": ("dec_real.0.conv", [1, 3, 4, 5, 6, 7]),
        "crn": ("encoder.1", [0, 1, 2, 4, 5, 6, 7]),
    }
    onnx = importlib.util.find_spec("onnxruntime") is not None
    for model in (gcrn, crn):
        slim, rows = slim_model(model)
        name, outs = expect[model.arch]
        assert slim.slim[name]["out_index"] == outs
        with torch.inference_mode():
            out = slim(noisy)
            assert (model(noisy) - out).abs().max() <= 1e-5
        assert count_macs(slim)["dense"] < count_macs(model)["dense"]
        save_artifact(slim, tmp_path / "s.secomp", prunable_tensors(slim))
        with torch.inference_mode():
            assert torch.equal(load_model(tmp_path / "s.secomp")(noisy), out)
        if onnx:
            from secomp.io.onnx import export_onnx, onnx_parity

            assert onnx_parity(slim, export_onnx(slim, tmp_path / "s.onnx")) <= 1e-4


class UserCRN(MagnitudeModel):
    """A user's model that is not in the zoo: a conv encoder, a GRU, a transposed-conv decoder
    fed the concatenation of the GRU output and the encoder output (a skip connection)."""

    def __init__(self):
        super().__init__()
        self.enc1 = torch.nn.Conv2d(1, 6, (1, 5), (1, 4))  # 161 -> 40 bins
        self.enc2 = torch.nn.Conv2d(6, 8, (1, 4), (1, 4))  # 40 -> 10 bins
        self.gru = torch.nn.GRU(80, 24, num_layers=2, batch_first=True)
        self.mid = torch.nn.Linear(24, 80)
        self.dec = torch.nn.ConvTranspose2d(16, 6, (1, 4), (1, 4))  # 10 -> 40 bins
        self.out = torch.nn.ConvTranspose2d(12, 1, (1, 5), (1, 4))  # 40 -> 161 bins

    def core(self, mag: torch.Tensor) -> torch.Tensor:  # [B, T, 161] -> [B, T, 161]
        e1 = torch.relu(self.enc1(mag.unsqueeze(1)))  # [B, 6, T, 40]
        e2 = torch.relu(self.enc2(e1))  # [B, 8, T, 10]
        b, c, t, f = e2.shape
        h, _ = self.gru(e2.permute(0, 2, 1, 3).reshape(b, t, c * f))
        h = self.mid(h).reshape(b, t, c, f).permute(0, 2, 1, 3)
        d = torch.relu(self.dec(torch.cat([h, e2], 1)))
        return torch.nn.functional.softplus(self.out(torch.cat([d, e1], 1))).squeeze(1)


@pytest.fixture
def user_model_registered():
    """UserCRN registered for the test only (files of it load by name), removed afterwards."""
    from secomp.models.registry import MODELS, register

    register("test-user-crn")(UserCRN)
    yield UserCRN
    MODELS.pop("test-user-crn")
    del UserCRN.arch


def test_slim_a_model_that_is_not_in_the_zoo(noisy, tmp_path, user_model_registered):
    """Every layer type of the user's model is slimmed from the traced structure: the skip
    concatenation, the reshape into the GRU, the GRU stack, the transposed convolutions."""
    model = build_model("test-user-crn")
    structured_prune(model, 0.5)
    with torch.no_grad():
        for conv, c in ((model.enc1, 2), (model.enc2, 5)):  # exactly zero channels
            conv.weight[c] = 0
            conv.bias[c] = 0
        model.enc2.weight[:, 4] = 0  # enc1's channel 4: unread by enc2 and by the skip
        model.out.weight[6 + 4] = 0
    slim, rows = slim_model(model)
    names = {r["name"] for r in rows}
    assert {"enc1", "enc2", "gru", "mid", "dec"} <= names
    # enc1's channels are read by enc2 and by `out` (the skip): both decide
    read = (model.enc2.weight.abs().sum((0, 2, 3)) != 0) | (
        model.out.weight[6:].abs().sum((1, 2, 3)) != 0
    )
    made = (model.enc1.weight.abs().sum((1, 2, 3)) != 0) | (model.enc1.bias != 0)
    assert (
        slim.slim["enc1"].get("out_index", list(range(6)))
        == torch.nonzero(read & made).flatten().tolist()
    )
    with torch.inference_mode():
        ref, out = model(noisy), slim(noisy)
    assert (ref - out).abs().max() <= 1e-5
    assert count_macs(slim)["dense"] < count_macs(model)["dense"]
    save_artifact(slim, tmp_path / "u.secomp", prunable_tensors(slim))
    with torch.inference_mode():
        assert torch.equal(load_model(tmp_path / "u.secomp")(noisy), out)
    if importlib.util.find_spec("onnxruntime") is not None:
        from secomp.io.onnx import export_onnx, onnx_parity

        assert onnx_parity(slim, export_onnx(slim, tmp_path / "u.onnx")) <= 1e-4


def test_exactly_zero_units_behind_a_layernorm_are_removed(noisy):
    """GCRN: a grouped-LSTM unit whose gate rows and candidate biases are all zero outputs
    exactly 0, so the LayerNorm after it sees the same zero once the unit is gone."""
    model = build_model("gcrn", **SLIMMABLE["gcrn"])
    structured_prune(model, 0.0)
    lstm = model.glstm.lstms[0][1]
    h = lstm.hidden_size
    rows = torch.tensor([g * h + u for g in range(4) for u in (1, 3)])
    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(lstm, name)[rows] = 0
    slim, _ = slim_model(model)
    assert slim.slim["glstm.lstms.0.1"]["hidden"] == [h - 2]
    with torch.inference_mode():
        assert (model(noisy) - slim(noisy)).abs().max() <= 1e-5
