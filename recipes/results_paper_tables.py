"""The paper's three tables for the committed corpus-v2 artifacts (issue 13, item 4): size, quality
per SNR on both test sets beside the uncompressed baseline, and MACs for a 4-s mixture.

Called by recipes/make_results.py (a section of docs/results.md) and runnable alone to write the
same numbers as JSON:

    python recipes/results_paper_tables.py --json results/paper_tables.json

Reads only committed files: the artifacts (`secomp info` of each, `secomp.info.model_info`), the
test-set evaluations `secomp evaluate models/FILE.secomp --pairs testsets/SET_v2 --json
results/compressed_v2/FILE_SET.json` (the `model` field of each names the path the file was
evaluated at: its run folder, or `models/*-c2-fast.secomp` before the C2-slim files took
their names, byte for byte the same), and the baselines' evaluations of the same test sets
(results/baselines_v6/, results/baselines_v7/, results/baselines_v9/).
"""

from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import json
from collections import Counter
from pathlib import Path

from secomp.info import model_info
from secomp.models.registry import build_model
from secomp.structure.macs import count_macs

ROOT = Path(__file__).resolve().parents[1]
SETS = ("matched", "untrained")
SNRS = ("-5", "0", "5", "10", "15")
METRICS = (("stoi", "STOI", 3), ("pesq", "PESQ", 2), ("si_sdr", "SI-SDR (dB)", 1))
# artifact name (models/NAME.secomp), pipeline, the baseline it was made from, its run record
# (results/compress/RUN/); the C2-slim files are the c2-fast runs slimmed (they compute what the
# pruned model computes; the unslimmed files stay out of the tree)
C2 = "C2-slim (c2-fast)"
ARTIFACTS = (
    ("lstm-c1", "C1", "lstm-v6", "lstm-v6-c1-r6q"),
    ("crn-c1", "C1", "crn-v6", "crn-v6-c1-r4p5"),
    ("gcrn-c1", "C1", "gcrn-v6", "gcrn-v6-c1-r2bl4q5t"),
    ("tcnn-c1", "C1", "tcnn-v6", "tcnn-v6-c1-r4p-p5k"),
    ("lstm-c2-slim", C2, "lstm-v6", "lstm-v6-c2-fast"),
    ("crn-c2-slim", C2, "crn-v6", "crn-v6-c2-fast"),
    ("gcrn-c2-slim", C2, "gcrn-v6", "gcrn-v6-c2-fast-qs-pq"),
    ("tcnn-c2-slim", C2, "tcnn-v6", "tcnn-v6-c2-fast-qs"),
)
# the bounds: (minimum ratio vs dense fp32, PESQ loss allowed, STOI loss allowed) at
# every SNR of both test sets
BOUNDS = {"C1": (40.0, 0.1, 0.01), C2: (12.0, 0.15, None)}


# `secomp info --json` of each committed file as last computed, keyed by path with the file's
# sha256: reused while the file is unchanged (tracing a C1 TCNN for its slimmed MACs takes
# minutes on two cores), computed again when it changed
INFO_CACHE = ROOT / "results" / "models_info.json"


@functools.cache
def chosen_widths(run: str) -> Counter[int] | None:
    """Codebook widths the Q stage's search chose in results/compress/RUN: bits -> tensors."""
    path = ROOT / "results" / "compress" / run / "quant_bits_Q.csv"
    if not path.exists():
        return None
    return Counter(int(r["chosen"]) for r in csv.DictReader(path.open()))


def file_info(path: Path) -> dict:
    """`secomp info` of a model file (from INFO_CACHE while the file is unchanged)."""
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    key = str(path.relative_to(ROOT))
    cache = _load(INFO_CACHE) or {}
    if cache.get(key, {}).get("sha256") == sha:
        return cache[key]["info"]
    info = model_info(path)
    cache[key] = {"sha256": sha, "info": info}
    INFO_CACHE.write_text(json.dumps(cache, indent=1, sort_keys=True) + "\n")
    return info


