"""P / S+P / P+Q / S+P+Q ablations (issue 13, item 6) and distillation on/off (item 2), from the
committed run records; a table for docs/results.md, the rows as JSON, and a figure.

One run with the sparse-regularization stage S (stages S, P, Q) and one without it (stages P, Q;
`stages=[P;Q]` in a job's overrides of `bash recipes/gpu_v5.sh compress`), at otherwise equal
settings, give all four variants: P and S+P are those runs after their last pruning round,
P+Q and S+P+Q their finished files. Read per variant from results/compress/RUN/progress.json:
non-zero weights, bytes (every variant's encoding bit-packed without range coding, as the
pipeline counts it; and the `.secomp` file's bytes from `summary.json` for the Q variants, and
for the P variants where the run had `save_pruned: true`), and valid STOI / SI-SDR on the
run's 16 fixed valid mixtures; and each variant that is a file, on a test set where it has been
evaluated: the separation test set for the separation model (`bash recipes/evaluate_sep.sh
NAME=FILE`, results/separation/NAME.json), the matched enhancement test set for the others
(`secomp evaluate FILE --pairs testsets/matched_v2 --json
results/compressed_v2/NAME_matched.json`), beside the run's baseline on the same set
(results/baselines_v7/, results/baselines_v6/). S+P is never a file (the runs with S predate
`save_pruned`).

Also two pairs of otherwise equal runs: distillation on and off (item 2), and a preset against
the sibling paper's Algorithm 1 settings (item 1).

    python recipes/results_ablations.py --json results/ablations.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib
import yaml
from results_paper_tables import baseline_eval, kept_file  # recipes/ is on sys.path

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "results" / "compress"
# model, pipeline, run with S, run without S, and the test evaluation of each variant that is a
# file (results/separation/NAME.json for the separation model, results/compressed_v2/
# NAME_matched.json for the others); S+P+Q of C2 is its slimmed file, which computes the same
ABLATIONS = (
    ("sep-v3", "C1", "sep-v3-c1-qs", "sep-v3-c1-pq", {"S+P+Q": "sep-v3-c1", "P+Q": "sep-c1-pq"}),
    (
        "sep-v3",
        "C2 (c2-fast)",
        "sep-v3-c2-fast-qs",
        "sep-v3-c2-fast-pq",
        {"S+P+Q": "sep-v3-c2-slim", "P+Q": "sep-c2-fast-pq"},
    ),
    (
        "crn-v7-pow",
        "C1",
        "crn-v7-pow-c1-r6q",
        "crn-v7-pow-c1-r6q-pq",
        {"S+P+Q": "crn-v7-pow-c1", "P+Q": "crn-c1-pq", "P": "crn-c1-p"},
    ),
    (
        "crn-v6",
        "C2 (c2-fast)",
        "crn-v6-c2-fast",
        "crn-v6-c2-fast-pq",
        {"S+P+Q": "crn-c2-slim", "P+Q": "crn-c2-fast-pq", "P": "crn-c2-fast-p"},
    ),
    (
        "gcrn-v6",
        "C1",
        "gcrn-v6-c1-r4q",
        "gcrn-v6-c1-r4q-pq",
        {"S+P+Q": "gcrn-v6-c1-r4q", "P+Q": "gcrn-c1-pq", "P": "gcrn-c1-p"},
    ),
    (
        "gcrn-v6",
        "C2 (c2-fast)",
        "gcrn-v6-c2-fast-qs",
        "gcrn-v6-c2-fast-qs-pq",
        # the run without S became the committed file (chosen on the valid split)
        {"S+P+Q": "gcrn-c2-fast-qs-slim", "P+Q": "gcrn-c2-slim", "P": "gcrn-c2-fast-p"},
    ),
    (
        "tcnn-v6",
        "C1",
        "tcnn-v6-c1-r5q",
        "tcnn-v6-c1-r5q-pq",
        {"S+P+Q": "tcnn-v6-c1-r5q", "P+Q": "tcnn-c1-pq", "P": "tcnn-c1-p"},
    ),
)
# model, pipeline, run with distillation, run without, the test evaluation of each finished file
DISTILL = (("sep-v3", "C1", "sep-v3-c1-qs", "sep-v3-c1-qs-nokd", "sep-v3-c1", "sep-c1-nokd"),)
# model, pipeline, run with the preset's settings, run with the sibling paper's Algorithm 1
# settings (absolute tolerance 0.02, ratios up to 100 %, L1 ranking, sparse group lasso decayed
# 10 % a round, 6 rounds), the test evaluation of each finished file
SETTINGS = (
    (
        "crn-v6",
        "C2 (c2-fast)",
        "crn-v6-c2-fast",
        "crn-v6-c2-fast-sib",
        "crn-c2-slim",
        "crn-c2-fast-sib",
    ),
)
FIGURE = ROOT / "docs" / "figures" / "ablations.png"
FIGURE_SNR = ROOT / "docs" / "figures" / "ablations_snr.png"


def _load(p: Path) -> dict | None:
    return json.loads(p.read_text()) if p.exists() else None


def _test(name: str | None, base: str) -> dict | None:
    """The test-set scores of one file: SI-SDRi, STOI and PESQ; for an enhancement model also
    the SI-SDR and, per SNR, the change of each against the baseline on the same set."""
    if name is None:
        return None
    if base.startswith("sep"):
        t = _load(ROOT / "results" / "separation" / f"{name}.json")
        if t is None:
            return None
        return {"set": "sep_test", "si_sdri": t["si_sdri"], "sdri": t["sdri"]} | {
            k: t["separated"][k] for k in ("stoi", "pesq")
        }
    t = _load(ROOT / "results" / "compressed_v2" / f"{name}_matched.json")
    b = baseline_eval(base, "matched")
    if t is None or b is None:
        return None
    keys = ("stoi", "pesq", "si_sdr")
    return {
        "set": "matched_v2",
        "si_sdri": t["improvement"]["si_sdr"],
        **{k: t["enhanced"][k] for k in keys},
        "change": {k: t["enhanced"][k] - b["enhanced"][k] for k in keys},
        "by_snr_change": {
            snr: {k: r["enhanced"][k] - b["by_snr"][snr]["enhanced"][k] for k in keys}
            for snr, r in t["by_snr"].items()
        },
    }


def _variants(run: str, base: str, tests: dict[str, str]) -> list[dict]:
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
    # a file re-encoded here after the run (RUN/file.json) counts at the bytes it has now
    q_bytes, _ = kept_file(run, summary)
    rows = []
    for name, u, file_bytes in (
        # the pruned model is a file only when the run had save_pruned
        (prefix + "P", pruning[-1], summary.get("pruned_artifact_bytes")),
        (prefix + "P+Q", units["Q"], q_bytes),
    ):
        rows.append(
            {
                "variant": name,
                "run": run,
                "baseline": base,
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
                "test": _test(tests.get(name), base),
            }
        )
    return rows


def _pairs(table) -> list[dict]:
    """Two runs at otherwise equal settings, the finished variant of each."""
    out = []
    for model, pipeline, run_a, run_b, test_a, test_b in table:
        pair = []
        for run, test in ((run_a, test_a), (run_b, test_b)):
            rows = _variants(run, model, {"S+P+Q": test, "P+Q": test})
            if rows:
                cfg = yaml.safe_load((RECORDS / run / "config.yaml").read_text())
                pair.append({"config": cfg, **rows[-1]})
        if len(pair) == 2:
            out.append({"model": model, "pipeline": pipeline, "rows": pair})
    return out


def collect() -> dict:
    ablations = []
    for model, pipeline, run_s, run_no_s, tests in ABLATIONS:
        rows = _variants(run_no_s, model, tests) + _variants(run_s, model, tests)
        if rows:
            order = ("P", "S+P", "P+Q", "S+P+Q")
            rows.sort(key=lambda r: order.index(r["variant"]))
            ablations.append({"model": model, "pipeline": pipeline, "rows": rows})
    distill = _pairs(DISTILL)
    for g in distill:
        for r, label in zip(g["rows"], ("on", "off")):
            r["distill"], r["weight"] = label, float(r["config"].get("distill", 0.0))
    settings = _pairs(SETTINGS)
    for g in settings:
        for r, label in zip(g["rows"], ("preset", "sibling paper")):
            r["settings"] = label
    for g in distill + settings:
        for r in g["rows"]:
            del r["config"]
    return {"ablations": ablations, "distillation": distill, "settings": settings}


def plot(data: dict, path: Path) -> None:
    """Per ablation group: valid SI-SDR change against the ratio (bit-packed bytes)."""
    groups = data["ablations"]
    ncols = min(4, len(groups))
    nrows = -(-len(groups) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.6 * nrows), squeeze=False)
    for ax in axes.flat[len(groups) :]:
        ax.axis("off")
    for ax, g in zip(axes.flat, groups):
        for r in g["rows"]:
            d = r["valid"]["si_sdr"] - r["baseline_valid"]["si_sdr"]
            quantized = r["after"] == "Q"
            # circles: with S; squares: without; filled: quantized; hollow: pruned only
            ax.plot(
                r["packed_ratio"],
                d,
                marker="o" if "S" in r["variant"] else "s",
                ms=7,
                ls="",
                color="C0" if quantized else "C1",
                fillstyle="full" if quantized else "none",
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
        ax.set_xlabel("ratio vs dense fp32 (bit-packed)")
        ax.set_ylabel("valid SI-SDR change (dB)")
        ax.set_title(f"{g['model']} {g['pipeline']}", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_snr(data: dict, path: Path) -> bool:
    """Per enhancement ablation group: test PESQ and STOI change against the baseline per SNR,
    one line per variant that is a file. False (nothing drawn) when no group has one."""
    groups = [g for g in data["ablations"] if any(_per_snr(r) for r in g["rows"])]
    if not groups:
        return False
    fig, axes = plt.subplots(2, len(groups), figsize=(3.6 * len(groups), 6.0), squeeze=False)
    styles = {"P": ("C1", "s--"), "P+Q": ("C0", "s-"), "S+P+Q": ("C2", "o-")}
    for col, g in enumerate(groups):
        for r in g["rows"]:
            if not (snr := _per_snr(r)):
                continue
            color, style = styles.get(r["variant"], ("C3", "o:"))
            x = [float(k) for k in snr]
            for row, key in enumerate(("pesq", "stoi")):
                scale = 100 if key == "stoi" else 1
                y = [scale * v[key] for v in snr.values()]
                axes[row, col].plot(x, y, style, color=color, label=r["variant"], ms=4)
        # the bound of the group's pipeline: C1 PESQ 0.1 and STOI 1 point, C2 PESQ 0.15
        bounds = (-0.1, -1) if g["pipeline"] == "C1" else (-0.15, None)
        for row, label in enumerate(("PESQ change", "STOI change (points)")):
            ax = axes[row, col]
            ax.axhline(0, color="grey", lw=0.8)
            if bounds[row] is not None:
                ax.axhline(bounds[row], color="red", lw=0.8, ls=":")
            ax.set_xlabel("input SNR (dB), matched test set")
            ax.set_ylabel(label)
            ax.grid(True, alpha=0.3)
        axes[0, col].set_title(f"{g['model']} {g['pipeline']}", fontsize=10)
        axes[0, col].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _per_snr(r: dict) -> dict | None:
    return (r["test"] or {}).get("by_snr_change")


def _file_cell(r: dict) -> str:
    return f"{r['file_bytes']:,} ({r['file_ratio']:.1f}x)" if r["file_bytes"] else "-"


def _test_cells(t: dict | None) -> str:
    if t is None:
        return "- | - | - | -"
    return f"{t['set']} | {t['si_sdri']:.2f} | {t['stoi']:.3f} | {t['pesq']:.2f}"


def _valid_cells(r: dict) -> str:
    v, b = r["valid"], r["baseline_valid"]
    return (
        f"{v['stoi']:.3f} ({v['stoi'] - b['stoi']:+.3f}) |"
        f" {v['si_sdr']:.2f} ({v['si_sdr'] - b['si_sdr']:+.2f})"
    )


def _pair_table(groups: list[dict], label: str, cell) -> list[str]:
    """One row per run of each pair; `cell(row)` is the text of the column that tells them
    apart."""
    L = [
        f"| model | pipeline | {label} | non-zero | file bytes (ratio) | valid STOI (change) |"
        " valid SI-SDR dB (change) | test set | test SI-SDRi dB | test STOI | test PESQ |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for g in groups:
        for r in g["rows"]:
            L.append(
                f"| {g['model']} | {g['pipeline']} | {cell(r)} | {r['nonzero']:,} |"
                f" {_file_cell(r)} | {_valid_cells(r)} | {_test_cells(r['test'])} |"
            )
    return L


def section(data: dict | None = None) -> list[str]:
    data = collect() if data is None else data
    if not any(data.get(k) for k in ("ablations", "distillation", "settings")):
        return []
    L = [
        "### P / S+P / P+Q / S+P+Q ablations",
        "",
        "`python recipes/results_ablations.py --json results/ablations.json` (figures:"
        " `docs/figures/ablations.png`, `docs/figures/ablations_snr.png`). One run with S and"
        " one without it (`stages=[P;Q]`) at otherwise equal settings give all four variants: P"
        " and S+P are those runs after their last pruning round, P+Q and S+P+Q their finished"
        " files. Bit-packed bytes: the pipeline's count of each variant's encoding without range"
        " coding (`model_stats`), the one count all four variants have, so the ratios of that"
        " column compare like with like. File bytes: the `.secomp` file (range-coded) of the Q"
        " variants, and of the P variants where the run had `save_pruned: true` (the runs"
        " without S of the enhancement models); the C2 rows are unslimmed. Valid: the run's 16"
        " fixed valid mixtures (its report.md). Test: the file on the 150-mixture separation"
        " test set (`bash recipes/evaluate_sep.sh NAME=FILE`) or the 250-mixture matched"
        " enhancement test set (`secomp evaluate FILE --pairs testsets/matched_v2 --json"
        " results/compressed_v2/NAME_matched.json`; SI-SDRi: over the noisy input). The C2 files"
        " are scored by their slimmed copies (`secomp slim`, which checks that they compute the"
        " same): the committed C2-slim files are S+P+Q of the CRN and the separation model and P+Q"
        " of the GCRN (its run without S won on the valid split); S+P was never written as a"
        " file.",
        "",
        "![ablations](figures/ablations.png)",
        "",
        "| model | pipeline | variant | non-zero | bit-packed bytes (ratio) | file bytes (ratio) |"
        " valid STOI (change) | valid SI-SDR dB (change) | test set | test SI-SDRi dB |"
        " test STOI | test PESQ |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for g in data["ablations"]:
        for r in g["rows"]:
            L.append(
                f"| {g['model']} | {g['pipeline']} | {r['variant']} | {r['nonzero']:,} |"
                f" {r['packed_bytes']:,} ({r['packed_ratio']:.1f}x) | {_file_cell(r)} |"
                f" {_valid_cells(r)} | {_test_cells(r['test'])} |"
            )
    snr_rows = [(g, r) for g in data["ablations"] for r in g["rows"] if _per_snr(r)]
    if snr_rows:
        snrs = list(_per_snr(snr_rows[0][1]))
        L += [
            "",
            "Per SNR on the matched test set, change against the run's baseline (PESQ; STOI in"
            " points); the bound (dotted in the figure) is PESQ within 0.1 and STOI within 1"
            " point at every SNR for C1, PESQ within 0.15 for C2:",
            "",
            "![ablations per SNR](figures/ablations_snr.png)",
            "",
            "| model | pipeline | variant | "
            + " | ".join(f"PESQ {s} dB" for s in snrs)
            + " | "
            + " | ".join(f"STOI {s} dB" for s in snrs)
            + " |",
            "|---|---|---|" + "---|" * (2 * len(snrs)),
        ]
        for g, r in snr_rows:
            c = _per_snr(r)
            L.append(
                f"| {g['model']} | {g['pipeline']} | {r['variant']} | "
                + " | ".join(f"{c[s]['pesq']:+.3f}" for s in snrs)
                + " | "
                + " | ".join(f"{100 * c[s]['stoi']:+.1f}" for s in snrs)
                + " |"
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
        ]
        L += _pair_table(
            data["distillation"], "distill", lambda r: f"{r['distill']} ({r['weight']:g})"
        )
    if data.get("settings"):
        L += [
            "",
            "### The presets' Algorithm 1 against the sibling paper's settings (issue 13 item 1)",
            "",
            "The same model and pipeline with the preset's settings (relative tolerance 5 %, at"
            " most 50 % of a layer's remaining groups per round, L2 ranking, group lasso, 3"
            " rounds) and with the sibling paper's (absolute tolerance 0.02 on the validation"
            " loss, ratios up to 100 % in 5 % steps, L1 ranking, sparse group lasso with lambda1"
            " = 1, lambda2 = 0.1 decayed 10 % a round, 6 rounds; `reg_steps=400,"
            "finetune_steps=500` to fit the lease, against the preset run's 1,000 and 800):",
            "",
        ]
        L += _pair_table(data["settings"], "settings", lambda r: r["settings"])
    return L + [""]


def write(data: dict, json_path: Path | None) -> None:
    """The rows as JSON (where asked) and the figures (where there are ablations)."""
    if json_path:
        json_path.write_text(json.dumps(data, indent=1) + "\n")
    if data["ablations"]:
        plot(data, FIGURE)
        plot_snr(data, FIGURE_SNR)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, help="write the rows here")
    args = ap.parse_args()
    data = collect()
    write(data, args.json)
    print("\n".join(section(data)))


if __name__ == "__main__":
    main()
