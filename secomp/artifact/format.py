"""The `.secomp` file: a compressed model whose size is its number of bytes on disk.

Layout (docs/format.md):
    b"SECOMP\\r\\n"          8 bytes magic
    u32 little-endian     header length H
    H bytes               header, UTF-8 JSON: format_version, model config, tensor table
    payload               the tensors' streams, concatenated
    32 bytes              SHA-256 of everything before it

Each state-dict tensor is stored in the cheapest of:
    dense     raw little-endian values (float32, or the tensor's integer dtype)
    sparse    positions of the non-zeros + their float32 values
    codebook  positions (unless all non-zero) + float32 centroids + a cluster index per non-zero
Positions are a bitmap or relative indices with filler entries (Deep Compression), whichever
is smaller. Integer streams (positions, indices) are either bit-packed at a fixed width or
range-coded with their symbol counts (constriction), whichever is smaller.

Loading checks the checksum first and every size against the header before allocating, so a
truncated, bit-flipped or foreign file fails with `ArtifactError`, never a crash or a huge
allocation. Values are copied exactly, so a loaded model equals the one that was written.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..models import build_from_config, model_config
from .bits import (
    entropy_bits,
    pack_bits,
    positions_from_relative,
    relative_bytes,
    relative_entries,
    unpack_bits,
)

MAGIC = b"SECOMP\r\n"
FORMAT_VERSION = 1
MAX_ELEMENTS = 1 << 31  # refuse tensors larger than this (a corrupt header must not allocate)
MAX_CODEBOOK = 256
DTYPES = {"float32": np.float32, "int64": np.int64, "int32": np.int32, "uint8": np.uint8}


class ArtifactError(ValueError):
    """A .secomp file that cannot be loaded; the message says why."""


# ----------------------------------------------------------------------------- integer streams


def _range_coder():
    try:
        import constriction

        return constriction
    except ImportError:  # optional: without it, integer streams are bit-packed only
        return None


def encode_ints(symbols: np.ndarray, bits: int, entropy: bool = True) -> tuple[dict, bytes]:
    """Smaller of fixed-width packing and range coding; returns (descriptor, bytes)."""
    symbols = np.asarray(symbols, dtype=np.uint32)
    packed = pack_bits(symbols, bits)
    best: tuple[dict, bytes] = (
        {"coder": "packed", "bits": bits, "count": int(symbols.size)},
        packed,
    )
    cons = _range_coder() if entropy else None
    if cons is not None and symbols.size > 64:
        counts = np.bincount(symbols, minlength=1 << bits).astype(np.uint32)
        model = cons.stream.model.Categorical(counts / counts.sum(), perfect=False)
        enc = cons.stream.queue.RangeEncoder()
        enc.encode(symbols.astype(np.int32), model)
        words = enc.get_compressed().astype("<u4").tobytes()
        table = counts.astype("<u4").tobytes()
        if len(table) + len(words) < len(packed):
            desc = {
                "coder": "range",
                "bits": bits,
                "count": int(symbols.size),
                "table_bytes": len(table),
            }
            best = (desc, table + words)
    return best


def decode_ints(desc: dict, data: bytes) -> np.ndarray:
    bits, count = int(desc["bits"]), int(desc["count"])
    if not 1 <= bits <= 32 or count < 0 or count > MAX_ELEMENTS:
        raise ArtifactError(f"bad integer stream descriptor {desc}")
    if desc["coder"] == "packed":
        return unpack_bits(data, bits, count)
    if desc["coder"] == "range":
        cons = _range_coder()
        if cons is None:
            raise ArtifactError("this file is range-coded; install 'constriction' to read it")
        tb = int(desc["table_bytes"])
        if tb != 4 * (1 << bits) or tb > len(data) or (len(data) - tb) % 4:
            raise ArtifactError("bad range-coder table")
        counts = np.frombuffer(data[:tb], "<u4").astype(np.float64)
        if counts.sum() != count:
            raise ArtifactError("range-coder table does not match the symbol count")
        model = cons.stream.model.Categorical(counts / counts.sum(), perfect=False)
        words = np.frombuffer(data[tb:], "<u4").astype(np.uint32)
        out = cons.stream.queue.RangeDecoder(words).decode(model, count)
        return out.astype(np.uint32)
    raise ArtifactError(f"unknown coder '{desc['coder']}'")


# ----------------------------------------------------------------------------- one tensor


def _positions_stream(flat_nz: np.ndarray, numel: int, entropy: bool) -> tuple[dict, bytes]:
    """Cheapest encoding of sorted non-zero positions of a tensor with `numel` elements."""
    options: list[tuple[dict, bytes]] = []
    bitmap = np.zeros(numel, np.uint32)
    bitmap[flat_nz] = 1
    d, b = encode_ints(bitmap, 1, entropy)
    options.append(({"kind": "bitmap", **d}, b))
    sizes = {bits: relative_bytes(flat_nz, bits) for bits in range(2, 13)}
    for bits in sorted(sizes, key=sizes.get)[:2]:
        d, b = encode_ints(relative_entries(flat_nz, bits), bits, entropy)
        options.append(({"kind": "relative", **d}, b))
    return min(options, key=lambda o: len(o[1]))


def encode_tensor(t: torch.Tensor, entropy: bool = True) -> tuple[dict, list[bytes]]:
    """(descriptor, streams) for one tensor, choosing the smallest encoding."""
    a = t.detach().cpu().contiguous().numpy()
    desc: dict[str, Any] = {"shape": list(a.shape), "dtype": str(a.dtype)}
    if a.dtype != np.float32:
        if str(a.dtype) not in DTYPES:
            raise ValueError(f"unsupported dtype {a.dtype}")
        return {**desc, "enc": "dense"}, [a.astype(a.dtype.newbyteorder("<")).tobytes()]
    flat = a.reshape(-1)
    dense = ({**desc, "enc": "dense"}, [flat.astype("<f4").tobytes()])
    nz = np.flatnonzero(flat)
    values = flat[nz]
    uniq = np.unique(values)
    candidates = [dense]
    pos: tuple[dict, bytes] | None = None
    if nz.size < flat.size:
        pos = _positions_stream(nz, flat.size, entropy)
        candidates.append(
            (
                {**desc, "enc": "sparse", "nnz": int(nz.size), "positions": pos[0]},
                [pos[1], values.astype("<f4").tobytes()],
            )
        )
    if 0 < uniq.size <= MAX_CODEBOOK:
        bits = max(1, int(np.ceil(np.log2(uniq.size))))
        idx = np.searchsorted(uniq, values)
        idesc, ibytes = encode_ints(idx, bits, entropy)
        streams = [uniq.astype("<f4").tobytes(), ibytes]
        d = {**desc, "enc": "codebook", "nnz": int(nz.size), "k": int(uniq.size), "indices": idesc}
        if pos is not None:
            d["positions"] = pos[0]
            streams.append(pos[1])
        candidates.append((d, streams))
    return min(candidates, key=lambda c: sum(len(s) for s in c[1]))


def _decode_positions(desc: dict, data: bytes, numel: int, nnz: int) -> np.ndarray:
    if desc["kind"] == "bitmap":
        if int(desc["count"]) != numel:
            raise ArtifactError("bitmap size does not match the tensor")
        pos = np.flatnonzero(decode_ints(desc, data))
    elif desc["kind"] == "relative":
        pos = positions_from_relative(decode_ints(desc, data), int(desc["bits"]))
    else:
        raise ArtifactError(f"unknown position encoding '{desc['kind']}'")
    if pos.size != nnz or (pos.size and (pos[-1] >= numel or pos[0] < 0)):
        raise ArtifactError("positions do not match the tensor")
    return pos


def decode_tensor(desc: dict, streams: list[bytes]) -> torch.Tensor:
    shape = [int(s) for s in desc["shape"]]
    if any(s < 0 for s in shape):
        raise ArtifactError("negative dimension")
    numel = int(np.prod(shape, dtype=np.int64))
    if numel > MAX_ELEMENTS or desc.get("dtype") not in DTYPES:
        raise ArtifactError(f"bad tensor descriptor {desc.get('shape')} {desc.get('dtype')}")
    dtype = np.dtype(DTYPES[desc["dtype"]]).newbyteorder("<")
    enc = desc["enc"]
    if enc == "dense":
        if len(streams[0]) != numel * dtype.itemsize:
            raise ArtifactError("dense tensor has the wrong byte count")
        out = np.frombuffer(streams[0], dtype).astype(dtype.newbyteorder("="))
        return torch.from_numpy(out.reshape(shape).copy())
    nnz = int(desc["nnz"])
    if not 0 <= nnz <= numel:
        raise ArtifactError("bad non-zero count")
    flat = np.zeros(numel, np.float32)
    if enc == "sparse":
        pos = _decode_positions(desc["positions"], streams[0], numel, nnz)
        if len(streams[1]) != 4 * nnz:
            raise ArtifactError("sparse values have the wrong byte count")
        flat[pos] = np.frombuffer(streams[1], "<f4")
    elif enc == "codebook":
        k = int(desc["k"])
        if not 0 < k <= MAX_CODEBOOK or len(streams[0]) != 4 * k:
            raise ArtifactError("bad codebook")
        book = np.frombuffer(streams[0], "<f4")
        idx = decode_ints(desc["indices"], streams[1])
        if idx.size != nnz or (idx.size and int(idx.max()) >= k):
            raise ArtifactError("cluster indices out of range")
        if "positions" in desc:
            flat[_decode_positions(desc["positions"], streams[2], numel, nnz)] = book[idx]
        else:
            if nnz != numel:
                raise ArtifactError("dense codebook tensor with missing entries")
            flat[:] = book[idx]
    else:
        raise ArtifactError(f"unknown encoding '{enc}'")
    return torch.from_numpy(flat.reshape(shape))


# ----------------------------------------------------------------------------- whole model


def encode_model(model: nn.Module, tensors=None, entropy: bool = True) -> bytes:
    """The bytes of the .secomp file for `model` (`tensors`, the prunable list, is recorded so
    `secomp info` can name each tensor's kind)."""
    kinds = {t.name: t.kind for t in (tensors or [])}
    table, payload = [], bytearray()
    for name, value in model.state_dict().items():
        desc, streams = encode_tensor(value, entropy)
        desc["name"] = name
        if name in kinds:
            desc["kind"] = kinds[name]
        desc["streams"] = []
        for s in streams:
            desc["streams"].append([len(payload), len(s)])
            payload += s
        table.append(desc)
    header = json.dumps(
        {"format_version": FORMAT_VERSION, "config": model_config(model), "tensors": table},
        separators=(",", ":"),
    ).encode()
    body = MAGIC + struct.pack("<I", len(header)) + header + bytes(payload)
    return body + hashlib.sha256(body).digest()


def save_artifact(model: nn.Module, path: str | Path, tensors=None, entropy: bool = True) -> int:
    """Write atomically; returns the file size in bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = encode_model(model, tensors, entropy)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return len(data)


def read_artifact(data: bytes, name: str = "<bytes>") -> tuple[dict, dict[str, torch.Tensor]]:
    """(header, state dict) from the bytes of a .secomp file."""
    if len(data) < len(MAGIC) + 4 + 32 or data[: len(MAGIC)] != MAGIC:
        raise ArtifactError(f"{name}: not a .secomp file (bad magic or too short)")
    body, digest = data[:-32], data[-32:]
    if hashlib.sha256(body).digest() != digest:
        raise ArtifactError(f"{name}: checksum mismatch (truncated or corrupted file)")
    (hlen,) = struct.unpack("<I", body[len(MAGIC) : len(MAGIC) + 4])
    start = len(MAGIC) + 4
    if hlen > len(body) - start:
        raise ArtifactError(f"{name}: header length beyond end of file")
    try:
        header = json.loads(body[start : start + hlen])
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ArtifactError(f"{name}: unreadable header ({e})") from None
    if header.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{name}: format version {header.get('format_version')} is not supported "
            f"(this secomp reads version {FORMAT_VERSION})"
        )
    payload = body[start + hlen :]
    state = {}
    try:
        for desc in header["tensors"]:
            streams = []
            for off, n in desc["streams"]:
                if off < 0 or n < 0 or off + n > len(payload):
                    raise ArtifactError(f"{name}: stream of {desc['name']} outside the payload")
                streams.append(payload[off : off + n])
            state[desc["name"]] = decode_tensor(desc, streams)
    except (KeyError, TypeError, ValueError, IndexError) as e:
        if isinstance(e, ArtifactError):
            raise ArtifactError(f"{name}: {e}") from None
        raise ArtifactError(f"{name}: malformed tensor table ({type(e).__name__}: {e})") from None
    return header, state


def load_artifact(path: str | Path, model: nn.Module | None = None) -> nn.Module:
    """Rebuild the model from the file's config, or load into `model` (for an unregistered
    model class, which the file cannot rebuild by name)."""
    path = Path(path)
    header, state = read_artifact(path.read_bytes(), str(path))
    cfg = header["config"]
    if model is None and cfg.get("arch") is None:
        raise ArtifactError(
            f"{path}: holds an unregistered model ({cfg.get('class')}); register it with "
            "@secomp.models.register or pass model= to load_artifact"
        )
    try:
        if model is None:
            model = build_from_config(cfg)
        model.load_state_dict(state)
    except (KeyError, TypeError, RuntimeError) as e:
        raise ArtifactError(f"{path}: tensors do not match the model config ({e})") from None
    return model.eval()


def entropy_bound_bytes(desc: dict, streams: list[bytes]) -> float:
    """Lower bound for this tensor's integer streams under order-0 coding, plus its raw float
    streams (codebook, values, dense) as they are."""
    enc = desc["enc"]
    if enc == "dense":
        return float(len(streams[0]))
    total = 0.0
    ints: list[tuple[dict, bytes]] = []
    if enc == "sparse":
        ints.append((desc["positions"], streams[0]))
        total += len(streams[1])
    else:
        total += len(streams[0])
        ints.append((desc["indices"], streams[1]))
        if "positions" in desc:
            ints.append((desc["positions"], streams[2]))
    for d, b in ints:
        total += entropy_bits(decode_ints(d, b)) / 8
    return total
