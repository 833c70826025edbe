"""The training engine: used by `secomp train` and by every fine-tuning phase of compression.

Data are mixed on the fly on the training device from in-memory audio banks (secomp.data);
batches are a pure function of (seed, rank, step), so a resumed run sees exactly the batches an
uninterrupted one would. Checkpoints (model, optimizer, LR schedule, step, RNG, history, and the
hooks' state, e.g. pruning masks) are written atomically every validation. Multi-GPU via
`torchrun` (DistributedDataParallel), one process per device.
"""

from __future__ import annotations

import csv
import inspect
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from .data import (
    AudioBank,
    MixConfig,
    RirBank,
    enhancement_batch,
    load_corpus,
    load_rirs,
    noise_bank,
    separation_batch,
    speech_bank,
)
from .io.checkpoint import load_checkpoint, save_checkpoint
from .io.modelio import load_model, save_model
from .structure.layers import batch_norms


@dataclass
class TrainConfig:
    model: str = "crn"
    hparams: dict[str, Any] = field(default_factory=dict)
    steps: int = 20000
    batch_size: int = 16  # per process
    optimizer: str = "adam"  # adam | adamw
    lr: float = 2e-4
    amsgrad: bool = False
    weight_decay: float = 0.0
    lr_patience: int = 4  # validations without improvement before the LR is cut
    lr_factor: float = 0.5
    min_lr: float = 1e-6
    grad_clip: float = 5.0
    amp: bool = True  # bf16 autocast, CUDA only
    valid_every: int = 250
    valid_batches: int = 8
    log_every: int = 25
    seed: int = 0
    valid_seed: int | None = None  # seed of the fixed validation batches; None: seed + 7919
    init: str = ""  # model file whose weights start the run (fine-tuning); ignored on --resume
    max_minutes: float = 0.0  # stop (after a checkpoint) once exceeded; 0 = no limit
    train_split: str = "train"
    valid_split: str = "valid"
    noise_split: str = "train"
    mix: MixConfig = field(default_factory=MixConfig)
    # enhancement: (noisy, clean) batches; separation: (two-talker mixture, sources [B, 2, N]);
    # noisy-separation: the same mixtures with noise added at mix.snr_db (mix.p_* choose it)
    task: str = "enhancement"
    bank_cache: str = ""  # folder keeping decoded audio banks (several runs decode once); "": off
    # spectral models: the loss compares power-law compressed spectra |X|^p (secomp/losses.py);
    # 1.0 is the paper's plain MSE
    loss_power: float = 1.0


Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass
class TrainData:
    """batch(step, rank) -> (noisy, clean) on the training device, and fixed validation batches.

    A pure function of (step, rank) makes resumed runs exact; `from_iterable` wraps a user's
    DataLoader instead (then a resumed run sees different batches).
    """

    batch: Callable[[int, int], Batch]
    valid: list[Batch]

    @property
    def device(self) -> torch.device:
        return self.valid[0][0].device

    @staticmethod
    def from_banks(
        speech: AudioBank,
        noise: AudioBank,
        mix: MixConfig,
        batch_size: int,
        seed: int,
        valid: list[Batch],
        rirs: RirBank | None = None,
    ) -> TrainData:
        def batch(step: int, rank: int) -> Batch:
            return enhancement_batch(speech, noise, mix, batch_size, seed, rank, step, rirs)

        return TrainData(batch, valid)

    @staticmethod
    def from_iterable(loader, valid: list[Batch], device: torch.device | str = "cpu") -> TrainData:
        """Cycle over any iterable of (noisy, clean) batches, e.g. a torch DataLoader."""
        state = {"it": iter(loader)}

        def batch(step: int, rank: int) -> Batch:
            try:
                noisy, clean = next(state["it"])
            except StopIteration:
                state["it"] = iter(loader)
                noisy, clean = next(state["it"])
            return noisy.to(device), clean.to(device)

        return TrainData(batch, [(n.to(device), c.to(device)) for n, c in valid])


