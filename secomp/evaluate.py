"""Evaluate a model on noisy/clean pairs: metrics of the noisy input and of the enhanced output,
overall and per SNR, with means and 95% confidence intervals.

Enhancement runs in this process; metrics (PESQ and STOI dominate the time) run in a pool of
`jobs` processes while later files are still being enhanced.
"""

from __future__ import annotations

import csv
import math
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .audio import AudioError, load_audio
from .data import Pair
from .enhance import enhance_array
from .metrics import METRICS, all_metrics, mean_ci95


def _score(item: tuple[str, np.ndarray, np.ndarray, np.ndarray]):
    ident, noisy, enhanced, clean = item
    nv, ne = all_metrics(noisy, clean)
    ev, ee = all_metrics(enhanced, clean)
    errors = {f"noisy.{k}": v for k, v in ne.items()} | {f"enhanced.{k}": v for k, v in ee.items()}
    return ident, nv, ev, errors


def _summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "n": len(rows),
        "noisy": {},
        "enhanced": {},
        "improvement": {},
        "ci95": {},
    }
    ci: dict[str, dict[str, float]] = {"noisy": {}, "enhanced": {}, "improvement": {}}
    for m in METRICS:
        for side in ("noisy", "enhanced"):
            s = mean_ci95([r[side][m] for r in rows])
            out[side][m] = s["mean"]
            ci[side][m] = s["ci95"]
        d = mean_ci95([r["enhanced"][m] - r["noisy"][m] for r in rows])
        out["improvement"][m] = d["mean"]
        ci["improvement"][m] = d["ci95"]
    out["ci95"] = ci
    return out


def _snr_key(v: float) -> str:
    return f"{v:g}"


