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
    decode_tensor,
    encode_model,
    encode_tensor,
    join_artifact,
    load_artifact,
    pack_header,
    read_artifact,
    save_artifact,
    split_artifact,
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
    # a newer format version with a valid checksum: the version check speaks, whichever way
    # the header is stored
    parts = split_artifact(data)
    header, payload = json.loads(parts.text), parts.payload
    header["format_version"] = 99
    h = json.dumps(header).encode()
    for stored in (h, pack_header(h)):
        with pytest.raises(ArtifactError, match="version 99"):
            read_artifact(join_artifact(stored, payload))
    # a forged header asking for a huge tensor (checksum recomputed): refused, not allocated
    header["format_version"] = 2
    header["tensors"][0]["shape"] = [1 << 20, 1 << 20]
    h = json.dumps(header).encode()
    with pytest.raises(ArtifactError):
        read_artifact(join_artifact(pack_header(h), payload))
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


# ----------------------------------------------------------------------------- format version 2


def test_half_encoding_is_exact_and_chosen_only_for_float16_exact_tensors():
    exact = torch.tensor(
        [0.0, -0.0, 1.0, -2.5, 65504.0, -65504.0, 2.0**-24, 2.0**-14, 1 / 3], dtype=torch.float32
    ).half()
    exact = torch.cat([exact.float(), torch.randn(503).half().float()])
    desc, streams = encode_tensor(exact)
    assert desc["enc"] == "half" and len(streams[0]) == 2 * exact.numel()
    back = decode_tensor({**desc, "streams": [[0, len(streams[0])]]}, streams)
    assert back.dtype == torch.float32
    # bit for bit, -0.0 and the float16 subnormal included
    assert torch.equal(back.view(torch.int32), exact.view(torch.int32))
    for odd in (0.1, 65520.0, float("inf"), float("nan")):
        t = exact.clone()
        t[7] = odd
        assert encode_tensor(t)[0]["enc"] != "half", odd
    # a version-1 file never uses it (older readers do not know it)
    assert encode_tensor(exact, half=False)[0]["enc"] == "dense"


def _half_file(version: int = 2) -> tuple[dict, bytes]:
    """(header, payload) of a small LSTM file whose biases are float16-exact: stored `half`."""
    torch.manual_seed(0)
    model = build_model("lstm", hidden=16, layers=1)
    _compress_in_memory(model, 0.5)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "bias" in n:
                p.copy_(p.half().float())
    parts = split_artifact(encode_model(model, prunable_tensors(model), version=version))
    return json.loads(parts.text), parts.payload