@functools.cache
def uncompressed_macs(arch: str) -> dict:
    """count_macs of the architecture at its default (paper) size, once per architecture."""
    return count_macs(build_model(arch))


def _load(p: Path) -> dict | None:
    return json.loads(p.read_text()) if p.exists() else None


def baseline_eval(base: str, test_set: str) -> dict | None:
    """A baseline's evaluation of a corpus-v2 test set (the latest runs' folder first)."""
    for d in ("baselines_v9", "baselines_v7", "baselines_v6"):
        r = _load(ROOT / "results" / d / f"{base}_{test_set}.json")
        if r:
            return r
    return None


def kept_file(run: str, summary: dict) -> tuple[int, dict | None]:
    """(bytes, file.json) of the run's unslimmed file as kept (re-encoded or repaired here,
    results/compress/RUN/file.json), else the bytes of the run's own file."""
    kept = _load(ROOT / "results" / "compress" / run / "file.json")
    return (kept["bytes"] if kept else summary["artifact_bytes"]), kept


def collect() -> list[dict]:
    """One row per committed artifact: size, MACs, and per set, SNR and metric the enhanced score
    of the artifact and of its baseline (None where an evaluation is missing)."""
    rows = []
    for name, pipeline, base, run in ARTIFACTS:
        path = ROOT / "models" / f"{name}.secomp"
        if not path.exists():
            continue
        info = file_info(path)
        row = {
            "artifact": f"models/{name}.secomp",
            "pipeline": pipeline,
            "baseline": base,
            "run": run,
            "params_dense": info.get("unslimmed_params", info["params"]),
            "params": info["params"],
            "nonzero": info["nonzero_params"],
            "file_bytes": info["file_bytes"],
            "file_mib": info["file_mib"],
            "dense_fp32_bytes": info["dense_fp32_bytes"],
            "ratio": info["compression_ratio"],
            # the uncompressed baselines are the architectures' default (paper) sizes
            "macs_4s": {"uncompressed": uncompressed_macs(info["arch"])["dense"]}
            | info["macs_4s"],
            "quality": test_quality(name, base),
        }
        rows.append(row)
    return rows


def test_quality(name: str, base: str) -> dict:
    """Per test set, metric and SNR the enhanced score of the evaluated file
    (results/compressed_v2/NAME_SET.json) and of its baseline, and the noisy input's; a set
    without both evaluations is left out."""
    quality = {}
    for s in SETS:
        r = _load(ROOT / "results" / "compressed_v2" / f"{name}_{s}.json")
        b = baseline_eval(base, s)
        if not (r and b):
            continue
        quality[s] = {
            k: {
                x: {
                    "compressed": r["by_snr"][x]["enhanced"][k],
                    "baseline": b["by_snr"][x]["enhanced"][k],
                    "noisy": b["by_snr"][x]["noisy"][k],
                }
                for x in SNRS
            }
            for k, _, _ in METRICS
        }
    return quality


def worst_changes(quality: dict) -> dict[str, tuple[float, str, str]]:
    """The most negative compressed - baseline change of PESQ and of STOI over every set and
    SNR of `test_quality`'s dict: {metric: (change, set, SNR)}."""
    worst: dict[str, tuple[float, str, str]] = {}
    for s, q in quality.items():
        for k in ("pesq", "stoi"):
            for x, c in q[k].items():
                d = c["compressed"] - c["baseline"]
                if k not in worst or d < worst[k][0]:
                    worst[k] = (d, s, x)
    return worst


def within(pipeline: str, ratio: float, worst_pesq: float, worst_stoi: float) -> tuple[bool, str]:
    """Whether a ratio and the worst PESQ / STOI changes meet the pipeline's bound in BOUNDS,
    and the bound in words."""
    min_ratio, d_pesq, d_stoi = BOUNDS[pipeline]
    ok = ratio >= min_ratio and worst_pesq >= -d_pesq
    if d_stoi is not None:
        ok = ok and worst_stoi >= -d_stoi
    bound = f">= {min_ratio:.0f}x, PESQ within {d_pesq}" + (
        f", STOI within {d_stoi * 100:g} point" if d_stoi is not None else ""
    )
    return ok, bound