def _summarise_by_snr(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """_summarise of all rows, plus "by_snr": {"-5": ..., "0": ...} when rows carry an SNR."""
    summary = _summarise(rows)
    snrs = sorted({r["snr_db"] for r in rows if r["snr_db"] is not None})
    if snrs:
        summary["by_snr"] = {
            _snr_key(s): _summarise([r for r in rows if r["snr_db"] == s]) for s in snrs
        }
    return summary


def result_row(pair, noisy: dict, enhanced: dict, errors: dict) -> dict:
    """One mixture's row for `summarise`: its id, SNR, noise and corpus from the manifest
    (`pair`: a data.Pair) beside the metrics of the noisy input and the enhanced output."""
    return {
        "id": pair.id,
        "snr_db": pair.snr_db,
        "noise": pair.extra.get("noise", ""),
        "corpus": pair.extra.get("corpus", ""),
        "noisy": noisy,
        "enhanced": enhanced,
        "errors": errors,
    }


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Means and 95% intervals of per-file rows (keys snr_db, corpus, noisy, enhanced): overall,
    "by_snr", and "by_corpus" (each corpus with its own overall numbers and "by_snr")."""
    summary = _summarise_by_snr(rows)
    corpora = sorted({r.get("corpus", "") for r in rows} - {""})
    if corpora:
        summary["by_corpus"] = {
            c: _summarise_by_snr([r for r in rows if r.get("corpus", "") == c]) for c in corpora
        }
    return summary


def evaluate(
    model: nn.Module | None,
    pairs: list[Pair],
    jobs: int | None = None,
    progress: bool = True,
    device: str | torch.device = "cpu",
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(summary, per-file rows). `model=None` means identity (enhanced = noisy)."""
    jobs = jobs or os.cpu_count() or 1
    rows: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    meta = {p.id: p for p in pairs}
    futures = []
    ex = ProcessPoolExecutor(jobs) if jobs > 1 else None
    try:
        for p in tqdm(pairs, desc="enhance", disable=not progress):
            try:
                if p.clean is None:
                    raise AudioError(f"{p.noisy}: no clean reference")
                noisy, clean = load_audio(p.noisy), load_audio(p.clean)
            except (AudioError, FileNotFoundError) as e:
                failed.append({"id": p.id, "reason": str(e)})
                continue
            enhanced = noisy if model is None else enhance_array(model, noisy, device=device)
            item = (p.id, noisy, enhanced, clean)
            futures.append(ex.submit(_score, item) if ex else item)
        for f in tqdm(futures, desc="metrics", disable=not progress):
            ident, nv, ev, errors = f.result() if ex else _score(f)
            rows.append(result_row(meta[ident], nv, ev, errors))
    finally:
        if ex:
            ex.shutdown()
    summary = summarise(rows)
    summary["missing"] = [
        {"id": r["id"], "metric": k, "reason": v} for r in rows for k, v in r["errors"].items()
    ]
    summary["failed"] = failed
    return summary, rows


def write_rows_csv(rows: list[dict[str, Any]], path: str | Path) -> None:
    from .files import atomic_write

    cols = ["id", "snr_db", "noise"] + [f"{s}_{m}" for s in ("noisy", "enhanced") for m in METRICS]
    with atomic_write(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols + ["errors"])
        for r in rows:
            vals = [r[s][m] for s in ("noisy", "enhanced") for m in METRICS]
            w.writerow(
                [r["id"], r["snr_db"], r["noise"]]
                + ["" if math.isnan(v) else f"{v:.5f}" for v in vals]
                + ["; ".join(f"{k}: {v}" for k, v in r["errors"].items())]
            )


def format_summary(summary: dict[str, Any]) -> str:
    """A small text table: overall and per-SNR means, noisy -> enhanced."""
    metrics = ("stoi", "pesq", "si_sdr")
    lines = [f"{'set':>8} {'n':>4}  " + "  ".join(f"{m:>17}" for m in metrics)]

    def line(label: str, s: dict[str, Any]) -> str:
        cells = [f"{s['noisy'][m]:7.3f} -> {s['enhanced'][m]:7.3f}" for m in metrics]
        return f"{label:>8} {s['n']:>4}  " + "  ".join(cells)

    for key, s in summary.get("by_snr", {}).items():
        lines.append(line(f"{key} dB", s))
    lines.append(line("all", summary))
    for corpus, s in summary.get("by_corpus", {}).items():
        lines.append(line(corpus[:8], s))
    if summary["failed"]:
        lines.append(f"failed files: {len(summary['failed'])} (see JSON 'failed')")
    if summary["missing"]:
        lines.append(f"missing metric values: {len(summary['missing'])} (see JSON 'missing')")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- no reference

DNSMOS_INPUT = 144160  # samples: the P.835 model's fixed 9.01 s input at 16 kHz
# The polynomials that map the network's raw outputs to MOS (DNSMOS P.835, as in speechmos).
DNSMOS_POLY = {
    "sig": np.poly1d([-0.08397278, 1.22083953, 0.0052439]),
    "bak": np.poly1d([-0.13166888, 1.60915514, -0.39604546]),
    "ovrl": np.poly1d([-0.06766283, 1.11546468, 0.04602535]),
}


def dnsmos_session(threads: int = 1):
    """An onnxruntime session of DNSMOS P.835 (SIG/BAK/OVRL), from the ONNX model the `speechmos`
    package ships (read from its folder: no download, and none of its own imports)."""
    import importlib.util

    import onnxruntime as ort

    spec = importlib.util.find_spec("speechmos")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("DNSMOS needs the speechmos package", name="speechmos")
    path = Path(list(spec.submodule_search_locations)[0]) / "dnsmos_models" / "sig_bak_ovr.onnx"
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def dnsmos(x: np.ndarray, session) -> dict[str, float]:
    """DNSMOS P.835 of 16 kHz mono `x` in [-1, 1]: SIG (speech), BAK (background), OVRL
    (overall), each a MOS in [1, 5], averaged over 9.01 s windows at 1 s hops (a shorter input
    is repeated to 9.01 s, as the reference implementation does)."""
    x = np.clip(np.asarray(x, np.float32), -1.0, 1.0)
    while len(x) < DNSMOS_INPUT:
        x = np.concatenate([x, x])
    hops = int(np.floor(len(x) / 16000) - DNSMOS_INPUT / 16000) + 1
    segs = [x[i * 16000 : i * 16000 + DNSMOS_INPUT] for i in range(max(hops, 1))]
    segs = np.stack([s for s in segs if len(s) == DNSMOS_INPUT])
    raw = session.run(None, {"input_1": segs})[0]  # [windows, 3]: sig, bak, ovrl
    return {k: float(np.mean(DNSMOS_POLY[k](raw[:, i]))) for i, k in enumerate(DNSMOS_POLY)}


def evaluate_dnsmos(
    model: nn.Module | None,
    files: list[Path],
    progress: bool = True,
    device: str | torch.device = "cpu",
    threads: int = 1,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(summary, rows) of DNSMOS for recordings without a clean reference: each file as it is
    ("noisy") and enhanced by `model` (None: identity). A file that fails to load is listed in
    summary["failed"] and the others go on."""
    from .files import run_batch

    session = dnsmos_session(threads)
    rows: list[dict[str, Any]] = []

    def one(src: Path, _: Path) -> None:
        x = load_audio(src)
        y = x if model is None else enhance_array(model, x, device=device)
        rows.append({"id": str(src), "noisy": dnsmos(x, session), "enhanced": dnsmos(y, session)})

    result = run_batch([(f, f) for f in files], one, desc="dnsmos", progress=progress)
    summary: dict[str, Any] = {"n": len(rows), "metric": "DNSMOS P.835"}
    ci: dict[str, dict[str, float]] = {}
    for side in ("noisy", "enhanced", "improvement"):
        summary[side], ci[side] = {}, {}
        for k in DNSMOS_POLY:
            vals = [
                r["enhanced"][k] - r["noisy"][k] if side == "improvement" else r[side][k]
                for r in rows
            ]
            s = mean_ci95(vals)
            summary[side][k], ci[side][k] = s["mean"], s["ci95"]
    summary["ci95"] = ci
    summary["failed"] = [{"id": f, "reason": why} for f, why in result.failed]
    return summary, rows


def write_dnsmos_csv(rows: list[dict[str, Any]], path: str | Path) -> None:
    from .files import atomic_write

    cols = [f"{s}_{k}" for s in ("noisy", "enhanced") for k in DNSMOS_POLY]
    with atomic_write(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", *cols])
        for r in rows:
            vals = [r[s][k] for s in ("noisy", "enhanced") for k in DNSMOS_POLY]
            w.writerow([r["id"]] + [f"{v:.4f}" for v in vals])


def format_dnsmos(summary: dict[str, Any]) -> str:
    """DNSMOS means with 95% intervals, input -> enhanced."""
    lines = [f"DNSMOS P.835 over {summary['n']} file(s) (no reference), input -> enhanced:"]
    for k in DNSMOS_POLY:
        ci = summary["ci95"]["improvement"][k]
        lines.append(
            f"{k.upper():>5} {summary['noisy'][k]:5.2f} -> {summary['enhanced'][k]:5.2f}  "
            f"({summary['improvement'][k]:+.2f} +- {ci:.2f})"
        )
    if summary["failed"]:
        lines.append(f"failed files: {len(summary['failed'])} (see JSON 'failed')")
    return "\n".join(lines)
