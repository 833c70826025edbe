"""The compression pipelines (method.md section 3) as one resumable sequence of units.

    S   sparse regularization: fine-tune with lambda * (L1 | group lasso | sparse group lasso)
        added to the loss
    P1.. iterative pruning rounds: sensitivity analysis -> prune every unit at its ratio ->
        fine-tune with masks (and, with reg_decay > 0, the penalty at lambda * reg_decay^k);
        stop when a round removes < min_round_fraction of what remains
    Q   k-means quantization of the remaining weights, then centroid fine-tuning; then (with
        `quant_vectors: fp16`) every other float tensor rounded to float16 precision

C1 = S(L1) + P(unstructured) + Q, C2 = S(group lasso) + P(structured) + Q; any subset of S, P, Q
runs (the paper's ablations). A prune unit is one tensor (`groups: tensor`, the paper's groups)
or the coupled channel groups of one layer (`groups: channel`, structure/groups.py: everything
pruned is then removed by `secomp slim`). With `distill: w`, every fine-tuning loss (S, P, Q)
adds w * MSE(model output, output of a frozen teacher): the input model as the run starts, or
the `teacher:` file (e.g. the dense baseline of an input pruned before, whose zeros the run
keeps). After every unit the
model, masks and codebooks are written atomically to OUT/state.safetensors and the unit is
recorded in OUT/progress.json; fine-tuning inside a unit checkpoints through the training
engine, so a killed run resumes where it was.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
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
from ..train import TrainConfig, TrainData, TrainHooks, fit, model_loss, validation_loss
from .groups import (
    GROUP_MODES,
    RANK_NORMS,
    PrunableTensor,
    TensorUnit,
    channel_units,
    prunable_tensors,
)
from .masks import Masks, apply_masks, count_nonzero, kept_masks, sparsity
from .quantize import (
    MAX_BITS,
    CentroidTuner,
    Codebook,
    bits_for,
    choose_bits,
    quantize_model,
    round_unquantized_to_fp16,
)
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
    # > 0: each tensor's width by sensitivity analysis, from its configured width up to this one
    # (at most 8), within quant_tolerance (None: `tolerance`, in `tolerance_mode`); 0: fixed
    quant_bits_max: int = 0
    quant_tolerance: float | None = None
    quant_init: str = "linear"
    centroid_steps: int = 500
    centroid_lr: float = 1e-5
    # fp16: at the end of Q, every float tensor outside the codebooks (biases, norm weights and
    # statistics, PReLU slopes) rounded to float16 precision, stored in 2 bytes a value; none:
    # left float32
    quant_vectors: str = "fp16"
    # evaluation and training of every fine-tuning phase
    quality_items: int = 16
    distill: float = 0.0  # weight of the distance to the uncompressed model's output
    # the model file that `distill` pulls towards (`secomp compress` loads it), e.g. the dense
    # baseline when the input is a pruned file; empty: the input model as the run starts
    teacher: str = ""
    # write OUT/pruned.secomp, the pruned model before Q (fp32 codebook-free), when Q starts
    # after at least one P round: the P and S+P variants of the ablations as files
    save_pruned: bool = False
    train: TrainConfig = field(default_factory=TrainConfig)


# ----------------------------------------------------------------------------- state on disk


@dataclass
class Progress:
    """The run's record, OUT/progress.json: the units done, one row per round (open-ended:
    the measurements of `model_stats`, `valid_quality` and the stage's own), the wall time per
    unit, the measurements before compression, whether pruning stopped early, and the
    penalty's absolute weight once fixed. `to_dict` is the JSON on disk, key for key and in
    the same order; `from_dict` reads every record written so far."""

    done: list[str] = field(default_factory=list)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    stage_time_s: dict[str, float] = field(default_factory=dict)
    before: dict[str, Any] = field(default_factory=dict)
    stopped: bool = False
    reg_lambda_abs: float | None = None  # fixed at S, or at the first round that needs it
    # zeros per tensor at the end of the run (filled in by `compress`, not written to disk)
    after_sparsity: dict[str, float] | None = None
    # keys this version does not know, kept as they are
    extra: dict[str, Any] = field(default_factory=dict)

    REQUIRED = ("done", "rounds", "before")
    OPTIONAL = ("reg_lambda_abs", "after_sparsity")

    @property
    def after(self) -> dict[str, Any]:
        """The last round's row (the measurements before compression when there is none)."""
        return self.rounds[-1] if self.rounds else self.before

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "done": self.done,
            "rounds": self.rounds,
            "stage_time_s": self.stage_time_s,
            "before": self.before,
            "stopped": self.stopped,
        }
        for k in self.OPTIONAL:
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        return {**d, **self.extra}

    @classmethod
    def from_dict(cls, d: Any) -> Progress:
        """ValueError unless `d` is a progress record (a mapping with done, rounds, before)."""
        if not isinstance(d, dict) or not set(cls.REQUIRED) <= set(d):
            raise ValueError("not a compression progress record")
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        return cls(
            **{k: v for k, v in d.items() if k in known},
            extra={k: v for k, v in d.items() if k not in known},
        )

    def save(self, path: Path) -> None:
        """As JSON, written atomically."""
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(json.dumps(self.to_dict(), indent=1))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Progress:
        return cls.from_dict(json.loads(Path(path).read_text()))


