"""The `.secomp` file: a compressed model whose size is its number of bytes on disk.

Layout (docs/format.md):
    b"SECOMP\\r\\n"          8 bytes magic
    u32 little-endian     header length H
    H bytes               header: zlib-compressed UTF-8 JSON (version 2) or the JSON as it is
                          (version 1): format_version, model config, tensor table
    payload               the tensors' streams, concatenated
    32 bytes              SHA-256 of everything before it

The writer writes version 2; the reader reads both. A version-1 header is JSON whose first byte
is `{`; a zlib stream can never begin with that byte (its first byte's low four bits are 8,
deflate; `{` is 0x7B), so the first byte tells the two apart, and the JSON's format_version
must then agree with it. Decompression stops at `header_limit(file size)` bytes (64 x the file,
at most 16 MiB), so a forged header cannot expand into a memory blow-up.

Each state-dict tensor is stored in the cheapest of:
    dense     raw little-endian values (float32, or the tensor's integer dtype)
    half      little-endian float16 values of a float32 tensor all of whose values are finite
              and exactly float16 (version 2); they decode to the same float32 values
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
import warnings
import zlib
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..files import write_bytes
from ..models import build_from_config, build_model, check_hparams, model_config
from ..structure.layers import SlimSpecError, check_slim_entry, layer_spans
from .bits import (
    entropy_bits,
    pack_bits,
    positions_from_relative,
    relative_bytes,
    relative_entries,
    unpack_bits,
)

MAGIC = b"SECOMP\r\n"
FORMAT_VERSION = 2  # what the writer writes
READ_VERSIONS = (1, 2)  # what the reader reads: 1 has a plain JSON header and no `half`
ZLIB_LEVEL = 9
# The header's JSON, decompressed, at most MAX_HEADER_RATIO x the file's bytes and never more
# than MAX_HEADER_BYTES. zlib expands up to ~1,032x, so without a bound a 200 KB header could
# decompress to 200 MB (and json.loads would then build ~20-60 bytes of objects per byte). The
# committed models' headers are 0.2-9 % of their file as JSON (at most 115 KB, 15x its
# compressed size), so 64x the file and 16 MiB leave room for far larger tables while a forged
# file of B bytes can make the reader inflate at most 64 B of JSON.
MAX_HEADER_RATIO = 64
MAX_HEADER_BYTES = 16 << 20
MAX_ELEMENTS = 1 << 31  # refuse tensors larger than this (a corrupt header must not allocate)
MAX_DIMS = 8
MAX_CODEBOOK = 256
MAX_RANGE_BITS = 16  # a range-coder table has 2**bits counts; the writer uses at most 12 bits
# Two bounds keep a small forged file from making the reader allocate gigabytes, both
# checked from the header before anything is decoded: the values its streams must produce
# (every element of a dense tensor, the non-zeros of a sparse or codebook one) at most
# MAX_DECODE_RATIO x the file's bytes, and the declared tensors, zeros included, at most
# MAX_DECLARED_RATIO x (a 16 KiB file: 256 MiB), never more than MAX_DECODED_BYTES. The second
# is loose because a pruned file is mostly zeros that cost almost nothing to store: a CRN
# pruned by the sibling paper's settings (absolute tolerance 0.02) to 1,972 of its 17.6 M
# weights is a 19,415-byte file of 70 MB of tensors (3,622x), which one 256x bound on the
# declared bytes refused after the run wrote it.
MAX_DECODE_RATIO = 256
MAX_DECLARED_RATIO = 1 << 14
MAX_DECODED_BYTES = 4 << 30
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


def _int(desc: Any, key: str, lo: int, hi: int) -> int:
    """desc[key] as an int in [lo, hi]; anything else (missing, a float, a bool, a string, out
    of range) is an ArtifactError."""
    if not isinstance(desc, dict) or key not in desc:
        raise ArtifactError(f"missing '{key}'")
    v = desc[key]
    if type(v) is not int or not lo <= v <= hi:
        raise ArtifactError(f"bad '{key}' {str(v)[:40]} (expected an integer in [{lo}, {hi}])")
    return v


def decode_ints(desc: dict, data: bytes, max_count: int = MAX_ELEMENTS) -> np.ndarray:
    """Decode one integer stream. `max_count` is the most symbols its tensor can hold: the
    count is checked against it (and a packed stream's length against the count) before any
    array is made, so the output is never larger than the declared shapes allow."""
    bits = _int(desc, "bits", 1, 32)
    count = _int(desc, "count", 0, min(max_count, MAX_ELEMENTS))
    coder = desc.get("coder")
    if coder == "packed":
        if len(data) != (count * bits + 7) // 8:
            raise ArtifactError("packed stream has the wrong byte count")
        return unpack_bits(data, bits, count)
    if coder == "range":
        cons = _range_coder()
        if cons is None:
            raise ArtifactError("this file is range-coded; install 'constriction' to read it")
        if bits > MAX_RANGE_BITS:
            raise ArtifactError(f"range-coded stream of {bits} bits (at most {MAX_RANGE_BITS})")
        tb = _int(desc, "table_bytes", 0, len(data))
        if tb != 4 * (1 << bits) or (len(data) - tb) % 4:
            raise ArtifactError("bad range-coder table")
        counts = np.frombuffer(data[:tb], "<u4").astype(np.float64)
        if counts.sum() != count:
            raise ArtifactError("range-coder table does not match the symbol count")
        if count == 0:
            return np.zeros(0, np.uint32)
        # A range coder reads at most 32 bits per symbol of a table with 2**bits entries
        # and non-zero counts <= count; far fewer words than symbols need is fine, far more
        # words is not a stream this writer made.
        if len(data) - tb > 4 * (count + 2):
            raise ArtifactError("range-coded stream longer than its symbols can need")
        model = cons.stream.model.Categorical(counts / counts.sum(), perfect=False)
        words = np.frombuffer(data[tb:], "<u4").astype(np.uint32)
        try:
            out = cons.stream.queue.RangeDecoder(words).decode(model, count)
        except Exception as e:  # the Rust decoder reports a bad stream as an assertion
            raise ArtifactError(f"corrupt range-coded stream ({type(e).__name__})") from None
        out = np.asarray(out)
        if out.shape != (count,):
            raise ArtifactError("range-coded stream decoded to the wrong length")
        return out.astype(np.uint32)
    raise ArtifactError(f"unknown coder '{str(coder)[:40]}'")


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


def fp16_exact(a: np.ndarray) -> bool:
    """Whether every value of float32 array `a` is finite and float16 holds it exactly (bit for
    bit, so -0.0 stays -0.0): then `half` stores it losslessly in 2 bytes per value."""
    if a.dtype != np.float32 or not np.isfinite(a).all():
        return False
    with np.errstate(over="ignore"):  # a value beyond 65504 becomes inf: not exact
        back = a.astype(np.float16).astype(np.float32)
    return bool(np.array_equal(back.view(np.uint32), np.ascontiguousarray(a).view(np.uint32)))


def encode_tensor(
    t: torch.Tensor, entropy: bool = True, half: bool = True
) -> tuple[dict, list[bytes]]:
    """(descriptor, streams) for one tensor, choosing the smallest encoding (`half` only where
    allowed: version 2)."""
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
    if half and fp16_exact(flat):
        candidates.append(({**desc, "enc": "half"}, [flat.astype("<f2").tobytes()]))
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
    if not isinstance(desc, dict):
        raise ArtifactError("bad position descriptor")
    kind = desc.get("kind")
    if kind == "bitmap":
        if _int(desc, "count", 0, MAX_ELEMENTS) != numel or _int(desc, "bits", 1, 32) != 1:
            raise ArtifactError("bitmap size does not match the tensor")
        pos = np.flatnonzero(decode_ints(desc, data, numel))
    elif kind == "relative":
        bits = _int(desc, "bits", 1, 32)
        # entries: one per non-zero plus at most numel / (2**bits - 1) fillers
        most = nnz + numel // max((1 << bits) - 1, 1) + 1
        pos = positions_from_relative(decode_ints(desc, data, most), bits)
    else:
        raise ArtifactError(f"unknown position encoding '{str(kind)[:40]}'")
    if pos.size != nnz or (pos.size and (pos[-1] >= numel or pos[0] < 0)):
        raise ArtifactError("positions do not match the tensor")
    return pos


# encoding -> stream counts
ENCODINGS = {"dense": (1,), "half": (1,), "sparse": (2,), "codebook": (2, 3)}
V2_ENCODINGS = ("half",)  # not in a version-1 file


def _check_descriptor(desc: Any) -> tuple[list[int], int, np.dtype]:
    """Shape, element count and dtype of a tensor-table entry, checked for types and ranges
    before anything is allocated from it."""
    if not isinstance(desc, dict):
        raise ArtifactError("tensor table entry is not a mapping")
    shape = desc.get("shape")
    if not isinstance(shape, list) or len(shape) > MAX_DIMS:
        raise ArtifactError(f"bad shape {str(shape)[:40]}")
    if any(type(s) is not int or not 0 <= s <= MAX_ELEMENTS for s in shape):
        raise ArtifactError(f"bad shape {str(shape)[:40]}")
    numel = 1
    for s in shape:
        numel *= s  # Python ints: no overflow
    if numel > MAX_ELEMENTS:
        raise ArtifactError(f"tensor of {numel} elements (at most {MAX_ELEMENTS})")
    if not isinstance(desc.get("dtype"), str) or desc["dtype"] not in DTYPES:
        raise ArtifactError(f"unsupported dtype {str(desc.get('dtype'))[:40]}")
    enc = desc.get("enc")
    if not isinstance(enc, str) or enc not in ENCODINGS:
        raise ArtifactError(f"unknown encoding '{str(enc)[:40]}'")
    if enc != "dense" and desc["dtype"] != "float32":
        raise ArtifactError(f"{enc} encoding of a {desc['dtype']} tensor")
    if enc == "codebook" and len(desc.get("streams", ())) != 2 + ("positions" in desc):
        raise ArtifactError("codebook tensor with the wrong number of streams")
    return shape, numel, np.dtype(DTYPES[desc["dtype"]]).newbyteorder("<")


def decode_tensor(desc: dict, streams: list[bytes]) -> torch.Tensor:
    """One tensor from its table entry and its streams; every size is checked against the
    declared shape before the output is allocated."""
    shape, numel, dtype = _check_descriptor(desc)
    enc = desc["enc"]
    if len(streams) not in ENCODINGS[enc]:
        raise ArtifactError(f"{enc} tensor with {len(streams)} streams")
    if enc == "dense":
        if len(streams[0]) != numel * dtype.itemsize:
            raise ArtifactError("dense tensor has the wrong byte count")
        out = np.frombuffer(streams[0], dtype).astype(dtype.newbyteorder("="))
        return torch.from_numpy(out.reshape(shape).copy())
    if enc == "half":
        if len(streams[0]) != 2 * numel:
            raise ArtifactError("half tensor has the wrong byte count")
        out = np.frombuffer(streams[0], "<f2").astype(np.float32)  # exact: fp16 is in fp32
        return torch.from_numpy(out.reshape(shape))
    nnz = _int(desc, "nnz", 0, numel)
    if enc == "sparse":
        if len(streams[1]) != 4 * nnz:
            raise ArtifactError("sparse values have the wrong byte count")
        pos = _decode_positions(desc.get("positions"), streams[0], numel, nnz)
        flat = np.zeros(numel, np.float32)
        flat[pos] = np.frombuffer(streams[1], "<f4")
    else:
        k = _int(desc, "k", 1, MAX_CODEBOOK)
        if len(streams[0]) != 4 * k:
            raise ArtifactError("bad codebook")
        if "positions" not in desc and nnz != numel:
            raise ArtifactError("dense codebook tensor with missing entries")
        if not isinstance(desc.get("indices"), dict):
            raise ArtifactError("bad index descriptor")
        book = np.frombuffer(streams[0], "<f4")
        idx = decode_ints(desc["indices"], streams[1], nnz)
        if idx.size != nnz or (idx.size and int(idx.max()) >= k):
            raise ArtifactError("cluster indices out of range")
        flat = np.zeros(numel, np.float32)
        if "positions" in desc:
            flat[_decode_positions(desc["positions"], streams[2], numel, nnz)] = book[idx]
        else:
            flat[:] = book[idx]
    return torch.from_numpy(flat.reshape(shape))


# ----------------------------------------------------------------------------- whole model


def pack_header(text: bytes, version: int = FORMAT_VERSION) -> bytes:
    """The header's bytes as stored: version 2 zlib-compresses the JSON `text`, version 1
    keeps it as it is."""
    if version not in READ_VERSIONS:
        raise ValueError(f"format version {version} (this secomp writes {READ_VERSIONS})")
    return zlib.compress(text, ZLIB_LEVEL) if version >= 2 else text


def join_artifact(stored_header: bytes, payload: bytes) -> bytes:
    """A file's bytes from its stored header (`pack_header`) and payload: magic, header length,
    header, payload, SHA-256."""
    body = MAGIC + struct.pack("<I", len(stored_header)) + stored_header + payload
    return body + hashlib.sha256(body).digest()


def encode_model(
    model: nn.Module, tensors=None, entropy: bool = True, version: int = FORMAT_VERSION
) -> bytes:
    """The bytes of the .secomp file for `model` (`tensors`, the prunable list, is recorded so
    `secomp info` can name each tensor's kind). `version` 1 writes the old format (plain JSON
    header, no `half`), which older readers read."""
    if version not in READ_VERSIONS:
        raise ValueError(f"format version {version} (this secomp writes {READ_VERSIONS})")
    kinds = {t.name: t.kind for t in (tensors or [])}
    table, payload = [], bytearray()
    for name, value in model.state_dict().items():
        desc, streams = encode_tensor(value, entropy, half=version >= 2)
        desc["name"] = name
        if name in kinds:
            desc["kind"] = kinds[name]
        desc["streams"] = []
        for s in streams:
            desc["streams"].append([len(payload), len(s)])
            payload += s
        table.append(desc)
    text = json.dumps(
        {"format_version": version, "config": model_config(model), "tensors": table},
        separators=(",", ":"),
    ).encode()
    return join_artifact(pack_header(text, version), bytes(payload))


def save_artifact(
    model: nn.Module,
    path: str | Path,
    tensors=None,
    entropy: bool = True,
    version: int = FORMAT_VERSION,
) -> int:
    """Write atomically; returns the file size in bytes. Refuses (ArtifactError, nothing
    written) a model whose file the reader would refuse by its size bounds."""
    data = encode_model(model, tensors, entropy, version)
    parse_artifact(data, str(path))  # never write a file that cannot be loaded back
    write_bytes(path, data)
    return len(data)


def decoded_limit(file_bytes: int) -> int:
    """The most bytes of stored values (dense elements, or the non-zeros of a sparse or
    codebook tensor, x element size) a file of this size may decode: MAX_DECODE_RATIO x its
    size, at most MAX_DECODED_BYTES."""
    return min(MAX_DECODE_RATIO * file_bytes, MAX_DECODED_BYTES)


def declared_limit(file_bytes: int) -> int:
    """The most bytes of tensors, zeros included (declared shapes x element size), a file of
    this size may declare: MAX_DECLARED_RATIO x its size, at most MAX_DECODED_BYTES. The
    committed models declare 6-56x their size."""
    return min(MAX_DECLARED_RATIO * file_bytes, MAX_DECODED_BYTES)


def header_limit(file_bytes: int) -> int:
    """The most bytes of header JSON a file of this size may decompress to: MAX_HEADER_RATIO x
    its size, at most MAX_HEADER_BYTES."""
    return min(MAX_HEADER_RATIO * file_bytes, MAX_HEADER_BYTES)


def _stored_values(desc: dict, numel: int) -> int:
    """How many values a checked table entry's streams must produce (each decodes to an
    element of its dtype: a `half` value to a float32)."""
    if desc["enc"] in ("dense", "half"):
        return numel
    return _int(desc, "nnz", 0, numel)


class ArtifactParts(NamedTuple):
    """A file's pieces: the header as stored (`stored`, H bytes), its JSON text, the payload,
    and the container the first header byte names (1: plain JSON, 2: zlib)."""

    stored: bytes
    text: bytes
    payload: bytes
    container: int


def _inflate(stored: bytes, limit: int) -> bytes:
    """The zlib stream `stored`, decompressed to at most `limit` bytes: more, a truncated or
    corrupt stream, or bytes after its end are an ArtifactError."""
    d = zlib.decompressobj()
    try:
        # at most limit + 1 bytes of output (zlib's blocks and their join: about twice that in
        # memory for a moment), however far the stream would expand
        text = d.decompress(stored, limit + 1)
    except zlib.error as e:
        raise ArtifactError(f"corrupt compressed header ({str(e)[:80]})") from None
    if len(text) > limit:
        raise ArtifactError(f"header decompresses to more than {limit:,} bytes")
    if not d.eof:
        raise ArtifactError("truncated compressed header")
    if d.unused_data:
        raise ArtifactError("bytes after the compressed header")
    return text


def split_artifact(data: bytes, name: str = "<bytes>") -> ArtifactParts:
    """The pieces of a .secomp file after its length, magic, checksum and header length are
    checked and a compressed header is inflated within `header_limit(len(data))`; the JSON is
    not parsed yet."""
    if len(data) < len(MAGIC) + 4 + 32 or data[: len(MAGIC)] != MAGIC:
        raise ArtifactError(f"{name}: not a .secomp file (bad magic or too short)")
    body, digest = data[:-32], data[-32:]
    if hashlib.sha256(body).digest() != digest:
        raise ArtifactError(f"{name}: checksum mismatch (truncated or corrupted file)")
    (hlen,) = struct.unpack("<I", body[len(MAGIC) : len(MAGIC) + 4])
    start = len(MAGIC) + 4
    if hlen > len(body) - start:
        raise ArtifactError(f"{name}: header length beyond end of file")
    stored = body[start : start + hlen]
    payload = body[start + hlen :]
    if stored[:1] == b"{":  # version 1: JSON; never the first byte of a zlib stream
        return ArtifactParts(stored, stored, payload, 1)
    try:
        text = _inflate(stored, header_limit(len(data)))
    except ArtifactError as e:
        raise ArtifactError(f"{name}: {e}") from None
    return ArtifactParts(stored, text, payload, 2)


def parse_artifact(
    data: bytes, name: str = "<bytes>", parts: ArtifactParts | None = None
) -> tuple[dict, bytes]:
    """(header, payload) of a .secomp file, after the checksum, the header's structure and every
    tensor-table entry are checked and the declared shapes' total is bounded by
    `declared_limit(len(data))`, their stored values by `decoded_limit(len(data))`; nothing is
    decoded yet. `parts`: `split_artifact(data, name)` if the caller already has it (the
    checksum and the inflation are then not done again)."""
    if parts is None:
        parts = split_artifact(data, name)
    try:
        header = json.loads(parts.text)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ArtifactError(f"{name}: unreadable header ({type(e).__name__})") from None
    if not isinstance(header, dict):
        raise ArtifactError(f"{name}: header is not a mapping")
    version = header.get("format_version")
    if type(version) is not int or version not in READ_VERSIONS:
        raise ArtifactError(
            f"{name}: format version {str(version)[:20]} is not supported "
            f"(this secomp reads versions {', '.join(map(str, READ_VERSIONS))})"
        )
    if version != parts.container:
        how = "plain JSON" if parts.container == 1 else "compressed"
        raise ArtifactError(
            f"{name}: format version {version} with a {how} header (version 1 stores JSON, "
            "version 2 zlib-compressed JSON)"
        )
    payload = parts.payload
    table = header.get("tensors")
    if not isinstance(table, list) or not isinstance(header.get("config"), dict):
        raise ArtifactError(f"{name}: header lacks a config or a tensor table")
    total, stored, names = 0, 0, set()
    for i, desc in enumerate(table):
        try:
            _, numel, dtype = _check_descriptor(desc)
            tname = desc.get("name")
            if not isinstance(tname, str) or tname in names:
                raise ArtifactError(f"missing or repeated name {str(tname)[:60]}")
            names.add(tname)
            if version == 1 and desc["enc"] in V2_ENCODINGS:
                raise ArtifactError(f"{desc['enc']} encoding in a version-1 file")
            streams = desc.get("streams")
            if not isinstance(streams, list) or len(streams) not in ENCODINGS[desc["enc"]]:
                raise ArtifactError("bad stream list")
            for item in streams:
                if not isinstance(item, list) or len(item) != 2:
                    raise ArtifactError("bad stream entry")
                off = _int({"offset": item[0]}, "offset", 0, len(payload))
                _int({"length": item[1]}, "length", 0, len(payload) - off)
            stored += _stored_values(desc, numel) * dtype.itemsize
        except ArtifactError as e:
            raise ArtifactError(f"{name}: tensor {i}: {e}") from None
        except Exception as e:  # a type no check above foresaw: still the file's fault
            raise ArtifactError(f"{name}: tensor {i}: malformed ({type(e).__name__})") from None
        total += numel * dtype.itemsize
    for what, n, limit in (
        ("tensors", total, declared_limit(len(data))),
        ("stored values", stored, decoded_limit(len(data))),
    ):
        if n > limit:
            raise ArtifactError(
                f"{name}: declares {n:,} bytes of {what}, more than this format allows for a "
                f"{len(data):,}-byte file ({limit:,})"
            )
    return header, payload


def decode_state(header: dict, payload: bytes, name: str = "<bytes>") -> dict[str, torch.Tensor]:
    """The state dict of a header and payload that `parse_artifact` checked."""
    state = {}
    for desc in header["tensors"]:
        streams = [payload[off : off + n] for off, n in desc["streams"]]
        try:
            state[desc["name"]] = decode_tensor(desc, streams)
        except ArtifactError as e:
            raise ArtifactError(f"{name}: {desc['name'][:80]}: {e}") from None
        except Exception as e:  # a decoder's own complaint about forged bytes
            raise ArtifactError(
                f"{name}: {desc['name'][:80]}: undecodable ({type(e).__name__})"
            ) from None
    return state


def read_artifact(data: bytes, name: str = "<bytes>") -> tuple[dict, dict[str, torch.Tensor]]:
    """(header, state dict) from the bytes of a .secomp file."""
    header, payload = parse_artifact(data, name)
    return header, decode_state(header, payload, name)


class _CallBudget(TorchFunctionMode):
    """Counts torch calls (every parameter and buffer a model builds is one or more) and stops
    the build past `limit`: a forged config cannot make the loader build millions of layers."""

    def __init__(self, limit: int):
        super().__init__()
        self.calls, self.limit = 0, limit

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.calls += 1
        if self.calls > self.limit:
            raise ArtifactError("the config builds far more layers than the file holds")
        return func(*args, **(kwargs or {}))


MAX_CONV_SPAN = 4096  # kernel, stride, padding, dilation: above this a forged size, not a model


def _meta_build(cfg: dict, n_tensors: int, slim: bool = True) -> nn.Module:
    """The model of `cfg` with meta tensors (no memory), within a budget of torch calls."""
    arch, hparams = cfg.get("arch"), cfg.get("hparams", {})
    check_hparams(arch, hparams, "model config")
    with torch.device("meta"), _CallBudget(64 * n_tensors + 256), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. zero-size layers of a forged config: refused next
        if slim:
            return build_from_config(cfg)
        return build_model(arch, **hparams)


def _check_slim_spec(spec: Any, plain: nn.Module) -> None:
    """Each slim entry must replace a layer of the un-slimmed model with exactly that layer's
    sizes (indices distinct, in range, of the widths it reads), so a forged spec fails here and
    not when the model runs. The layer's handler (structure/layers.py) checks the sizes."""
    if not isinstance(spec, dict):
        raise ArtifactError("slim spec is not a mapping")
    modules = dict(plain.named_modules())
    for lname, args in spec.items():
        orig = modules.get(lname)
        if orig is None or not isinstance(args, dict):
            raise ArtifactError(f"slim spec names {str(lname)[:60]}, not a layer of the model")
        try:
            check_slim_entry(orig, lname, args)
        except SlimSpecError as e:
            raise ArtifactError(str(e)) from None