def prepare_data(
    corpus_root: str | Path,
    cfg: TrainConfig,
    device: torch.device,
    jobs: int | None = None,
    progress: bool = False,
) -> TrainData:
    """Decode the training and validation speech and the training noise once, onto `device`,
    and draw the fixed validation batches (valid speech + training noises)."""
    corpus = load_corpus(corpus_root)
    cache = cfg.bank_cache or None
    speech = speech_bank(corpus, cfg.train_split, jobs, progress and is_main(), cache).to(device)
    if cfg.task == "separation":
        noise = None
    elif cfg.task in ("enhancement", "noisy-separation"):
        noise = noise_bank(corpus, cfg.noise_split, jobs, cache).to(device)
    else:
        raise ValueError(f"unknown task '{cfg.task}' (enhancement | separation | noisy-separation)")
    valid_speech = speech_bank(corpus, cfg.valid_split, jobs, cache_dir=cache).to(device)
    valid_seed = cfg.seed + 7919 if cfg.valid_seed is None else cfg.valid_seed
    if cfg.task != "enhancement":

        def sep_batch(bank: AudioBank, seed: int, rank: int, step: int) -> Batch:
            return separation_batch(bank, cfg.mix, cfg.batch_size, seed, rank, step, noise)

        valid = [sep_batch(valid_speech, valid_seed, 0, i) for i in range(cfg.valid_batches)]
        return TrainData(lambda step, rank: sep_batch(speech, cfg.seed, rank, step), valid)
    rirs = load_rirs(cfg.mix.rir_file).to(device) if cfg.mix.p_reverb > 0 else None
    valid = [
        enhancement_batch(valid_speech, noise, cfg.mix, cfg.batch_size, valid_seed, 0, i, rirs)
        for i in range(cfg.valid_batches)
    ]
    return TrainData.from_banks(speech, noise, cfg.mix, cfg.batch_size, cfg.seed, valid, rirs)


@dataclass
class TrainHooks:
    """What compression adds to plain training.

    penalty: extra loss term (sparse regularization), a function of the model.
    before_step: called after backward and clipping, before the optimizer step (centroid
        fine-tuning turns weight gradients into centroid gradients here).
    after_step: called after every optimizer step (re-applies pruning masks).
    state / load_state: extra state saved in and restored from the checkpoint.
    loss: replaces `model.loss(noisy, clean)` (e.g. a user's own loss).
    """

    penalty: Callable[[nn.Module], torch.Tensor] | None = None
    before_step: Callable[[nn.Module], None] | None = None
    after_step: Callable[[nn.Module], None] | None = None
    state: Callable[[], dict[str, Any]] | None = None
    load_state: Callable[[dict[str, Any]], None] | None = None
    loss: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor] | None = None


class _LossModule(nn.Module):
    """Lets DDP see the loss computation as `forward`, so gradient all-reduce is triggered."""

    def __init__(self, model: nn.Module, loss_fn):
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, noisy: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(self.model, noisy, clean)