@dataclass
class CompressionState:
    """Everything a run changes: the model's weights, the pruning masks (True = kept) and the
    k-means codebooks, plus the run's progress record. `state_dict` is flat tensors
    (model/..., mask/..., centroids/..., assign/...), the layout of OUT/state.safetensors;
    `progress` is OUT/progress.json."""

    model: nn.Module
    masks: Masks = field(default_factory=dict)
    books: dict[str, Codebook] = field(default_factory=dict)
    progress: Progress = field(default_factory=Progress)

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


def save_pruned(model: nn.Module, tensors: list[PrunableTensor], path: Path) -> int:
    """Write `model` as it is now (fp32, its zeros packed away; the encoder copies each tensor
    to the CPU, so the model stays where it is) to `path` atomically; returns the bytes."""
    from ..io.format import save_artifact

    return save_artifact(model, path, tensors)


def model_stats(model: nn.Module, tensors: list[PrunableTensor]) -> dict[str, Any]:
    from ..io.format import encode_model

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
    progress: Progress


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


@dataclass
class _Run:
    """What every stage of one `compress` call works with."""

    cfg: CompressConfig
    data: TrainData
    out: Path
    tensors: list[PrunableTensor]
    units: list
    state: CompressionState
    loss_fn: Any
    tune_loss: Any
    progress: bool

    @property
    def model(self) -> nn.Module:
        return self.state.model

    @property
    def prog(self) -> Progress:
        return self.state.progress

    @property
    def masks(self) -> Masks:
        return self.state.masks

    @property
    def structured(self) -> bool:
        return self.cfg.structured or self.cfg.groups == "channel"

    @property
    def state_path(self) -> Path:
        return self.out / "state.safetensors"

    @property
    def progress_path(self) -> Path:
        return self.out / "progress.json"

    def eval_loss(self, m: nn.Module) -> float:
        """Validation loss on the sensitivity batches (the loss Algorithm 1 compares)."""
        batches = self.data.valid[: self.cfg.sensitivity_batches]
        return validation_loss(m, batches, self.loss_fn, self.cfg.train.amp)

    def penalty(self, lam: float):
        weights = {"lambda1": self.cfg.reg_lambda1, "lambda2": self.cfg.reg_lambda2}
        return make_penalty(self.cfg.regularizer, self.tensors, lam, self.units, **weights)

    def base_lambda(self) -> float:
        """The penalty's weight, fixed once (at S, or the first round that needs it)."""
        cfg = self.cfg
        if self.prog.reg_lambda_abs is None:
            lam = cfg.reg_lambda
            if cfg.reg_relative:
                weights = {"lambda1": cfg.reg_lambda1, "lambda2": cfg.reg_lambda2}
                with torch.no_grad():
                    reg = regularizer(cfg.regularizer, self.tensors, self.units, **weights)
                    reg0 = float(reg(self.model))
                # abs: a negative loss (minus SI-SDR) must not turn the penalty into a reward
                lam *= abs(float(self.eval_loss(self.model))) / max(reg0, 1e-12)
            self.prog.reg_lambda_abs = lam
        return self.prog.reg_lambda_abs

    def masks_hook(self, m: nn.Module) -> None:
        apply_masks(m, self.masks)

    def tune(self, unit: str, steps: int, hooks: TrainHooks) -> dict[str, Any]:
        tcfg = TrainConfig(**{**self.cfg.train.__dict__, "steps": steps, "max_minutes": 0.0})
        hooks.loss = self.tune_loss
        work = self.out / "work" / unit
        return fit(self.model, self.data, tcfg, work, hooks, resume=True, progress=self.progress)

    def round_row(self, unit: str, extra: dict[str, Any]) -> dict[str, Any]:
        cfg = self.cfg
        row = {"unit": unit, **model_stats(self.model, self.tensors)}
        row["valid_loss"] = validation_loss(
            self.model, self.data.valid, self.loss_fn, cfg.train.amp
        )
        row.update(valid_quality(self.model, self.data.valid, cfg.quality_items))
        return {**row, **extra}

    def finish(self, unit: str, t0: float, row: dict[str, Any] | None = None) -> None:
        self.state.save(self.state_path)
        self.prog.done.append(unit)
        times = self.prog.stage_time_s
        times[unit] = times.get(unit, 0.0) + time.time() - t0
        if row is not None:
            self.prog.rounds.append(row)
        self.prog.save(self.progress_path)


