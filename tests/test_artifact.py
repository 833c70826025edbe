import hashlib
import json
import struct

import numpy as np
import pytest
import torch

from secomp.compress.groups import prunable_tensors
from secomp.compress.masks import apply_masks
from secomp.compress.prune import prune_mask
from secomp.compress.quantize import quantize_model
from secomp.info import model_info
from secomp.io.bits import (
    pack_bits,
    positions_from_relative,
    relative_entries,
    unpack_bits,
)
from secomp.io.format import (
    MAGIC,
    ArtifactError,
    encode_model,
    load_artifact,
    read_artifact,
    save_artifact,
)
from secomp.models import build_model

from .test_models import SMALL
from .toy import AllLayers


def _compress_in_memory(model, ratio=0.7, structured=False, bits=4):
    tensors = prunable_tensors(model)
    params = dict(model.named_parameters())
    masks = {
        t.name: prune_mask(
            t, params[t.name], torch.ones(t.shape, dtype=torch.bool), ratio, structured
        )
        for t in tensors
    }
    apply_masks(model, masks)
    quantize_model(model, tensors, masks, bits)
    return tensors


def test_bit_packing_and_relative_positions(rng):
    for bits in (1, 3, 4, 7, 12):
        v = rng.integers(0, 1 << bits, 1001)
        assert np.array_equal(unpack_bits(pack_bits(v, bits), bits, len(v)), v)
    pos = np.sort(rng.choice(100_000, 900, replace=False))
    for bits in (2, 4, 8):
        assert np.array_equal(positions_from_relative(relative_entries(pos, bits), bits), pos)


def test_round_trip_every_layer_type(tmp_path):
    torch.manual_seed(0)
    model = AllLayers()
    _compress_in_memory(model)
    # the toy is not a registered model: load into an instance
    path = tmp_path / "toy.secomp"
    save_artifact(model, path, prunable_tensors(model))
    with pytest.raises(ArtifactError, match="unregistered"):
        load_artifact(path)
    back = load_artifact(path, model=AllLayers())
    for k, v in model.state_dict().items():
        assert torch.equal(v, back.state_dict()[k]), k
    x = torch.randn(2, 2, 12)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), back.eval()(x))


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("structured", [False, True])
def test_round_trip_baselines(name, structured, tmp_path):
    torch.manual_seed(0)
    model = build_model(name, **SMALL[name])
    tensors = _compress_in_memory(model, 0.6, structured)
    path = tmp_path / "m.secomp"
    n = save_artifact(model, path, tensors)
    assert n == path.stat().st_size
    back = load_artifact(path)
    x = torch.randn(1, 8000) * 0.1
    with torch.no_grad():
        assert torch.equal(model.eval()(x), back(x))
    info = model_info(path, macs=False)
    assert info["file_bytes"] == info["accounted_bytes"] == n
    assert info["nonzero_params"] < info["params"]


def test_almost_fully_pruned_model_loads_back(tmp_path):
    """A CRN pruned to a handful of weights (the sibling paper's absolute tolerance left 1,972 of
    17.6 M) decodes to thousands of times its file size; the reader once refused such a file
    that the pipeline had just written."""
    torch.manual_seed(0)
    model = build_model("crn")
    tensors = _compress_in_memory(model, 0.9999)
    path = tmp_path / "tiny.secomp"
    n = save_artifact(model, path, tensors)
    info = model_info(path, macs=False)
    assert info["file_bytes"] == n and info["compression_ratio"] > 512  # the old bound: 256
    back = load_artifact(path)
    x = torch.randn(1, 8000) * 0.1
    with torch.no_grad():
        assert torch.equal(model.eval()(x), back(x))


def test_writer_refuses_a_file_the_reader_would_refuse(tmp_path, monkeypatch):
    """With the bound on declared bytes lowered below this pruned model's ratio, save_artifact
    raises and leaves no file (a file that cannot be loaded back is never written)."""
    import secomp.io.format as fmt

    torch.manual_seed(0)
    model = build_model("crn", **SMALL["crn"])
    tensors = _compress_in_memory(model, 0.9)
    monkeypatch.setattr(fmt, "MAX_DECLARED_RATIO", 2)
    path = tmp_path / "m.secomp"
    with pytest.raises(ArtifactError, match="bytes of tensors, more than this format allows"):
        save_artifact(model, path, tensors)
    assert not path.exists()


def test_codebook_encoding_beats_dense_and_tracks_entropy():
    torch.manual_seed(0)
    model = build_model("crn", channels=[8, 16, 16, 32, 32], lstm_hidden=128)
    _compress_in_memory(model, 0.8, False, 4)
    data = encode_model(model)
    dense = 4 * sum(p.numel() for p in model.state_dict().values())
    assert len(data) < dense / 12
    plain = encode_model(model, entropy=False)
    assert len(data) < len(plain)


def _valid_file():
    torch.manual_seed(0)
    model = build_model("lstm", hidden=16, layers=1)
    _compress_in_memory(model, 0.5)
    return encode_model(model)


def test_corrupt_files_give_clear_errors(tmp_path):
    data = _valid_file()
    cases = {
        "truncated": data[: len(data) - 100],
        "empty": b"",
        "bitflip": data[:200] + bytes([data[200] ^ 0x10]) + data[201:],
        "foreign": b"PK\x03\x04" + data[4:],
    }
    for name, blob in cases.items():
        with pytest.raises(ArtifactError):
            read_artifact(blob, name)
    # a newer format version with a valid checksum: the version check speaks
    (hlen,) = struct.unpack("<I", data[8:12])
    header = json.loads(data[12 : 12 + hlen])
    header["format_version"] = 99
    h = json.dumps(header).encode()
    body = MAGIC + struct.pack("<I", len(h)) + h + data[12 + hlen : -32]
    with pytest.raises(ArtifactError, match="version 99"):
        read_artifact(body + hashlib.sha256(body).digest())
    # a forged header asking for a huge tensor (checksum recomputed): refused, not allocated
    header["format_version"] = 1
    header["tensors"][0]["shape"] = [1 << 20, 1 << 20]
    h = json.dumps(header).encode()
    body = MAGIC + struct.pack("<I", len(h)) + h + data[12 + hlen : -32]
    with pytest.raises(ArtifactError):
        read_artifact(body + hashlib.sha256(body).digest())
    (tmp_path / "t.secomp").write_bytes(cases["truncated"])
    with pytest.raises(ArtifactError, match="t.secomp"):
        load_artifact(tmp_path / "t.secomp")


def test_fuzz_random_mutations(rng):
    """Thousands of random mutations: every one is either rejected with ArtifactError or (if it
    changed nothing) loads; nothing else escapes."""
    data = _valid_file()
    for _ in range(3000):
        blob = bytearray(data)
        op = rng.integers(4)
        if op == 0:
            for i in rng.integers(0, len(blob), rng.integers(1, 8)):
                blob[i] = rng.integers(256)
        elif op == 1:
            blob = blob[: rng.integers(len(blob))]
        elif op == 2:
            i = rng.integers(len(blob))
            blob[i:i] = bytes(rng.integers(0, 256, rng.integers(1, 64), dtype=np.uint8))
        else:
            i = rng.integers(len(blob))
            del blob[i : i + rng.integers(1, 64)]
        try:
            read_artifact(bytes(blob))
        except ArtifactError:
            continue
        assert bytes(blob) == data