def test_forged_half_tensors_are_refused():
    header, payload = _half_file()
    halves = [d for d in header["tensors"] if d["enc"] == "half"]
    assert halves
    good = join_artifact(pack_header(json.dumps(header).encode()), payload)
    read_artifact(good)
    d = halves[0]
    off, n = d["streams"][0]
    for forged_len in (n - 2, n + 2, n // 2):
        d["streams"][0] = [off, forged_len]
        blob = join_artifact(pack_header(json.dumps(header).encode()), payload)
        with pytest.raises(ArtifactError, match="half tensor has the wrong byte count"):
            read_artifact(blob, "f.secomp")
    d["streams"][0] = [off, n]
    d["dtype"] = "int64"
    with pytest.raises(ArtifactError, match="half encoding of a int64 tensor"):
        read_artifact(join_artifact(pack_header(json.dumps(header).encode()), payload))
    # `half` does not exist in version 1: a version-1 file holding one is forged
    d["dtype"] = "float32"
    header["format_version"] = 1
    with pytest.raises(ArtifactError, match="half encoding in a version-1 file"):
        read_artifact(join_artifact(json.dumps(header).encode(), payload))


def test_v2_round_trip_and_version_1_files_still_load(tmp_path):
    torch.manual_seed(0)
    model = build_model("crn", **SMALL["crn"])
    tensors = _compress_in_memory(model, 0.6)
    with torch.no_grad():
        model.encoder[0].bias.copy_(model.encoder[0].bias.half().float())
    v2, v1 = tmp_path / "v2.secomp", tmp_path / "v1.secomp"
    n2 = save_artifact(model, v2, tensors)
    n1 = save_artifact(model, v1, tensors, version=1)
    assert n2 < n1
    d2, d1 = v2.read_bytes(), v1.read_bytes()
    assert d2[:8] == d1[:8] == MAGIC
    (h1,) = struct.unpack("<I", d1[8:12])
    assert d1[12:13] == b"{" and json.loads(d1[12 : 12 + h1])["format_version"] == 1
    assert d2[12:13] != b"{" and split_artifact(d2).container == 2
    encs = {
        v: {d["name"]: d["enc"] for d in read_artifact(b)[0]["tensors"]}
        for v, b in ((1, d1), (2, d2))
    }
    assert encs[2]["encoder.0.bias"] == "half" and encs[1]["encoder.0.bias"] == "dense"
    x = torch.randn(1, 8000) * 0.1
    with torch.no_grad():
        want = model.eval()(x)
        for path in (v1, v2):
            back = load_artifact(path)
            for k, v in model.state_dict().items():
                assert torch.equal(v, back.state_dict()[k]), (path, k)
            assert torch.equal(back(x), want)
    for path, n in ((v1, n1), (v2, n2)):
        info = model_info(path, macs=False)
        assert info["file_bytes"] == info["accounted_bytes"] == n
        assert info["header_bytes"] == struct.unpack("<I", path.read_bytes()[8:12])[0]
    assert (
        model_info(v2, macs=False)["header_json_bytes"] > model_info(v2, macs=False)["header_bytes"]
    )
    # the version a header states must match how it is stored
    header = json.loads(split_artifact(d2).text)
    payload = split_artifact(d2).payload
    with pytest.raises(ArtifactError, match="format version 2 with a plain JSON header"):
        read_artifact(join_artifact(json.dumps(header).encode(), payload))
    header["format_version"] = 1
    with pytest.raises(ArtifactError, match="format version 1 with a compressed header"):
        read_artifact(join_artifact(pack_header(json.dumps(header).encode()), payload))
    with pytest.raises(ValueError, match="format version 3"):
        encode_model(model, version=3)


def test_zlib_bomb_header_is_refused_quickly_without_memory():
    """200 MB of JSON-looking junk compressed into a ~200 KB header: the reader stops after
    header_limit (64 x the file, 16 MiB at most) and never holds the 200 MB."""
    import time
    import tracemalloc
    import zlib

    import secomp.io.format as fmt

    c = zlib.compressobj(9)
    chunk = b" " * (1 << 20)
    z = b"".join([c.compress(b'{"a":')] + [c.compress(chunk) for _ in range(200)] + [c.flush()])
    bomb = join_artifact(z, b"")
    assert len(bomb) < 300_000
    tracemalloc.start()
    t = time.perf_counter()
    with pytest.raises(ArtifactError, match="header decompresses to more than") as e:
        read_artifact(bomb, "bomb.secomp")
    elapsed = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "\n" not in str(e.value) and "bomb.secomp" in str(e.value)
    assert elapsed < 1.0
    # zlib's output blocks and the joined bytes: about twice the limit, never the 200 MB
    assert peak < 2 * fmt.header_limit(len(bomb)) + (4 << 20) < 40 << 20
    # nested junk small enough to pass the bound: the JSON parser's refusal, one line
    nested = join_artifact(zlib.compress(b'{"a":' * 20_000, 9), b"\0" * 4096)
    with pytest.raises(ArtifactError, match="unreadable header|decompresses to more"):
        read_artifact(nested)


def test_corrupt_compressed_header_is_refused():
    header, payload = _half_file()
    z = pack_header(json.dumps(header).encode())
    cases = {
        "flipped": z[:20] + bytes([z[20] ^ 0x55]) + z[21:],
        "truncated": z[: len(z) // 2],
        "trailing": z + b"\0\0",
        "empty": b"",
        "not zlib": b"\x00\x01\x02\x03" + z[4:],
    }
    for what, stored in cases.items():
        with pytest.raises(ArtifactError, match="header") as e:
            read_artifact(join_artifact(stored, payload), "z.secomp")
        assert "\n" not in str(e.value) and "z.secomp" in str(e.value), what
    read_artifact(join_artifact(z, payload))  # the unharmed one loads


def test_version_1_file_built_by_hand_loads():
    """A version-1 file made from its parts as the old writer made them (plain JSON header,
    dense float32 biases) reads to the same tensors as its version-2 re-encoding."""
    header, payload = _half_file(version=1)
    assert header["format_version"] == 1
    assert not [d for d in header["tensors"] if d["enc"] == "half"]
    h = json.dumps(header, separators=(",", ":")).encode()
    body = MAGIC + struct.pack("<I", len(h)) + h + payload
    old = body + hashlib.sha256(body).digest()
    _, state = read_artifact(old, "old.secomp")
    model = build_model("lstm", hidden=16, layers=1)
    model.load_state_dict(state)
    _, again = read_artifact(encode_model(model, prunable_tensors(model)))
    assert all(torch.equal(state[k], again[k]) for k in state)