def verdict(row: dict) -> tuple[bool, str]:
    """Whether the artifact meets its pipeline's bound on both test sets, and the worst cells."""
    if set(row["quality"]) != set(SETS):
        return False, "not evaluated on both test sets"
    worst = worst_changes(row["quality"])
    ok, bound = within(row["pipeline"], row["ratio"], worst["pesq"][0], worst["stoi"][0])
    text = ", ".join(
        f"worst {k.upper()} {d:+.3f} ({s}, {x} dB)" for k, (d, s, x) in sorted(worst.items())
    )
    return ok, f"{row['ratio']:.1f}x; {text}; bound {bound}"


def section(rows: list[dict] | None = None) -> list[str]:
    rows = collect() if rows is None else rows
    if not rows:
        return []
    L = [
        "### The paper's tables for the committed artifacts",
        "",
        "`python recipes/results_paper_tables.py --json results/paper_tables.json` (every number"
        " below is in that JSON). Sizes and MACs: `secomp info models/FILE.secomp --json`"
        " (bytes are the file's own). Quality: `secomp evaluate models/FILE.secomp --pairs"
        " testsets/SET_v2 --json results/compressed_v2/FILE_SET.json`, 250 mixtures per set"
        " (50 per SNR), beside the baseline's evaluation on the same mixtures.",
        "",
        "Size (dense parameters of the architecture, parameters the file holds after slimming,"
        " non-zero weights, file bytes and MiB, ratio against the dense fp32 baseline):",
        "",
        "| artifact | pipeline | from | dense params | params in file | non-zero | bytes | MiB |"
        " ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        L.append(
            f"| `{r['artifact']}` | {r['pipeline']} | {r['baseline']} | {r['params_dense']:,} |"
            f" {r['params']:,} | {r['nonzero']:,} | {r['file_bytes']:,} | {r['file_mib']:.2f} |"
            f" {r['ratio']:.1f}x |"
        )
    L += [
        "",
        "MACs to process a 4-s mixture (the paper's Table 3): the uncompressed architecture,"
        " the compressed model counting only its non-zero weights, and what it computes after"
        " slimming (what `secomp slim` leaves: the C2-fast files are already slimmed; an"
        " unstructured C1 file computes as densely as its baseline unless whole units are"
        " zero, and its non-zero MACs need sparse kernels to be saved):",
        "",
        "| artifact | dense, uncompressed (G) | non-zero only (G) | after slimming (G) |"
        " fewer MACs after slimming |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        m = r["macs_4s"]
        L.append(
            f"| `{r['artifact']}` | {m['uncompressed'] / 1e9:.2f} | {m['nonzero'] / 1e9:.2f} |"
            f" {m['slimmed'] / 1e9:.2f} | {m['uncompressed'] / m['slimmed']:.2f}x |"
        )
    for k, label, nd in METRICS:
        L += [
            "",
            f"{label} per SNR, compressed (change against its baseline):",
            "",
            "| artifact | set | " + " | ".join(f"{x} dB" for x in SNRS) + " |",
            "|---|---|" + "---|" * len(SNRS),
        ]
        for r in rows:
            for s, q in r["quality"].items():
                cells = [
                    f"{c['compressed']:.{nd}f} ({c['compressed'] - c['baseline']:+.{nd + 1}f})"
                    for c in (q[k][x] for x in SNRS)
                ]
                L.append(f"| `{r['artifact']}` | {s} | " + " | ".join(cells) + " |")
    L += ["", "Against the issue's bounds (every SNR of both test sets):", ""]
    for r in rows:
        ok, text = verdict(r)
        L.append(f"- `{r['artifact']}`: " + ("**met**" if ok else "**missed**") + f" ({text})")
    return L + [""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, help="write the rows here")
    args = ap.parse_args()
    rows = collect()
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    print("\n".join(section(rows)))


if __name__ == "__main__":
    main()
