"""P / S+P / P+Q / S+P+Q ablations (issue 13, item 6) and distillation on/off (item 2), from the
committed run records; a table for docs/results.md, the rows as JSON, and a figure.

One run with the sparse-regularization stage S (stages S, P, Q) and one without it (stages P, Q;
`stages=[P;Q]` in a job's overrides of `bash recipes/gpu_v5.sh compress`), at otherwise equal
settings, give all four variants: P and S+P are those runs after their last pruning round,
P+Q and S+P+Q their finished files. Read per variant from results/compress/RUN/progress.json:
non-zero weights, bytes (every variant's encoding bit-packed without range coding, as the
pipeline counts it; and the `.secomp` file's bytes from `summary.json` for the Q variants, and
for the P variants where the run had `save_pruned: true`), and valid STOI / SI-SDR on the
run's 16 fixed valid mixtures; and, for the finished
files, the separation test set (`bash recipes/evaluate_sep.sh NAME=FILE`,
results/separation/NAME.json) where it has been evaluated.

    python recipes/results_ablations.py --json results/ablations.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib
import yaml

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "results" / "compress"
# model, pipeline, run with S, run without S, their separation test evaluations (or None)
ABLATIONS = (
    ("sep-v3", "C1", "sep-v3-c1-qs", "sep-v3-c1-pq", "sep-c1", "sep-c1-pq"),
    (
        "sep-v3",
        "C2 (c2-fast)",
        "sep-v3-c2-fast-qs",
        "sep-v3-c2-fast-pq",
        "sep-c2-slim",
        "sep-c2-fast-pq",
    ),
)
# model, run with distillation, run without, their separation test evaluations
DISTILL = (("sep-v3", "C1", "sep-v3-c1-qs", "sep-v3-c1-qs-nokd", "sep-c1", "sep-c1-nokd"),)
FIGURE = ROOT / "docs" / "figures" / "ablations.png"


def _load(p: Path) -> dict | None:
    return json.loads(p.read_text()) if p.exists() else None


def _variants(run: str, test: str | None) -> list[dict]:
    """The pruned-only and the finished variant of one run (none for a run without P)."""
    prog, summary = _load(RECORDS / run / "progress.json"), _load(RECORDS / run / "summary.json")
    if prog is None or summary is None:
        return []
    units = {u["unit"]: u for u in prog["rounds"]}
    pruning = [u for u in prog["rounds"] if u["unit"].startswith("P")]
    if not pruning or "Q" not in units:
        return []
    dense = prog["before"]["dense_fp32_bytes"]
    prefix = "S+" if "S" in prog["done"] else ""
    ev = _load(ROOT / "results" / "separation" / f"{test}.json") if test else None
    rows = []
    for name, u, file_bytes, t in (
        # the pruned model is a file only when the run had save_pruned
        (prefix + "P", pruning[-1], summary.get("pruned_artifact_bytes"), None),
        (prefix + "P+Q", units["Q"], summary["artifact_bytes"], ev),
    ):
        rows.append(
            {
                "variant": name,
                "run": run,
                "after": u["unit"],
                "nonzero": u["nonzero"],
                "params": prog["before"]["params"],
                # every variant's encoding bit-packed, without range coding (model_stats):
                # the one byte count all four variants have
                "packed_bytes": u["artifact_bytes"],
                "packed_ratio": dense / u["artifact_bytes"],
                "file_bytes": file_bytes,
                "file_ratio": dense / file_bytes if file_bytes else None,
                "valid": {k: u[k] for k in ("stoi", "si_sdr", "valid_loss")},
                "baseline_valid": {k: prog["before"][k] for k in ("stoi", "si_sdr", "valid_loss")},
                "test": None
                if t is None
                else {"si_sdri": t["si_sdri"], "sdri": t["sdri"]}
                | {k: t["separated"][k] for k in ("stoi", "pesq")},
            }
        )
    return rows


def collect() -> dict:
    ablations = []
    for model, pipeline, run_s, run_no_s, test_s, test_no_s in ABLATIONS:
        rows = _variants(run_no_s, test_no_s) + _variants(run_s, test_s)
        if rows:
            order = ("P", "S+P", "P+Q", "S+P+Q")
            rows.sort(key=lambda r: order.index(r["variant"]))
            ablations.append({"model": model, "pipeline": pipeline, "rows": rows})
    distill = []
    for model, pipeline, run_kd, run_no_kd, test_kd, test_no_kd in DISTILL:
        pair = []
        for run, test, weight in ((run_kd, test_kd, "on"), (run_no_kd, test_no_kd, "off")):
            rows = _variants(run, test)
            if rows:
                cfg = yaml.safe_load((RECORDS / run / "config.yaml").read_text())
                kd = float(cfg.get("distill", 0.0))  # CompressConfig's default
                pair.append({"distill": weight, "weight": kd, **rows[-1]})
        if len(pair) == 2:
            distill.append({"model": model, "pipeline": pipeline, "rows": pair})
    return {"ablations": ablations, "distillation": distill}


def plot(data: dict, path: Path) -> None:
    groups = data["ablations"]
    fig, axes = plt.subplots(1, len(groups), figsize=(5.2 * len(groups), 3.8), squeeze=False)
    for ax, g in zip(axes[0], groups):
        for r in g["rows"]:
            d = r["valid"]["si_sdr"] - r["baseline_valid"]["si_sdr"]
            marker = "o" if "S" in r["variant"] else "s"
            # filled: quantized (P+Q, S+P+Q); hollow: pruned only (P, S+P)
            ax.plot(
                r["packed_ratio"],
                d,
                marker=marker,
                ms=7,
                ls="",
                color="C0" if r["after"] == "Q" else "C1",
                fillstyle="full" if r["after"] == "Q" else "none",
            )
            ax.annotate(
                r["variant"],
                (r["packed_ratio"], d),
                textcoords="offset points",
                xytext=(5, 4),
                fontsize=8,
            )
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("ratio vs dense fp32 (bit-packed bytes, no range coding)")
        ax.set_ylabel("valid SI-SDR change vs baseline (dB)")
        ax.set_title(f"{g['model']} {g['pipeline']}")
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _file_cell(r: dict) -> str:
    return f"{r['file_bytes']:,} ({r['file_ratio']:.1f}x)" if r["file_bytes"] else "-"


def _test_cells(t: dict | None) -> str:
    if t is None:
        return "- | - | -"
    return f"{t['si_sdri']:.2f} | {t['stoi']:.3f} | {t['pesq']:.2f}"


def section(data: dict | None = None) -> list[str]:
    data = collect() if data is None else data
    if not data["ablations"] and not data["distillation"]:
        return []
    L = [
        "### P / S+P / P+Q / S+P+Q ablations",
        "",
        "`python recipes/results_ablations.py --json results/ablations.json` (figure:"
        " `docs/figures/ablations.png`). One run with S and one without it (`stages=[P;Q]`) at"
        " otherwise equal settings give all four variants: P and S+P are those runs after their"
        " last pruning round, P+Q and S+P+Q their finished files. Bit-packed bytes: the"
        " pipeline's count of each variant's encoding without range coding (`model_stats`), the"
        " one count all four variants have, so the ratios of that column compare like with"
        " like. File bytes: the `.secomp` file (range-coded) of the Q variants, and of the P"
        " variants where the run had `save_pruned: true` (none yet); the C2 rows are unslimmed."
        " Valid: the run's 16 fixed valid mixtures (its report.md). Test:"
        " the finished file on the 150-mixture separation test set (`bash"
        " recipes/evaluate_sep.sh NAME=FILE`); S+P+Q of C2 is scored by its slimmed file"
        " (`models/sep-c2-slim.secomp`, 184,171 bytes), which computes the same.",
        "",
        "![ablations](figures/ablations.png)",
        "",
        "| model | pipeline | variant | non-zero | bit-packed bytes (ratio) | file bytes (ratio) |"
        " valid STOI (change) | valid SI-SDR dB (change) | test SI-SDRi dB | test STOI |"
        " test PESQ |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for g in data["ablations"]:
        for r in g["rows"]:
            v, b = r["valid"], r["baseline_valid"]
            L.append(
                f"| {g['model']} | {g['pipeline']} | {r['variant']} | {r['nonzero']:,} |"
                f" {r['packed_bytes']:,} ({r['packed_ratio']:.1f}x) | {_file_cell(r)} |"
                f" {v['stoi']:.3f} ({v['stoi'] - b['stoi']:+.3f}) |"
                f" {v['si_sdr']:.2f} ({v['si_sdr'] - b['si_sdr']:+.2f}) |"
                f" {_test_cells(r['test'])} |"
            )
    if data["distillation"]:
        L += [
            "",
            "### Distillation on and off (`distill: weight`, issue 13 item 2)",
            "",
            "The same C1 run with the distance to the frozen uncompressed model's output added to"
            " every fine-tuning loss (`distill=20`) and without it (`distill=0`), otherwise equal"
            " settings (choose on the valid columns; the test columns are reported, not used):",
            "",
            "| model | pipeline | distill | file bytes (ratio) | valid STOI | valid SI-SDR dB |"
            " test SI-SDRi dB | test STOI | test PESQ |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for g in data["distillation"]:
            for r in g["rows"]:
                L.append(
                    f"| {g['model']} | {g['pipeline']} | {r['distill']} ({r['weight']:g}) |"
                    f" {_file_cell(r)} | {r['valid']['stoi']:.3f} |"
                    f" {r['valid']['si_sdr']:.2f} | {_test_cells(r['test'])} |"
                )
    return L + [""]


def write(data: dict, json_path: Path | None) -> None:
    """The rows as JSON (where asked) and the figure (where there are ablations)."""
    if json_path:
        json_path.write_text(json.dumps(data, indent=1) + "\n")
    if data["ablations"]:
        plot(data, FIGURE)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, help="write the rows here")
    args = ap.parse_args()
    data = collect()
    write(data, args.json)
    print("\n".join(section(data)))


if __name__ == "__main__":
    main()
