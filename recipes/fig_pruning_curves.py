"""Remaining parameters against pruning round (issue 13, item 5), from the committed run records.

Reads results/compress/RUN/progress.json of every run (`secomp compress` writes it; one row per
unit: S, P1, P2, ..., Q), writes the curves to results/pruning_curves.json and one figure per
pipeline family to docs/figures/pruning_curves_{c1,c2}.png, a panel per architecture (every
baseline of it, v1 era included): the fraction of
the baseline's non-zero weights left after each round, a solid line for runs with the
sparse-regularization stage S, dashed without it.

    python recipes/fig_pruning_curves.py
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def curves() -> list[dict]:
    """One curve per run with P rounds. A run that starts from another run's pruned file (its
    "before" is not dense) continues that run's curve: its parent is the run whose last P round
    left exactly the non-zeros it starts with."""
    records = {}
    for p in sorted((ROOT / "results" / "compress").glob("*/progress.json")):
        prog = json.loads(p.read_text())
        rounds = [r for r in prog["rounds"] if r["unit"].startswith("P")]
        if rounds:
            records[p.parent.name] = (prog, rounds)
    last_nonzero = {run: rounds[-1]["nonzero"] for run, (_, rounds) in records.items()}

    def parent(run: str) -> str | None:
        # sorted, so that runs that left the same count (variants of one round) give one answer
        prog, _ = records[run]
        if prog["before"]["nonzero"] >= 0.9 * prog["before"]["params"]:
            return None
        found = sorted(r for r, n in last_nonzero.items() if n == prog["before"]["nonzero"])
        return next((r for r in found if r != run), "")

    out = []
    for run, (prog, rounds) in records.items():
        # walk up to the run that started from the dense baseline
        chain, up = [], parent(run)
        while up:
            if up in chain or up == run:
                up = ""  # a loop of equal counts: no dense ancestor
                break
            chain.append(up)
            up = parent(up)
        if up == "":
            continue  # an ancestor's record is not committed: no baseline to scale to
        start = sum(int(records[r][1][-1]["unit"][1:]) for r in chain)
        base = records[chain[-1]][0]["before"]["nonzero"] if chain else prog["before"]["nonzero"]
        first = prog["before"]["nonzero"] / base
        run_label = f"{run} (after {chain[0]})" if chain else run
        out.append(
            {
                "run": run_label,
                "model": run.split("-")[0],
                "family": "c1" if "-c1" in run else "c2",
                "with_S": any(r["unit"] == "S" for r in prog["rounds"]),
                "rounds": [start] + [start + int(r["unit"][1:]) for r in rounds],
                "remaining": [first] + [r["nonzero"] / base for r in rounds],
            }
        )
    return out


def plot(series: list[dict], family: str, path: Path) -> None:
    """One panel per architecture: every run of the family, solid with S, dashed without."""
    series = [s for s in series if s["family"] == family]
    models = sorted({s["model"] for s in series})
    fig, axes = plt.subplots(1, len(models), figsize=(4.4 * len(models), 4.0), squeeze=False)
    for ax, model in zip(axes[0], models):
        for s in series:
            if s["model"] != model:
                continue
            ax.plot(
                s["rounds"],
                s["remaining"],
                "-" if s["with_S"] else "--",
                marker="o",
                ms=3,
                label=s["run"] + ("" if s["with_S"] else " (no S)"),
            )
        ax.set_yscale("log")
        ax.set_xlabel("pruning round")
        ax.set_title(model)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
    axes[0, 0].set_ylabel("non-zero weights left (fraction of the baseline)")
    fig.suptitle(f"{family.upper()} runs: remaining parameters per round")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    series = curves()
    (ROOT / "results" / "pruning_curves.json").write_text(json.dumps(series, indent=1))
    for family in ("c1", "c2"):
        plot(series, family, ROOT / "docs" / "figures" / f"pruning_curves_{family}.png")
    print(f"{len(series)} runs -> results/pruning_curves.json, docs/figures/pruning_curves_*.png")


if __name__ == "__main__":
    main()