def _default_loss(model: nn.Module, noisy: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    return model.loss(noisy, clean)


def model_loss(model: nn.Module, power: float = 1.0):
    """The model's own training loss as loss_fn(model, noisy, clean), its spectra compressed to
    `power` (1.0: the loss as the model defines it)."""
    if power == 1.0:
        return _default_loss
    if not 0.0 < power < 1.0 or "power" not in inspect.signature(model.loss).parameters:
        raise ValueError(
            f"loss_power {power}: needs 0 < power <= 1 and a spectral model "
            f"(the {type(model).__name__} loss has no spectra to compress)"
        )

    def compressed(m: nn.Module, noisy: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        return m.loss(noisy, clean, power=power)

    return compressed


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(
        device.type, dtype=torch.bfloat16, enabled=enabled and device.type == "cuda"
    )


@torch.inference_mode()
def validation_loss(
    model: nn.Module,
    batches: list[tuple[torch.Tensor, torch.Tensor]],
    loss_fn=_default_loss,
    amp: bool = True,
) -> float:
    """Mean loss over fixed batches, in eval mode (restores the previous mode)."""
    was_training = model.training
    model.eval()
    total = 0.0
    for noisy, clean in batches:
        with _autocast(noisy.device, amp):
            total += float(loss_fn(model, noisy, clean))
    model.train(was_training)
    return total / max(1, len(batches))


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches: Iterable[Batch]) -> int:
    """Re-estimate every BatchNorm's running mean and variance as the plain average of its
    train-mode batch statistics over `batches` (weights unchanged); returns how many layers.

    Why: with momentum 0.1 the running statistics follow the last ~10 training batches, and
    their jitter alone moved the TCNN's validation loss by 3x between validations at lr 8e-6.
    Averaging over many batches at the end of training removes that lottery."""
    bns = batch_norms(model)
    if not bns:
        return 0
    was_training = model.training
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    try:
        for noisy, clean in batches:
            model.loss(noisy, clean)
    finally:
        for m, mom in zip(bns, momenta):
            m.momentum = mom
        model.train(was_training)
    return len(bns)


def load_initial_weights(model: nn.Module, path: str | Path) -> None:
    """Copy the weights of the model file `path` into `model` (same architecture and shapes),
    so that a run fine-tunes it instead of starting from random weights."""
    src = load_model(path)
    if type(src) is not type(model):
        raise ValueError(
            f"init {path}: holds a {type(src).__name__}, the run trains a {type(model).__name__}"
        )
    try:
        model.load_state_dict(src.state_dict())
    except RuntimeError as e:
        raise ValueError(f"init {path}: weights do not fit the configured model: {e}") from None


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, cfg.lr, weight_decay=cfg.weight_decay, amsgrad=cfg.amsgrad)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, cfg.lr, weight_decay=cfg.weight_decay, amsgrad=cfg.amsgrad)
    raise ValueError(f"unknown optimizer '{cfg.optimizer}' (adam | adamw)")


def is_main() -> bool:
    return not dist.is_initialized() or dist.get_rank() == 0


def _write_log(history: list[dict[str, float]], out_dir: Path) -> None:
    keys = ["step", "loss", "valid_loss", "lr", "time_s", "audio_s_per_s"]
    tmp = out_dir / "log.csv.part"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, keys, extrasaction="ignore")
        w.writeheader()
        w.writerows(history)
    tmp.replace(out_dir / "log.csv")
    plot_losses(history, out_dir / "loss.png")


