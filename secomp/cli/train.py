"""`secomp train`."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import quiet_option


def cmd_train(a: argparse.Namespace) -> None:
    import torch

    from ..config import load_config
    from ..models import build_model
    from ..train import (
        TrainConfig,
        fit,
        load_initial_weights,
        model_loss,
        prepare_data,
        setup_distributed,
    )

    overrides = list(a.overrides)
    if a.model:
        overrides.append(f"model={a.model}")
    cfg = load_config(TrainConfig, a.config, overrides)
    from ..models import check_hparams

    check_hparams(cfg.model, cfg.hparams, a.config or "train config")
    device = setup_distributed()
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, **cfg.hparams)
    model_loss(model, cfg.loss_power)  # a loss_power the model cannot take: refused before the data
    if cfg.init:
        load_initial_weights(model, cfg.init)  # a resumed run then overwrites them
    model = model.to(device)
    data = prepare_data(a.data, cfg, device, progress=not a.quiet)
    summary = fit(model, data, cfg, a.out, resume=a.resume, progress=not a.quiet)
    out = Path(a.out)
    from ..train import is_main

    if is_main() and (out / "best.safetensors").exists():
        from ..files import write_bytes

        write_bytes(out / "model.safetensors", (out / "best.safetensors").read_bytes())
        print(
            f"step {summary['step']}, best valid loss {summary['best_valid_loss']:.5g}, "
            f"{summary['time_s']:.0f} s; model: {out / 'model.safetensors'}"
        )


def add_train(sub) -> None:
    s = sub.add_parser("train", help="train an enhancement model")
    s.add_argument("--model", default=None, help="architecture: crn, gcrn, lstm, tcnn, ...")
    s.add_argument("--data", required=True, help="corpus root (speech/<split>/<spk>/, noise/)")
    s.add_argument("--out", required=True, help="run folder (checkpoints, log, model)")
    s.add_argument("--config", default=None, help="training config YAML")
    s.add_argument("--resume", action="store_true", help="continue the run in --out")
    s.add_argument("overrides", nargs="*", help="key=value config overrides")
    quiet_option(s)
    s.set_defaults(fn=cmd_train)
