"""Per-tensor sensitivity analysis (the paper's Algorithm 1, method.md 2.1).

For each prune unit l (a tensor, or the coupled channel groups of one layer), alone (every
other unit as it is): start at the maximum ratio and,
while pruning l at ratio r makes the validation loss exceed the tolerance, lower r by one step
(5 points); the first r within tolerance is r_l. "Within tolerance" is
(L_pruned - L_ref) / L_ref <= eps (relative, default) or L_pruned - L_ref <= eps (absolute).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from .groups import PrunableTensor, TensorUnit
from .masks import Masks


@dataclass
class Sensitivity:
    name: str
    ref_loss: float
    ratios: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    chosen: float = 0.0


def within_tolerance(loss: float, ref: float, tolerance: float, mode: str = "relative") -> bool:
    if mode == "relative":
        return (loss - ref) / max(abs(ref), 1e-12) <= tolerance
    if mode == "absolute":
        return loss - ref <= tolerance
    raise ValueError(f"tolerance mode must be relative or absolute, not '{mode}'")


def ratio_ladder(max_ratio: float, step: float) -> list[float]:
    """max_ratio, max_ratio - step, ..., down to (but excluding) 0."""
    n = int(round(max_ratio / step))
    return [round(max_ratio - k * step, 6) for k in range(n) if max_ratio - k * step > 1e-9]


@torch.no_grad()
def sensitivity_analysis(
    model: nn.Module,
    units: list,
    masks: Masks,
    eval_loss: Callable[[nn.Module], float],
    structured: bool,
    tolerance: float,
    mode: str = "relative",
    max_ratio: float = 1.0,
    step: float = 0.05,
    progress: bool = True,
    rank_norm: str = "l2",
) -> tuple[list[Sensitivity], float]:
    """(one Sensitivity per unit, wall time in seconds). `units` are prune units
    (compress/groups.py) or PrunableTensors (pruned whole-group if `structured`, else weight by
    weight). The model is left unchanged."""
    t0 = time.time()
    params = dict(model.named_parameters())
    ref = eval_loss(model)
    ladder = ratio_ladder(max_ratio, step)
    results = []
    units = [TensorUnit(u, structured) if isinstance(u, PrunableTensor) else u for u in units]
    for unit in tqdm(units, desc="sensitivity", disable=not progress):
        original = {p: params[p].detach().clone() for p in unit.params}
        res = Sensitivity(unit.name, ref)
        for r in ladder:
            m = unit.prune(original, masks, r, rank_norm)
            for p in unit.params:
                params[p].copy_(original[p] * m[p])
            loss = eval_loss(model)
            res.ratios.append(r)
            res.losses.append(loss)
            if within_tolerance(loss, ref, tolerance, mode):
                res.chosen = r
                break
        for p in unit.params:
            params[p].copy_(original[p])
        results.append(res)
    return results, time.time() - t0


def write_sensitivity_csv(results: list[Sensitivity], path: str | Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["tensor", "ref_loss", "ratio", "loss", "chosen"])
        for r in results:
            for ratio, loss in zip(r.ratios, r.losses):
                w.writerow(
                    [r.name, f"{r.ref_loss:.6g}", ratio, f"{loss:.6g}", int(ratio == r.chosen)]
                )


def plot_sensitivity(results: list[Sensitivity], path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for r in results:
        if r.ratios:
            rel = [(loss - r.ref_loss) / max(abs(r.ref_loss), 1e-12) for loss in r.losses]
            ax.plot(r.ratios, rel, ".-", alpha=0.7, label=r.name if len(results) <= 12 else None)
    ax.set_xlabel("pruning ratio of the tensor (of its remaining weights/groups)")
    ax.set_ylabel("relative validation-loss increase")
    ax.set_yscale("symlog", linthresh=0.05)
    if len(results) <= 12:
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
