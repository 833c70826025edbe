"""The compression pipelines (method.md section 3) as one resumable sequence of units.

    S   sparse regularization: fine-tune with lambda * (L1 | group lasso | sparse group lasso)
        added to the loss
    P1.. iterative pruning rounds: sensitivity analysis -> prune every unit at its ratio ->
        fine-tune with masks (and, with reg_decay > 0, the penalty at lambda * reg_decay^k);
        stop when a round removes < min_round_fraction of what remains
    Q   k-means quantization of the remaining weights, then centroid fine-tuning

C1 = S(L1) + P(unstructured) + Q, C2 = S(group lasso) + P(structured) + Q; any subset of S, P, Q
runs (the paper's ablations). A prune unit is one tensor (`groups: tensor`, the paper's groups)
or the coupled channel groups of one layer (`groups: channel`, structure/groups.py: everything
pruned is then removed by `secomp slim`). With `distill: w`, every fine-tuning loss (S, P, Q)
adds w * MSE(model output, output of the frozen uncompressed model). After every unit the
model, masks and codebooks are written atomically to OUT/state.safetensors and the unit is
recorded in OUT/progress.json; fine-tuning inside a unit checkpoints through the training
engine, so a killed run resumes where it was.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from ..models import model_config
from ..train import TrainConfig, TrainData, TrainHooks, fit, validation_loss
from .groups import (
    GROUP_MODES,
    RANK_NORMS,
    PrunableTensor,
    TensorUnit,
    channel_units,
    prunable_tensors,
)
from .masks import Masks, apply_masks, count_nonzero, full_masks, sparsity
from .quantize import CentroidTuner, Codebook, quantize_model
from .regularize import REGULARIZERS, make_penalty, regularizer
from .sensitivity import plot_sensitivity, sensitivity_analysis, write_sensitivity_csv


@dataclass
class CompressConfig:
    stages: list[str] = field(default_factory=lambda: ["S", "P", "Q"])
    # what is prunable (groups.py): per-tensor groups, or coupled channel groups
    groups: str = "tensor"  # tensor | channel (channel implies structured pruning)
    structured: bool = False
    conv_grouping: str = "kernel"
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    prune_bias: bool = False
    # S: sparse regularization
    regularizer: str = "l1"  # l1 | group_lasso | sparse_group_lasso
    reg_lambda: float = 0.1
    reg_lambda1: float = 1.0  # sparse_group_lasso: lambda1 * L1 + lambda2 * group lasso
    reg_lambda2: float = 0.1
    reg_decay: float = 0.0  # > 0: the penalty also in every P round, at lambda * reg_decay^k
    reg_relative: bool = True  # lambda as a fraction of the initial task loss (see reg_scale)
    reg_steps: int = 1000
    # P: sensitivity analysis + iterative pruning
    tolerance: float = 0.2
    tolerance_mode: str = "relative"  # relative | absolute
    max_ratio: float = 1.0
    ratio_step: float = 0.05
    rank_norm: str = "l2"  # structured pruning ranks groups by their l2 | l1 norm
    sensitivity_batches: int = 4
    rounds: int = 5
    min_round_fraction: float = 0.01
    finetune_steps: int = 1000
    # Q: clustering-based quantization
    quant_bits: int = 4
    quant_bits_by_kind: dict[str, int] = field(default_factory=dict)
    quant_init: str = "linear"
    centroid_steps: int = 500
    centroid_lr: float = 1e-5
    # evaluation and training of every fine-tuning phase
    quality_items: int = 16
    distill: float = 0.0  # weight of the distance to the uncompressed model's output
    train: TrainConfig = field(default_factory=TrainConfig)


# ----------------------------------------------------------------------------- state on disk


@dataclass
class CompressionState:
    """Everything a run changes: the model's weights, the pruning masks (True = kept) and the
    k-means codebooks. `state_dict` is flat tensors (model/..., mask/..., centroids/...,
    assign/...), the layout of OUT/state.safetensors."""

    model: nn.Module
    masks: Masks = field(default_factory=dict)
    books: dict[str, Codebook] = field(default_factory=dict)

    def state_dict(self) -> dict[str, torch.Tensor]:
        tensors: dict[str, torch.Tensor] = {
            f"model/{k}": v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()
        }
        for name, m in self.masks.items():
            tensors[f"mask/{name}"] = m.to(torch.uint8).cpu().contiguous()
        for name, b in self.books.items():
            tensors[f"centroids/{name}"] = b.centroids.float().cpu().contiguous()
            tensors[f"assign/{name}"] = b.assign.to(torch.int32).cpu().contiguous()
        return tensors

    def load_state_dict(self, t: dict[str, torch.Tensor]) -> None:
        """Weights into the model; masks and codebooks replace or add to the held ones."""
        device = next(self.model.parameters()).device
        self.model.load_state_dict({k[6:]: v for k, v in t.items() if k.startswith("model/")})
        self.masks.update(
            {k[5:]: v.bool().to(device) for k, v in t.items() if k.startswith("mask/")}
        )
        self.books = {
            k[10:]: Codebook(v.to(device), t[f"assign/{k[10:]}"].long().to(device))
            for k, v in t.items()
            if k.startswith("centroids/")
        }

    def save(self, path: Path) -> None:
        """One safetensors file, written atomically."""
        tmp = path.with_name(path.name + ".part")
        metadata = {"secomp": json.dumps(model_config(self.model))}
        save_file(self.state_dict(), str(tmp), metadata=metadata)
        tmp.replace(path)

    def load(self, path: Path) -> None:
        self.load_state_dict(load_file(str(path)))


# ----------------------------------------------------------------------------- measurements


@torch.inference_mode()
def valid_quality(model: nn.Module, batches, n_items: int) -> dict[str, float]:
    """Mean STOI, SI-SDR and (if the pesq package is installed) PESQ of the enhanced output on
    the first n_items validation mixtures (n_items = 0: not measured, e.g. for a model that does
    not map a waveform to a waveform)."""
    from ..metrics import pesq_wb, si_sdr, stoi

    try:
        import pesq  # noqa: F401

        has_pesq = True
    except ImportError:
        has_pesq = False
    scores: dict[str, list[float]] = {"stoi": [], "si_sdr": [], "pesq": []}
    if n_items <= 0:
        return {k: math.nan for k in scores}
    was = model.training
    model.eval()
    for noisy, clean in batches:
        enhanced = model(noisy).float().cpu().numpy()
        clean_np = clean.float().cpu().numpy()
        if enhanced.ndim == 3:  # a separation model: [B, 2, N], scored talker by talker
            from ..separate import talkers_in_best_order

            enhanced, clean_np = talkers_in_best_order(enhanced, clean_np)
        for e, c in zip(enhanced, clean_np):
            if len(scores["stoi"]) >= n_items:
                break
            scores["stoi"].append(stoi(e, c))
            scores["si_sdr"].append(si_sdr(e, c))
            if has_pesq:
                try:
                    scores["pesq"].append(pesq_wb(e, c))
                except Exception:
                    pass
        if len(scores["stoi"]) >= n_items:
            break
    model.train(was)
    return {k: (sum(v) / len(v) if v else math.nan) for k, v in scores.items()}


def model_stats(model: nn.Module, tensors: list[PrunableTensor]) -> dict[str, Any]:
    from ..artifact.format import encode_model

    params = sum(p.numel() for p in model.parameters())
    nonzero = sum(int((p != 0).sum()) for p in model.parameters())
    return {
        "params": params,
        "nonzero": nonzero,
        "artifact_bytes": len(encode_model(model, tensors, entropy=False)),
        "dense_fp32_bytes": 4 * params,
    }


# ----------------------------------------------------------------------------- the pipeline


@dataclass
class CompressResult:
    model: nn.Module
    masks: Masks
    books: dict[str, Codebook]
    tensors: list[PrunableTensor]
    progress: dict[str, Any]


def distillation_term(student: nn.Module, teacher: nn.Module, noisy: torch.Tensor) -> torch.Tensor:
    """MSE between the student's and the frozen teacher's outputs on `noisy` (for waveform
    models: the enhanced waveforms [B, N])."""
    with torch.no_grad():
        target = teacher(noisy).float()
    return F.mse_loss(student(noisy).float(), target)


def distill_loss(loss_fn, model: nn.Module, weight: float):
    """loss_fn plus weight x distillation_term towards a frozen copy of `model` as it is now."""
    teacher = copy.deepcopy(model).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)

    def fn(m: nn.Module, noisy: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        return loss_fn(m, noisy, clean) + weight * distillation_term(m, teacher, noisy)

    return fn


def plan_units(cfg: CompressConfig) -> list[str]:
    units = []
    for s in cfg.stages:
        if s == "S":
            units.append("S")
        elif s == "P":
            units += [f"P{k + 1}" for k in range(cfg.rounds)]
        elif s == "Q":
            units.append("Q")
        else:
            raise ValueError(f"unknown stage '{s}' (S, P, Q)")
    return units


def compress(
    model: nn.Module,
    data: TrainData,
    cfg: CompressConfig,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    loss=None,
) -> CompressResult:
    """Run the configured stages on `model` (on the training device) and return the result.

    `loss(model, noisy, clean)` replaces model.loss (for a user's own model). Writes
    OUT/{state.safetensors, progress.json, work/<unit>/..., sensitivity_<unit>.csv/png}.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for key, value, known in (
        ("regularizer", cfg.regularizer, REGULARIZERS),
        ("groups", cfg.groups, GROUP_MODES),
        ("rank_norm", cfg.rank_norm, RANK_NORMS),
    ):
        if value not in known:
            raise ValueError(f"unknown {key} '{value}' ({', '.join(known)})")
    tensors = prunable_tensors(model, cfg.include, cfg.exclude, cfg.conv_grouping, cfg.prune_bias)
    if not tensors:
        raise ValueError("no prunable tensors (check include/exclude patterns)")
    if cfg.groups == "channel":  # traced once, on one validation input of the model
        units: list = channel_units(model, data.valid[0][0][:1])
        if not units:
            raise ValueError("groups: channel found no channel that slimming could remove")
    else:
        units = [TensorUnit(t, cfg.structured) for t in tensors]
    structured = cfg.structured or cfg.groups == "channel"
    loss_fn = loss or (lambda m, noisy, clean: m.loss(noisy, clean))
    # the frozen uncompressed model, before any state of a resumed run is loaded
    tune_loss = distill_loss(loss_fn, model, cfg.distill) if cfg.distill > 0 else loss_fn
    sens_batches = data.valid[: cfg.sensitivity_batches]
    reg_weights = {"lambda1": cfg.reg_lambda1, "lambda2": cfg.reg_lambda2}

    def eval_loss(m: nn.Module) -> float:
        return validation_loss(m, sens_batches, loss_fn, cfg.train.amp)

    state_path, progress_path = out / "state.safetensors", out / "progress.json"
    if not resume and progress_path.exists():
        raise FileExistsError(
            f"{out}: holds an earlier compression run; pass --resume to continue it or choose "
            "another --out (nothing was changed)"
        )
    state = CompressionState(model, full_masks(model, tensors))
    masks = state.masks  # the same dict throughout: updated in place, never replaced
    params = dict(model.named_parameters())
    for u in units:  # channel units also cover biases
        for p in u.params:
            if p not in masks:
                masks[p] = torch.ones_like(params[p], dtype=torch.bool)
    if resume and progress_path.exists():
        prog = json.loads(progress_path.read_text())
        if state_path.exists():
            state.load(state_path)
    else:
        before = model_stats(model, tensors)
        before.update(valid_quality(model, data.valid, cfg.quality_items))
        before["valid_loss"] = validation_loss(model, data.valid, loss_fn, cfg.train.amp)
        prog = {"done": [], "rounds": [], "stage_time_s": {}, "before": before, "stopped": False}
        state.save(state_path)
        progress_path.write_text(json.dumps(prog, indent=1))

    def finish(unit: str, t0: float, row: dict[str, Any] | None = None) -> None:
        state.save(state_path)
        prog["done"].append(unit)
        prog["stage_time_s"][unit] = prog["stage_time_s"].get(unit, 0.0) + time.time() - t0
        if row is not None:
            prog["rounds"].append(row)
        tmp = progress_path.with_name("progress.json.part")
        tmp.write_text(json.dumps(prog, indent=1))
        tmp.replace(progress_path)

    def tune(unit: str, steps: int, hooks: TrainHooks) -> dict[str, Any]:
        tcfg = TrainConfig(**{**cfg.train.__dict__, "steps": steps, "max_minutes": 0.0})
        hooks.loss = tune_loss
        return fit(model, data, tcfg, out / "work" / unit, hooks, resume=True, progress=progress)

    def masks_hook(m: nn.Module) -> None:
        apply_masks(m, masks)

    def round_row(unit: str, extra: dict[str, Any]) -> dict[str, Any]:
        row = {"unit": unit, **model_stats(model, tensors)}
        row["valid_loss"] = validation_loss(model, data.valid, loss_fn, cfg.train.amp)
        row.update(valid_quality(model, data.valid, cfg.quality_items))
        return {**row, **extra}

    def base_lambda() -> float:
        """The penalty's weight, fixed once (at S, or the first round that needs it)."""
        if "reg_lambda_abs" not in prog:
            lam = cfg.reg_lambda
            if cfg.reg_relative:
                with torch.no_grad():
                    reg0 = float(regularizer(cfg.regularizer, tensors, units, **reg_weights)(model))
                # abs: a negative loss (minus SI-SDR) must not turn the penalty into a reward
                lam *= abs(float(eval_loss(model))) / max(reg0, 1e-12)
            prog["reg_lambda_abs"] = lam
        return prog["reg_lambda_abs"]

    for unit in plan_units(cfg):
        if unit in prog["done"]:
            continue
        if unit.startswith("P") and prog["stopped"]:
            continue
        t0 = time.time()
        if unit == "S":
            lam = base_lambda()
            penalty = make_penalty(cfg.regularizer, tensors, lam, units, **reg_weights)
            tune("S", cfg.reg_steps, TrainHooks(penalty=penalty, after_step=masks_hook))
            finish("S", t0, round_row("S", {"reg_lambda_abs": lam}))
        elif unit.startswith("P"):
            work = out / "work" / unit
            work.mkdir(parents=True, exist_ok=True)
            mask_file = work / "masks.safetensors"
            nz_before = count_nonzero(masks)
            if mask_file.exists():  # killed during this round's fine-tuning: same masks again
                masks.update(
                    {k: v.bool().to(masks[k].device) for k, v in load_file(str(mask_file)).items()}
                )
                sens_time = json.loads((work / "sensitivity.json").read_text())["time_s"]
            else:
                results, sens_time = sensitivity_analysis(
                    model,
                    units,
                    masks,
                    eval_loss,
                    structured,
                    cfg.tolerance,
                    cfg.tolerance_mode,
                    cfg.max_ratio,
                    cfg.ratio_step,
                    progress,
                    cfg.rank_norm,
                )
                write_sensitivity_csv(results, out / f"sensitivity_{unit}.csv")
                plot_sensitivity(results, out / f"sensitivity_{unit}.png")
                for u, r in zip(units, results):
                    masks.update(u.prune(params, masks, r.chosen, cfg.rank_norm))
                save_file({k: v.to(torch.uint8).cpu() for k, v in masks.items()}, str(mask_file))
                (work / "sensitivity.json").write_text(
                    json.dumps({"time_s": sens_time, "ratios": {r.name: r.chosen for r in results}})
                )
            apply_masks(model, masks)
            removed = 1.0 - count_nonzero(masks) / max(1, nz_before)
            extra: dict[str, Any] = {"removed_fraction": removed, "sensitivity_time_s": sens_time}
            hooks = TrainHooks(after_step=masks_hook)
            if cfg.reg_decay > 0:
                lam = base_lambda() * cfg.reg_decay ** int(unit[1:])
                hooks.penalty = make_penalty(cfg.regularizer, tensors, lam, units, **reg_weights)
                extra["reg_lambda_abs"] = lam
            tune(unit, cfg.finetune_steps, hooks)
            row = round_row(unit, extra)
            if removed < cfg.min_round_fraction:
                prog["stopped"] = True
            finish(unit, t0, row)
        elif unit == "Q":
            state.books = quantize_model(
                model, tensors, masks, cfg.quant_bits, cfg.quant_bits_by_kind, cfg.quant_init
            )
            after_kmeans = round_row("Q-kmeans", {})
            tuner = CentroidTuner(model, state.books, cfg.centroid_lr)
            tune(
                "Q",
                cfg.centroid_steps,
                TrainHooks(
                    before_step=tuner.before_step,
                    after_step=tuner.after_step,
                    state=tuner.state,
                    load_state=tuner.load_state,
                ),
            )
            prog["rounds"].append(after_kmeans)
            finish("Q", t0, round_row("Q", {}))
    result = CompressResult(model, masks, state.books, tensors, prog)
    prog["after_sparsity"] = sparsity(masks)
    return result