def _sparse_regularization(run: _Run, unit: str) -> None:
    """S: fine-tune with the penalty added to the loss."""
    t0 = time.time()
    lam = run.base_lambda()
    hooks = TrainHooks(penalty=run.penalty(lam), after_step=run.masks_hook)
    run.tune(unit, run.cfg.reg_steps, hooks)
    run.finish(unit, t0, run.round_row(unit, {"reg_lambda_abs": lam}))


def _round_masks(run: _Run, unit: str) -> float:
    """A pruning round's masks, into run.masks: from sensitivity analysis, or, when the round
    was killed during its fine-tuning, the masks it chose then. Returns the analysis time."""
    cfg, masks = run.cfg, run.masks
    work = run.out / "work" / unit
    work.mkdir(parents=True, exist_ok=True)
    mask_file = work / "masks.safetensors"
    if mask_file.exists():
        saved = load_file(str(mask_file))
        masks.update({k: v.bool().to(masks[k].device) for k, v in saved.items()})
        return json.loads((work / "sensitivity.json").read_text())["time_s"]
    results, sens_time = sensitivity_analysis(
        run.model,
        run.units,
        masks,
        run.eval_loss,
        run.structured,
        cfg.tolerance,
        cfg.tolerance_mode,
        cfg.max_ratio,
        cfg.ratio_step,
        run.progress,
        cfg.rank_norm,
    )
    write_sensitivity_csv(results, run.out / f"sensitivity_{unit}.csv")
    plot_sensitivity(results, run.out / f"sensitivity_{unit}.png")
    params = dict(run.model.named_parameters())
    for u, r in zip(run.units, results):
        masks.update(u.prune(params, masks, r.chosen, cfg.rank_norm))
    save_file({k: v.to(torch.uint8).cpu() for k, v in masks.items()}, str(mask_file))
    ratios = {r.name: r.chosen for r in results}
    (work / "sensitivity.json").write_text(json.dumps({"time_s": sens_time, "ratios": ratios}))
    return sens_time


def _pruning_round(run: _Run, unit: str) -> None:
    """P<k>: sensitivity analysis, prune every unit at its ratio, fine-tune with the masks."""
    t0 = time.time()
    cfg = run.cfg
    # what this run prunes: not the kept zeros of tensors that include/exclude leave out
    pruned = {p for u in run.units for p in u.params}

    def nonzero() -> int:
        return count_nonzero({n: m for n, m in run.masks.items() if n in pruned})

    nz_before = nonzero()
    sens_time = _round_masks(run, unit)
    apply_masks(run.model, run.masks)
    removed = 1.0 - nonzero() / max(1, nz_before)
    extra: dict[str, Any] = {"removed_fraction": removed, "sensitivity_time_s": sens_time}
    hooks = TrainHooks(after_step=run.masks_hook)
    if cfg.reg_decay > 0:
        lam = run.base_lambda() * cfg.reg_decay ** int(unit[1:])
        hooks.penalty = run.penalty(lam)
        extra["reg_lambda_abs"] = lam
    run.tune(unit, cfg.finetune_steps, hooks)
    row = run.round_row(unit, extra)
    if removed < cfg.min_round_fraction:
        run.prog.stopped = True
    run.finish(unit, t0, row)