def plot_losses(history: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(h["step"], h["loss"]) for h in history if not math.isnan(h.get("loss", math.nan))]
    valid = [(h["step"], h["valid_loss"]) for h in history if not math.isnan(h["valid_loss"])]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if train:
        ax.plot(*zip(*train), label="train", alpha=0.6)
    if valid:
        ax.plot(*zip(*valid), "o-", label="valid")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    # minus SI-SDR (separation) is negative once the model works: no log scale then
    losses = [v for _, v in train + valid]
    ax.set_yscale("log" if losses and min(losses) > 0 else "linear")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def fit(
    model: nn.Module,
    data: TrainData,
    cfg: TrainConfig,
    out_dir: str | Path,
    hooks: TrainHooks | None = None,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train `model` (already on the device) for cfg.steps steps; returns a summary.

    Writes out_dir/{ckpt.pt, best.safetensors, log.csv, loss.png}. With `resume`, continues from
    out_dir/ckpt.pt if it exists. Under torchrun, every rank calls this; rank 0 writes files.
    """
    hooks = hooks or TrainHooks()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = data.device
    rank = dist.get_rank() if dist.is_initialized() else 0
    loss_fn = hooks.loss or model_loss(model, cfg.loss_power)
    opt = make_optimizer(model, cfg)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=cfg.lr_factor, patience=cfg.lr_patience, min_lr=cfg.min_lr
    )
    step, best, history, elapsed0 = 0, math.inf, [], 0.0
    ckpt_path = out_dir / "ckpt.pt"
    if not resume and ckpt_path.exists():
        raise FileExistsError(
            f"{out_dir}: holds a training checkpoint; pass --resume to continue it or choose "
            "another --out (nothing was changed)"
        )
    if resume and ckpt_path.exists():
        ck = load_checkpoint(ckpt_path, map_location=device)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        if float(ck.get("loss_power", 1.0)) != cfg.loss_power:
            raise ValueError(
                f"{ckpt_path}: trained with loss_power {ck.get('loss_power', 1.0)}, this config "
                f"says {cfg.loss_power}: the losses are on different scales (nothing changed)"
            )
        step, best, history = int(ck["step"]), float(ck["best"]), list(ck["history"])
        elapsed0 = float(ck.get("elapsed_s", 0.0))
        torch.set_rng_state(ck["rng_cpu"].cpu())
        if hooks.load_state is not None and "hooks" in ck:
            hooks.load_state(ck["hooks"])
    if hooks.after_step is not None:
        hooks.after_step(model)  # masks hold from the first step (and after a resume)
    wrapped: nn.Module = _LossModule(model, loss_fn)
    if dist.is_initialized():
        wrapped = nn.parallel.DistributedDataParallel(
            wrapped, device_ids=[device.index] if device.type == "cuda" else None
        )
    model.train()
    t0 = time.time() - elapsed0
    bar = tqdm(total=cfg.steps, initial=step, desc="train", disable=not (progress and is_main()))
    running, n_running, t_log, steps_log = 0.0, 0, time.time(), 0
    stop = False
    while step < cfg.steps and not stop:
        noisy, clean = data.batch(step, rank)
        with _autocast(device, cfg.amp):
            loss = wrapped(noisy, clean)
            total = loss + hooks.penalty(model) if hooks.penalty is not None else loss
        opt.zero_grad(set_to_none=True)
        total.backward()
        if cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        if hooks.before_step is not None:
            hooks.before_step(model)
        opt.step()
        if hooks.after_step is not None:
            hooks.after_step(model)
        step += 1
        steps_log += 1
        running += float(loss.detach())
        n_running += 1
        bar.update(1)
        if step % cfg.log_every == 0 or step % cfg.valid_every == 0 or step == cfg.steps:
            now = time.time()
            rate = steps_log * cfg.batch_size * cfg.mix.segment_s / max(1e-9, now - t_log)
            row = {
                "step": step,
                "loss": running / max(1, n_running),
                "valid_loss": math.nan,
                "lr": opt.param_groups[0]["lr"],
                "time_s": now - t0,
                "audio_s_per_s": rate,
            }
            running, n_running, t_log, steps_log = 0.0, 0, now, 0
            if cfg.max_minutes and (now - t0) / 60 > cfg.max_minutes:
                stop = True
            if step % cfg.valid_every == 0 or step == cfg.steps or stop:
                v = validation_loss(model, data.valid, loss_fn, cfg.amp)
                row["valid_loss"] = v
                sched.step(v)
                bar.set_postfix(loss=f"{row['loss']:.4g}", valid=f"{v:.4g}")
                if v < best:
                    best = v
                    if is_main():
                        save_model(
                            model,
                            out_dir / "best.safetensors",
                            # the loss it was trained on, which fine-tuning should keep using
                            {"step": step, "valid_loss": v, "loss_power": cfg.loss_power},
                        )
                history.append(row)
                if is_main():
                    state = {
                        "model": model.state_dict(),
                        "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict(),
                        "step": step,
                        "best": best,
                        "history": history,
                        "elapsed_s": time.time() - t0,
                        "rng_cpu": torch.get_rng_state(),
                        "loss_power": cfg.loss_power,
                    }
                    if hooks.state is not None:
                        state["hooks"] = hooks.state()
                    save_checkpoint(state, ckpt_path)
                    _write_log(history, out_dir)
                if dist.is_initialized():
                    dist.barrier()
            else:
                history.append(row)
    bar.close()
    return {"step": step, "best_valid_loss": best, "time_s": time.time() - t0, "history": history}


def setup_distributed() -> torch.device:
    """Under torchrun (WORLD_SIZE set): init the process group (NCCL on GPU, gloo on CPU) and
    return this rank's device. Otherwise the first GPU if there is one, else the CPU."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        if torch.cuda.is_available():
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            return torch.device("cuda", local)
        return torch.device("cpu")
    if torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True  # fixed segment length: autotuned kernels pay off
        return torch.device("cuda", 0)
    return torch.device("cpu")
