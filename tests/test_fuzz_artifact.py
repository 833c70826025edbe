"""Forged `.secomp` files are refused cheaply: structure-aware mutations with the checksum
recomputed (benchmarks/fuzz_artifact.py's generator) either load a model that runs or fail with
a one-line ArtifactError; a tiny file declaring gigabytes is refused before it allocates."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import struct
import time
from pathlib import Path

import pytest

from secomp.io.format import MAGIC, ArtifactError, read_artifact

ROOT = Path(__file__).resolve().parents[1]


def _fuzz_module():
    path = ROOT / "benchmarks" / "fuzz_artifact.py"
    spec = importlib.util.spec_from_file_location("fuzz_artifact", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _file(header: dict, payload: bytes) -> bytes:
    hb = json.dumps(header).encode()
    body = MAGIC + struct.pack("<I", len(hb)) + hb + payload
    return body + hashlib.sha256(body).digest()


def test_two_thousand_structure_aware_mutations():
    fz = _fuzz_module()
    cpu = time.process_time()
    r = fz.fuzz(2000, seed=12345)
    assert r["errors"] == [] and r["error"] == 0, r["errors"]
    assert r["refused"] > 1000 and r["ok"] > 0  # both outcomes are exercised
    assert r["max_case_cpu_s"] < 2.0  # CPU seconds: the shared CI machine's load does not count
    assert r["rss_growth_mb"] < 200
    # under a minute of CPU: wall time on the shared machine grew with its load (2,000 cases
    # took 20-71 s wall here)
    assert time.process_time() - cpu < 60


def test_tiny_file_declaring_a_gigabyte_is_refused_before_allocating():
    """A 1-GiB codebook tensor of one symbol: a few hundred bytes with a valid checksum. The old
    reader range-decoded 2^28 symbols into a 1 GiB array (many seconds, GBs of memory)."""
    n = 1 << 28
    table = struct.pack("<2I", n, 0)  # every symbol is 0
    words = struct.pack("<2I", 0, 0)
    header = {
        "format_version": 1,
        "config": {"arch": "crn", "hparams": {}},
        "tensors": [
            {
                "name": "x",
                "shape": [n],
                "dtype": "float32",
                "enc": "codebook",
                "nnz": n,
                "k": 1,
                "indices": {"coder": "range", "bits": 1, "count": n, "table_bytes": 8},
                "streams": [[0, 4], [4, 16]],
            }
        ],
    }
    payload = struct.pack("<f", 0.5) + table + words
    # as it is (a few hundred bytes), and padded to 66 KiB, which the bound on declared bytes
    # (zeros included, loose for pruned files) lets through and the bound on the values its
    # streams must produce refuses
    padded = dict(header, pad="x" * (66 << 10))
    for forged, size, what in (
        (_file(header, payload), 600, "tensors"),
        (_file(padded, payload), 67 << 10, "stored values"),
    ):
        assert len(forged) < size
        t = time.perf_counter()
        with pytest.raises(ArtifactError, match=f"bytes of {what}, more than this format"):
            read_artifact(forged, "forged.secomp")
        assert time.perf_counter() - t < 0.5


def test_range_decoder_complaint_is_an_artifact_error():
    """Garbage range-coder words for a stream whose table allows only some symbols: the old
    reader let the decoder's AssertionError (or another type) escape."""
    fz = _fuzz_module()
    seed = fz.seed_artifacts()[0]
    header, payload = fz.split(seed)
    ranged = [d for d in header["tensors"] if d.get("indices", {}).get("coder") == "range"]
    assert ranged
    seen = set()
    for d in ranged:
        off, n = d["streams"][1]
        tb = d["indices"]["table_bytes"]
        bad = bytearray(payload)
        bad[off + tb : off + n] = bytes([0xFF]) * (n - tb)
        try:
            read_artifact(fz.join(header, bytes(bad)), "t.secomp")
        except ArtifactError as e:
            seen.add("refused")
            assert "\n" not in str(e)
        else:
            seen.add("decoded")
    assert seen  # every case either decoded (then checked) or was refused, none escaped