def _quant_bits(run: _Run, unit: str) -> dict[str, int]:
    """Each tensor's codebook width: by sensitivity analysis when quant_bits_max is set, else
    none (the configured widths). Saved in work/Q/bits.json and always read back from there,
    so that a run resumed during centroid fine-tuning clusters at the same widths (its
    checkpointed centroids must match the codebook sizes) even without the override."""
    cfg = run.cfg
    work = run.out / "work" / unit
    saved = work / "bits.json"
    if saved.exists():
        return json.loads(saved.read_text())
    if not cfg.quant_bits_max:
        return {}
    work.mkdir(parents=True, exist_ok=True)
    choices = choose_bits(
        run.model,
        run.tensors,
        run.masks,
        run.eval_loss,
        cfg.quant_bits,
        cfg.quant_bits_max,
        cfg.tolerance if cfg.quant_tolerance is None else cfg.quant_tolerance,
        cfg.tolerance_mode,
        cfg.quant_bits_by_kind,
        cfg.quant_init,
    )
    with open(run.out / f"quant_bits_{unit}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["tensor", "ref_loss", "bits_tried", "losses", "chosen"])
        for c in choices:
            w.writerow(
                [
                    c.name,
                    f"{c.ref_loss:.6g}",
                    " ".join(map(str, c.bits)),
                    " ".join(f"{x:.6g}" for x in c.losses),
                    c.chosen,
                ]
            )
    bits = {c.name: c.chosen for c in choices}
    saved.write_text(json.dumps(bits))
    return bits


def _quantization(run: _Run, unit: str) -> None:
    """Q: k-means codebooks for the remaining weights (widths fixed, or chosen per tensor by
    sensitivity analysis), then centroid fine-tuning, then (quant_vectors: fp16) every other
    float tensor rounded to float16 precision; the unit's row counts the tensors rounded
    (`fp16_tensors`) and names any left float32 for their range (`fp16_skipped`)."""
    t0 = time.time()
    cfg, model = run.cfg, run.model
    bits = _quant_bits(run, unit)
    run.state.books = quantize_model(
        model,
        run.tensors,
        run.masks,
        cfg.quant_bits,
        cfg.quant_bits_by_kind,
        cfg.quant_init,
        bits_by_name=bits,
    )
    start = {t.name: bits_for(t, cfg.quant_bits, cfg.quant_bits_by_kind) for t in run.tensors}
    extra = {"raised_bits": {n: b for n, b in bits.items() if b > start[n]}} if bits else {}
    after_kmeans = run.round_row("Q-kmeans", extra)
    tuner = CentroidTuner(model, run.state.books, cfg.centroid_lr)
    # masked parameters outside every codebook (the biases of pruned channel groups) train on
    # in this stage: without their masks they drift from zero, a pruned unit then emits a
    # constant and slimming cannot remove it (GCRN's LSTM units behind a LayerNorm)
    rest = {n: m for n, m in run.masks.items() if n not in run.state.books}

    def after_step(m: nn.Module) -> None:
        tuner.after_step(m)
        apply_masks(m, rest)

    hooks = TrainHooks(
        before_step=tuner.before_step,
        after_step=after_step,
        state=tuner.state,
        load_state=tuner.load_state,
    )
    run.tune(unit, cfg.centroid_steps, hooks)
    final: dict[str, Any] = {}
    if cfg.quant_vectors == "fp16":
        rounded = round_unquantized_to_fp16(model, run.state.books)
        floats = [k for k, v in model.state_dict().items() if v.is_floating_point()]
        left = [k for k in floats if k not in run.state.books and k not in rounded]
        final["fp16_tensors"] = len(rounded)
        if left:
            final["fp16_skipped"] = left
    run.prog.rounds.append(after_kmeans)
    run.finish(unit, t0, run.round_row(unit, final))


QUANT_VECTORS = ("fp16", "none")

# the stage of each unit of plan_units, by the unit's first letter
STAGES = {"S": _sparse_regularization, "P": _pruning_round, "Q": _quantization}


def _check_choices(cfg: CompressConfig) -> None:
    for key, value, known in (
        ("regularizer", cfg.regularizer, REGULARIZERS),
        ("groups", cfg.groups, GROUP_MODES),
        ("rank_norm", cfg.rank_norm, RANK_NORMS),
        ("quant_vectors", cfg.quant_vectors, QUANT_VECTORS),
    ):
        if value not in known:
            raise ValueError(f"unknown {key} '{value}' ({', '.join(known)})")
    widths = {
        "quant_bits": cfg.quant_bits,
        **{f"quant_bits_by_kind.{k}": v for k, v in cfg.quant_bits_by_kind.items()},
    }
    if cfg.quant_bits_max:
        widths["quant_bits_max"] = cfg.quant_bits_max
    for key, bits in widths.items():
        # a codebook holds at most MAX_CODEBOOK centroids in the file; wider would be stored
        # as float32 without a word
        if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= MAX_BITS:
            raise ValueError(f"{key} must be a whole number of bits in 1..{MAX_BITS}, not {bits!r}")
    if 0 < cfg.quant_bits_max < cfg.quant_bits:
        raise ValueError(
            f"quant_bits_max {cfg.quant_bits_max} is below quant_bits {cfg.quant_bits}: the"
            " width search only raises widths (0 turns it off)"
        )


def _prune_units(model: nn.Module, data: TrainData, cfg: CompressConfig, tensors) -> list:
    if cfg.groups == "channel":  # traced once, on one validation input of the model
        units = channel_units(model, data.valid[0][0][:1])
        if not units:
            raise ValueError("groups: channel found no channel that slimming could remove")
        return units
    return [TensorUnit(t, cfg.structured) for t in tensors]


def compress(
    model: nn.Module,
    data: TrainData,
    cfg: CompressConfig,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    loss=None,
    teacher: nn.Module | None = None,
) -> CompressResult:
    """Run the configured stages on `model` (on the training device) and return the result.

    `loss(model, noisy, clean)` replaces model.loss (for a user's own model). With `distill`,
    the fine-tuning pulls towards `teacher` (same outputs as `model`), or, if None, towards a
    frozen copy of `model` as it comes in. Writes
    OUT/{state.safetensors, progress.json, work/<unit>/..., sensitivity_<unit>.csv/png}.
    """
    if teacher is not None and cfg.distill <= 0:
        raise ValueError("a teacher is given but distill is 0: set distill to a weight > 0")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _check_choices(cfg)
    tensors = prunable_tensors(model, cfg.include, cfg.exclude, cfg.conv_grouping, cfg.prune_bias)
    if not tensors:
        raise ValueError("no prunable tensors (check include/exclude patterns)")
    units = _prune_units(model, data, cfg, tensors)
    loss_fn = loss or model_loss(model, cfg.train.loss_power)
    # the frozen uncompressed model, before any state of a resumed run is loaded
    reference = model if teacher is None else teacher
    tune_loss = distill_loss(loss_fn, reference, cfg.distill) if cfg.distill > 0 else loss_fn
    # zeros a model already has (pruned earlier, e.g. a run's pruned.secomp) stay zeros, also
    # in the tensors that include/exclude leave out of this run's pruning
    masks = kept_masks(model, tensors)
    left_out = [
        t
        for t in prunable_tensors(model, [], [], cfg.conv_grouping, cfg.prune_bias)
        if t.name not in masks
    ]
    masks.update({n: m for n, m in kept_masks(model, left_out).items() if not bool(m.all())})
    state = CompressionState(model, masks)
    params = dict(model.named_parameters())
    for u in units:  # channel units also cover biases
        for p in u.params:
            if p not in state.masks:
                state.masks[p] = torch.ones_like(params[p], dtype=torch.bool)
    run = _Run(cfg, data, out, tensors, units, state, loss_fn, tune_loss, progress)
    if not resume and run.progress_path.exists():
        raise FileExistsError(
            f"{out}: holds an earlier compression run; pass --resume to continue it or choose "
            "another --out (nothing was changed)"
        )
    if resume and run.progress_path.exists():
        state.progress = Progress.load(run.progress_path)
        if run.state_path.exists():
            state.load(run.state_path)
    else:
        before = model_stats(model, tensors)
        before.update(valid_quality(model, data.valid, cfg.quality_items))
        before["valid_loss"] = validation_loss(model, data.valid, loss_fn, cfg.train.amp)
        state.progress = Progress(before=before)
        state.save(run.state_path)
        state.progress.save(run.progress_path)
    for unit in plan_units(cfg):
        if unit in run.prog.done or (unit.startswith("P") and run.prog.stopped):
            continue
        pruned = [u for u in run.prog.done if u.startswith("P")]
        if unit == "Q" and cfg.save_pruned and pruned and not (out / "pruned.secomp").exists():
            save_pruned(model, tensors, out / "pruned.secomp")
        STAGES[unit[0]](run, unit)
    result = CompressResult(model, state.masks, state.books, tensors, run.prog)
    run.prog.after_sparsity = sparsity(state.masks)
    return result