def check_model_against_table(model: nn.Module, header: dict, file_bytes: int) -> None:
    """The (meta or real) model's state dict must be the file's tensor table exactly: same
    names, shapes and dtypes; its parameters and buffers together within `declared_limit`."""
    table = {d["name"]: d for d in header["tensors"]}
    state = model.state_dict()
    missing, extra = sorted(set(state) - set(table)), sorted(set(table) - set(state))
    if missing or extra:
        what = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
        n = len(missing) + len(extra)
        raise ArtifactError(f"tensors do not match the model config ({what}; {n} names differ)")
    for k, v in state.items():
        d = table[k]
        built = str(v.dtype).removeprefix("torch.")
        if list(v.shape) != d["shape"] or d.get("dtype") not in (None, built):
            raise ArtifactError(
                f"{k}: the file holds {d['dtype']} {d['shape']}, the config builds "
                f"{str(v.dtype).removeprefix('torch.')} {list(v.shape)}"
            )
    tensors = [*model.parameters(), *model.buffers()]
    total = sum(t.numel() * t.element_size() for t in tensors)
    if total > declared_limit(file_bytes):
        raise ArtifactError(f"the config builds {total:,} bytes of tensors, too many for the file")
    for mname, m in model.named_modules():
        sizes = layer_spans(m)
        if sizes and max(sizes) > MAX_CONV_SPAN:
            raise ArtifactError(f"{mname}: convolution sizes {sizes} are not plausible")


