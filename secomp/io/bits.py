"""Bit-level encodings used by the artifact: fixed-width packing, sparse positions as a bitmap or
as relative indices with filler entries (Deep Compression, Han et al. 2016)."""

from __future__ import annotations

import numpy as np


def pack_bits(values: np.ndarray, bits: int) -> bytes:
    """Unsigned integers < 2**bits, each stored in `bits` bits, little-endian bit order."""
    v = np.asarray(values, dtype=np.uint32)
    if v.size and int(v.max()) >= 1 << bits:
        raise ValueError(f"value {int(v.max())} does not fit in {bits} bits")
    planes = ((v[:, None] >> np.arange(bits, dtype=np.uint32)) & 1).astype(np.uint8)
    return np.packbits(planes.reshape(-1), bitorder="little").tobytes()


def unpack_bits(data: bytes, bits: int, count: int) -> np.ndarray:
    need = (count * bits + 7) // 8
    if len(data) < need:
        raise ValueError(f"bit stream too short: {len(data)} < {need} bytes")
    flat = np.unpackbits(np.frombuffer(data, np.uint8, need), bitorder="little")
    planes = flat[: count * bits].reshape(count, bits).astype(np.uint32)
    return (planes << np.arange(bits, dtype=np.uint32)).sum(1, dtype=np.uint32)


def relative_entries(positions: np.ndarray, bits: int) -> np.ndarray:
    """Sorted flat positions -> entries of `bits` bits. Entry s < M = 2**bits - 1 means "skip s
    places, then a weight"; s == M is a filler, "skip M places, no weight" (for long gaps)."""
    m = (1 << bits) - 1
    gaps = np.diff(np.concatenate([[-1], positions.astype(np.int64)])) - 1
    fillers = gaps // m
    rest = gaps % m
    n = int(fillers.sum()) + len(gaps)
    out = np.full(n, m, dtype=np.uint32)
    # each weight's entry comes after its fillers
    ends = np.cumsum(fillers + 1) - 1
    out[ends] = rest
    return out


def positions_from_relative(entries: np.ndarray, bits: int) -> np.ndarray:
    m = (1 << bits) - 1
    fill = entries == m
    advance = np.where(fill, m, entries.astype(np.int64) + 1)
    after = np.cumsum(advance)
    return after[~fill] - 1


def relative_bytes(positions: np.ndarray, bits: int) -> int:
    m = (1 << bits) - 1
    gaps = np.diff(np.concatenate([[-1], positions.astype(np.int64)])) - 1
    n = int((gaps // m).sum()) + len(gaps)
    return (n * bits + 7) // 8


def entropy_bits(symbols: np.ndarray) -> float:
    """Order-0 empirical entropy of a symbol stream, in bits (the bound for any coder that codes
    symbols independently with one fixed table)."""
    if symbols.size == 0:
        return 0.0
    _, counts = np.unique(symbols, return_counts=True)
    p = counts / counts.sum()
    return float(-(counts * np.log2(p)).sum())
