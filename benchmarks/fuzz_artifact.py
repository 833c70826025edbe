"""Structure-aware fuzzing of the `.secomp` reader, under a memory limit.

Each case takes a real artifact (a small pruned + quantized CRN, or a slimmed one), changes one
thing that a forger could change - a header field, a tensor-table entry (shape, non-zero count,
codebook size, index width, symbol count, coder, stream offsets and lengths), the model config
(hyper-parameters, slim spec) or the bytes of one stream (range-coder words, bit-packed
indices) - and recomputes the SHA-256, so the checksum never saves the reader. The case then
loads the bytes as `secomp` does (`load_artifact_bytes`) and, if a model comes back, runs it on
0.25 s of audio. A case passes when it either loads and runs or fails with `ArtifactError`.

    python benchmarks/fuzz_artifact.py --cases 20000 --mem-mb 3072 --json docs/fuzz_artifact.json

runs the cases in worker processes (each under `resource.setrlimit(RLIMIT_AS)`), and reports
crashed workers, exceptions other than ArtifactError, the largest resident memory a worker
reached above its state after warm-up, and the slowest case (wall and CPU seconds: on a loaded
machine the wall time of a case grows with the other processes' load, its CPU time does not).
`tests/test_fuzz_artifact.py` runs 2,000 cases of the same generator in the test suite.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import random
import resource
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from secomp.compress.groups import prunable_tensors
from secomp.io.format import (
    MAGIC,
    ArtifactError,
    encode_model,
    join_artifact,
    load_artifact_bytes,
    pack_header,
    split_artifact,
)

# compact value tables
# fmt: off
INTERESTING_INTS = [0, 1, -1, 2, 3, 7, 8, 16, 31, 32, 33, 64, 255, 256, 257, 4096, 65535,
                    1 << 20, (1 << 31) - 1, 1 << 31, 1 << 32, 1 << 40, 1 << 63, 10**30, -(1 << 31)]
INTERESTING_VALUES: list[Any] = [None, True, False, "", "x", "range", "packed", "bitmap",
                                 "relative", "codebook", "sparse", "dense", "half", "float32",
                                 "int64", 1.5, -0.0, 1e308, [], {}, [1], [[]], {"a": 1}, "9" * 50]
# fmt: on


def seed_artifacts() -> list[bytes]:
    """Two small real artifacts: a CRN pruned to ~70% zeros and quantized to 16 values, one
    bias rounded to float16 (every encoding, both coders, both position kinds), and the same
    CRN slimmed (a slim spec with recurrent and convolution entries)."""
    from secomp.models import build_model
    from secomp.structure.slim import slim_model

    torch.manual_seed(0)
    model = build_model("crn", channels=(4, 8), lstm_hidden=24, lstm_layers=2).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() < 2:
                continue
            keep = torch.rand(p.shape, generator=g) > 0.7
            # skewed level use, as k-means leaves it: range coding beats packing
            levels = torch.linspace(-0.3, 0.3, 16)
            prob = torch.exp(-torch.arange(16.0) / 2)
            pick = torch.multinomial(prob, p.numel(), replacement=True, generator=g)
            q = levels[pick].reshape(p.shape)
            p.copy_(torch.where(keep, q, torch.zeros(())))
        # structured zeros, so that slimming removes LSTM units and convolution inputs
        model.lstm.weight_hh_l0[:, :5] = 0
        model.lstm.weight_ih_l1[:, :5] = 0
        model.encoder[1].weight[:, :2] = 0
        # a float16-exact vector, as the Q stage leaves them: stored `half`
        model.lstm.bias_ih_l0.copy_(model.lstm.bias_ih_l0.half().float())
    seeds = [encode_model(model, prunable_tensors(model))]
    try:
        slim, _ = slim_model(model)
        seeds.append(encode_model(slim.eval(), prunable_tensors(slim)))
    except Exception:  # slimming found nothing to remove in this toy: fuzz the plain one only
        pass
    return seeds


def split(data: bytes) -> tuple[dict, bytes]:
    parts = split_artifact(data)
    return json.loads(parts.text), parts.payload


def join(header: Any, payload: bytes, header_bytes: bytes | None = None) -> bytes:
    """Bytes of a file with this header (or this JSON text) and payload, the header stored as
    the writer stores it (version 2: zlib) and the checksum correct."""
    hb = header_bytes if header_bytes is not None else json.dumps(header).encode()
    return join_artifact(pack_header(hb), payload)


def _nodes(obj: Any, path: tuple = ()) -> list[tuple]:
    """Every (container path, key) in a JSON value."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append(path + (k,))
            out += _nodes(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.append(path + (i,))
            out += _nodes(v, path + (i,))
    return out


def _get(obj: Any, path: tuple) -> Any:
    for k in path:
        obj = obj[k]
    return obj


def _new_value(rng: random.Random, old: Any) -> Any:
    r = rng.random()
    if isinstance(old, bool) or not isinstance(old, int):
        if r < 0.5:
            return rng.choice(INTERESTING_VALUES + INTERESTING_INTS)
    if isinstance(old, int) and not isinstance(old, bool):
        if r < 0.35:
            return old + rng.choice([-1, 1, -2, 2, 8, -8])
        if r < 0.55:
            return old * rng.choice([2, 3, 10, 1000, 10**6, -1, 0])
        return rng.choice(INTERESTING_INTS)
    if isinstance(old, list) and old and r < 0.8:
        return old[: rng.randrange(len(old))] if rng.random() < 0.5 else old + old[-1:] * 3
    return rng.choice(INTERESTING_VALUES)


def _mutate_header(rng: random.Random, header: dict, focus: str) -> None:
    roots = {
        "table": ("tensors",),
        "config": ("config",),
        "any": (),
    }[focus]
    paths = [p for p in _nodes(header) if p[: len(roots)] == roots and len(p) > len(roots)]
    if not paths:
        return
    path = rng.choice(paths)
    parent, key = _get(header, path[:-1]), path[-1]
    op = rng.random()
    if op < 0.12 and isinstance(parent, dict):
        del parent[key]
    elif op < 0.18 and isinstance(parent, list):
        parent.insert(rng.randrange(len(parent) + 1), copy.deepcopy(rng.choice(parent)))
    elif op < 0.22 and isinstance(parent, dict):
        parent[rng.choice(["extra", "nnz", "k", "positions", "slim", "hidden", "bits"])] = (
            _new_value(rng, 3)
        )
    else:
        parent[key] = _new_value(rng, parent[key])


def _mutate_table_field(rng: random.Random, header: dict) -> None:
    """One of the fields the reader sizes arrays by, in one tensor entry."""
    desc = rng.choice(header["tensors"])
    field = rng.choice(["shape", "nnz", "k", "indices", "positions", "streams", "enc", "dtype"])
    if field == "shape":
        shape = desc["shape"]
        if shape and rng.random() < 0.7:
            i = rng.randrange(len(shape))
            shape[i] = _new_value(rng, shape[i])
        else:
            desc["shape"] = shape + [rng.choice([1, 2, 1 << 20])]
    elif field in ("indices", "positions") and field in desc:
        sub = desc[field]
        key = rng.choice(["bits", "count", "table_bytes", "coder", "kind"])
        sub[key] = _new_value(rng, sub.get(key, 4))
    elif field == "streams" and desc["streams"]:
        s = rng.choice(desc["streams"])
        s[rng.randrange(2)] = _new_value(rng, s[0])
    else:
        desc[field] = _new_value(rng, desc.get(field, 1))


def _stream_span(header: dict, rng: random.Random) -> tuple[int, int]:
    desc = rng.choice(header["tensors"])
    off, n = rng.choice(desc["streams"])
    return off, n


def _mutate_payload(rng: random.Random, header: dict, payload: bytes) -> bytes:
    """Flip, overwrite, cut or extend the bytes of one stream; the table is left as it was."""
    b = bytearray(payload)
    off, n = _stream_span(header, rng)
    op = rng.random()
    if n and op < 0.5:
        for _ in range(rng.randint(1, 8)):
            b[off + rng.randrange(n)] ^= 1 << rng.randrange(8)
    elif n and op < 0.7:
        i = off + rng.randrange(n)
        b[i : i + 4] = rng.randbytes(4)
    elif op < 0.85:
        del b[off + rng.randrange(n + 1) : off + n]
    else:
        b[off + n : off + n] = rng.randbytes(rng.choice([1, 4, 64, 4096]))
    return bytes(b)


def mutate(seed: bytes, rng: random.Random) -> bytes:
    """One structure-aware mutation of `seed`, checksum recomputed."""
    header, payload = split(seed)
    r = rng.random()
    if r < 0.30:
        _mutate_table_field(rng, header)
    elif r < 0.50:
        _mutate_header(rng, header, "config")
    elif r < 0.62:
        _mutate_header(rng, header, rng.choice(["table", "any"]))
    elif r < 0.90:
        payload = _mutate_payload(rng, header, payload)
    elif r < 0.93:
        hb = bytearray(json.dumps(header).encode())
        i = rng.randrange(len(hb))
        hb[i : i + 1] = rng.choice([b"[", b"{", b"9", b'"', b"", b"-", b"e9"]) * rng.choice([1, 3])
        return join(None, payload, bytes(hb))
    elif r < 0.96:
        # the compressed header's own bytes: flipped, cut or extended (zlib's checks, the
        # decompression bound, a stream that ends early or has bytes after its end)
        zb = bytearray(pack_header(json.dumps(header).encode()))
        op = rng.random()
        if op < 0.6:
            for _ in range(rng.randint(1, 4)):
                zb[rng.randrange(len(zb))] ^= 1 << rng.randrange(8)
        elif op < 0.8:
            del zb[rng.randrange(len(zb)) :]
        else:
            zb += rng.randbytes(rng.choice([1, 8]))
        return join_artifact(bytes(zb), payload)
    else:
        # a header length that does not match the header, checksum still right
        data = bytearray(join(header, payload))
        (hlen,) = struct.unpack("<I", data[len(MAGIC) : len(MAGIC) + 4])
        data[len(MAGIC) : len(MAGIC) + 4] = struct.pack(
            "<I", max(0, min(2**32 - 1, hlen + rng.choice([-1, 1, -100, 1 << 31])))
        )
        body = bytes(data[:-32])
        return body + hashlib.sha256(body).digest()
    return join(header, payload)


def run_case(data: bytes, audio: torch.Tensor) -> str:
    """'ok' (loaded and ran), 'refused' (ArtifactError) or 'error: Type: message'."""
    try:
        model = load_artifact_bytes(data, "fuzz.secomp")
    except ArtifactError as e:
        if "\n" in str(e):
            return f"error: multi-line ArtifactError: {str(e)[:200]!r}"
        return "refused"
    except Exception as e:
        return f"error: {type(e).__name__}: {str(e)[:200]}"
    try:
        with torch.inference_mode():
            y = model(audio)
        if y.shape != audio.shape:
            return f"error: output shape {tuple(y.shape)}"
    except Exception as e:
        return f"error: runs: {type(e).__name__}: {str(e)[:200]}"
    return "ok"


def fuzz(cases: int, seed: int = 0) -> dict[str, Any]:
    """Run `cases` mutations in this process; counts, non-ArtifactError failures, the slowest
    case and the resident-memory growth over the run (MB, after one warm-up case)."""
    torch.set_num_threads(1)
    seeds = seed_artifacts()
    rng = random.Random(seed)
    audio = torch.from_numpy(np.random.default_rng(0).standard_normal(4000).astype(np.float32))
    audio = audio[None] * 0.05
    run_case(seeds[0], audio)  # warm-up: first model build and forward
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    counts = {"ok": 0, "refused": 0, "error": 0}
    errors: list[str] = []
    slowest = (0.0, "")
    max_cpu = 0.0
    t_all = time.perf_counter()
    for i in range(cases):
        data = mutate(seeds[i % len(seeds)], rng)
        t, c = time.perf_counter(), time.process_time()
        res = run_case(data, audio)
        dt = time.perf_counter() - t
        # CPU seconds do not grow with other processes' load, wall seconds do
        max_cpu = max(max_cpu, time.process_time() - c)
        if dt > slowest[0]:
            slowest = (dt, res)
        key = res.split(":")[0]
        counts[key] += 1
        if key == "error" and len(errors) < 20:
            errors.append(f"case {i} (seed {seed}): {res}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "cases": cases,
        **counts,
        "errors": errors,
        "max_case_s": round(slowest[0], 4),
        "max_case_cpu_s": round(max_cpu, 4),
        "total_s": round(time.perf_counter() - t_all, 2),
        "rss_growth_mb": round(rss - rss0, 1),
        "rss_max_mb": round(rss, 1),
        "seed_bytes": [len(s) for s in seeds],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cases", type=int, default=20000, help="mutations in all")
    p.add_argument("--workers", type=int, default=2, help="worker processes")
    p.add_argument("--chunk", type=int, default=2500, help="cases per worker process")
    p.add_argument("--mem-mb", type=int, default=3072, help="address-space limit per worker")
    p.add_argument("--json", default=None, help="write the report here")
    p.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker is not None:
        lim = a.mem_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
        print(json.dumps(fuzz(a.chunk, a.worker)))
        return
    from concurrent.futures import ThreadPoolExecutor

    def one(seed: int) -> dict[str, Any]:
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            str(seed),
            "--chunk",
            str(a.chunk),
            "--mem-mb",
            str(a.mem_mb),
        ]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            return {"crashed": True, "seed": seed, "rc": r.returncode, "stderr": r.stderr[-500:]}
        return json.loads(r.stdout.strip().splitlines()[-1])

    n_chunks = -(-a.cases // a.chunk)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(a.workers) as ex:
        parts = list(ex.map(one, range(n_chunks)))
    done = [r for r in parts if not r.get("crashed")]
    report = {
        "cases": sum(r["cases"] for r in done),
        "crashed_workers": [r for r in parts if r.get("crashed")],
        "loaded_and_ran": sum(r["ok"] for r in done),
        "refused_with_ArtifactError": sum(r["refused"] for r in done),
        "other_exceptions": sum(r["error"] for r in done),
        "examples": [e for r in done for e in r["errors"]][:20],
        "max_case_s": max((r["max_case_s"] for r in done), default=None),
        "max_case_cpu_s": max((r["max_case_cpu_s"] for r in done), default=None),
        "max_rss_growth_mb": max((r["rss_growth_mb"] for r in done), default=None),
        "max_rss_mb": max((r["rss_max_mb"] for r in done), default=None),
        "mem_limit_mb": a.mem_mb,
        "seed_bytes": done[0]["seed_bytes"] if done else None,
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    text = json.dumps(report, indent=1)
    print(text)
    if a.json:
        Path(a.json).write_text(text + "\n")
    bad = report["crashed_workers"] or report["other_exceptions"]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