def check_config(
    cfg: dict, header: dict, file_bytes: int, path: str, model: nn.Module | None = None
) -> None:
    """Raise ArtifactError (one line naming `path`) unless the config builds, on the meta
    device and within a call budget, a model whose state dict is `header["tensors"]` (names,
    shapes, dtypes) with a slim spec that fits the un-slimmed model; or, with `model`, unless
    that model's state dict is the table. Used for .secomp and .safetensors model files."""
    n = len(header["tensors"])
    try:
        if model is None:
            if cfg.get("slim") is not None:
                _check_slim_spec(cfg["slim"], _meta_build(cfg, n, False))
            model = _meta_build(cfg, n)
        check_model_against_table(model, header, file_bytes)
    except ArtifactError as e:
        raise ArtifactError(f"{path}: {e}") from None
    except Exception as e:  # a model class refusing forged hyper-parameters
        msg = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise ArtifactError(f"{path}: config does not build a model ({msg})") from None


def load_artifact(path: str | Path, model: nn.Module | None = None) -> nn.Module:
    """Rebuild the model from the file's config, or load into `model` (for an unregistered
    model class, which the file cannot rebuild by name). The config is checked against the
    tensor table on a memory-free (meta) build before any tensor is decoded or built."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ArtifactError(f"{path}: cannot read ({e.strerror or e})") from None
    return load_artifact_bytes(data, str(path), model)


def load_artifact_bytes(data: bytes, path: str = "<bytes>", model: nn.Module | None = None):
    """`load_artifact` of a file's bytes (`path` only names it in messages)."""
    header, payload = parse_artifact(data, path)
    cfg = header["config"]
    if model is None and cfg.get("arch") is None:
        raise ArtifactError(
            f"{path}: holds an unregistered model ({str(cfg.get('class'))[:80]}); register it "
            "with @secomp.models.register or pass model= to load_artifact"
        )
    check_config(cfg, header, len(data), path, model)
    state = decode_state(header, payload, str(path))
    try:
        if model is None:
            model = build_from_config(cfg)
        model.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        msg = str(e).splitlines()[0][:200]
        raise ArtifactError(f"{path}: tensors do not match the model config ({msg})") from None
    return model.eval()


def entropy_bound_bytes(desc: dict, streams: list[bytes]) -> float:
    """Lower bound for this tensor's integer streams under order-0 coding, plus its raw float
    streams (codebook, values, dense, half) as they are."""
    enc = desc["enc"]
    if enc in ("dense", "half"):
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
