"""report.md and plots for a compression run, from its progress record and final model."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .groups import PrunableTensor
from .pipeline import Progress


def _fmt(v: Any, nd: int = 3) -> str:
    if isinstance(v, float):
        return "n/a" if math.isnan(v) else f"{v:.{nd}f}"
    return str(v)


def plot_progress(rounds: list[dict[str, Any]], before: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = ["base"] + [r["unit"] for r in rounds]
    nz = [before["nonzero"]] + [r["nonzero"] for r in rounds]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(range(len(nz)), [n / 1e6 for n in nz], "o-")
    ax.set_xticks(range(len(nz)), labels, rotation=45)
    ax.set_ylabel("non-zero parameters (M)")
    ax.set_title("parameters remaining per stage / pruning round")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_sparsity(tensors: list[PrunableTensor], sparsity: dict[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [t.name for t in tensors]
    fig, ax = plt.subplots(figsize=(7, 0.25 * len(names) + 1.2))
    ax.barh(range(len(names)), [100 * sparsity.get(n, 0.0) for n in names])
    ax.set_yticks(range(len(names)), names, fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel("zeros (%)")
    ax.set_xlim(0, 100)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(
    path: Path,
    title: str,
    cfg_text: str,
    progress: Progress,
    tensor_rows: list[dict[str, Any]],
    artifact_bytes: int,
) -> None:
    b, final = progress.before, progress.after
    lines = [f"# {title}", "", "## Summary", ""]
    lines.append("| | base | compressed |")
    lines.append("|---|---|---|")
    lines.append(f"| parameters (non-zero) | {b['nonzero']:,} | {final['nonzero']:,} |")
    lines.append(
        f"| size | {b['dense_fp32_bytes']:,} B dense fp32 | {artifact_bytes:,} B (.secomp file) |"
    )
    lines.append(
        f"| compression ratio vs dense fp32 | 1 | {b['dense_fp32_bytes'] / artifact_bytes:.1f}x |"
    )
    for m in ("valid_loss", "stoi", "pesq", "si_sdr"):
        lines.append(f"| valid {m} | {_fmt(b.get(m, math.nan))} | {_fmt(final.get(m, math.nan))} |")
    lines += [
        "",
        "Quality is measured on the validation split (fixed mixtures); PESQ is n/a where "
        "the pesq package was not installed.",
        "",
        "## Stages and rounds",
        "",
    ]
    lines.append(
        "| unit | non-zero | removed this round | packed bytes | valid loss | STOI | PESQ | SI-SDR"
        " | wall s |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for r in progress.rounds:
        t = progress.stage_time_s.get(r["unit"], math.nan)
        lines.append(
            f"| {r['unit']} | {r['nonzero']:,} | {_fmt(r.get('removed_fraction', math.nan))} | "
            f"{r['artifact_bytes']:,} | {_fmt(r['valid_loss'], 5)} | {_fmt(r['stoi'])} | "
            f"{_fmt(r['pesq'])} | {_fmt(r['si_sdr'], 2)} | {_fmt(t, 0)} |"
        )
    lines += ["", "## Tensors", ""]
    lines.append("| tensor | kind | shape | non-zero | zeros % | encoding | bits/index | bytes |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for r in tensor_rows:
        lines.append(
            f"| {r['name']} | {r.get('kind', '')} | {'x'.join(map(str, r['shape']))} | "
            f"{r['nonzero']:,} | {100 * r['zeros']:.1f} | {r['encoding']} | {r.get('bits', '')} | "
            f"{r['bytes']:,} |"
        )
    lines += [
        "",
        "## Configuration",
        "",
        "```yaml",
        cfg_text.strip(),
        "```",
        "",
        "Plots: `progress.png` (parameters per round), `sparsity.png` (zeros per tensor), "
        "`sensitivity_P*.png` (Algorithm 1 per round).",
        "",
    ]
    path.write_text("\n".join(lines))
