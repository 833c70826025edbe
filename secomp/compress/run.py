"""Compress a model file end to end (what `secomp compress` runs): load the model and the
pipeline config, fine-tune on a corpus through the pipeline, write OUT/model.secomp, the report,
its plots and OUT/summary.json."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from .presets import load_pipeline


def check_resume_files(out_dir: Path) -> None:
    """Before a --resume does any work: OUT/progress.json must be a readable progress record
    and OUT/state.safetensors a complete safetensors file; else one line naming the file."""
    from safetensors.torch import load_file

    from ..io.checkpoint import CheckpointError
    from .pipeline import Progress

    prog_path, state_path = out_dir / "progress.json", out_dir / "state.safetensors"
    if prog_path.exists():
        try:
            prog = json.loads(prog_path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise CheckpointError(f"{prog_path}: corrupt progress record ({e})") from None
        try:
            Progress.from_dict(prog)
        except ValueError as e:
            raise CheckpointError(f"{prog_path}: {e}") from None
    if state_path.exists():
        try:
            load_file(str(state_path))
        except Exception as e:  # safetensors reports a torn file in several ways
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise CheckpointError(f"{state_path}: corrupt or truncated state ({msg})") from None


def keep_trained_loss(model_path: str, raw: dict, cfg) -> str | None:
    """Fine-tune on the loss the model was trained with: where the model file records a
    `loss_power` and the pipeline config sets none, use the recorded one (in `cfg` and in
    `raw`, which becomes the run's config.yaml). A config that sets another one wins, with a
    note. Returns the one-line note to show, or None."""
    from ..io.modelio import trained_loss_power

    trained = trained_loss_power(model_path)
    if trained is None:
        return None
    train = raw.get("train") or {}
    if "loss_power" not in train:
        raw["train"] = {**train, "loss_power": trained}
        cfg.train.loss_power = trained
        return None if trained == 1.0 else (
            f"{model_path}: trained with loss_power {trained:g}; fine-tuning with it"
        )
    if float(train["loss_power"]) != trained:
        return (
            f"{model_path}: trained with loss_power {trained:g}, fine-tuning with"
            f" {cfg.train.loss_power:g} as the config says"
        )
    return None


def load_teacher(cfg, model, device):
    """The model file of `teacher:` (None when unset), checked against `model` before any data
    is read: `distill` must be on and the teacher must be the same architecture with the same
    hyper-parameters and tensor shapes (a dense baseline of a pruned input, say)."""
    if not cfg.teacher:
        return None
    from ..io.modelio import load_model
    from ..models.registry import model_config

    if cfg.distill <= 0:
        raise ValueError(f"teacher {cfg.teacher} is set but distill is 0: set distill > 0")
    teacher = load_model(cfg.teacher, device).eval()
    # as stored in model files (tuples become lists), so a built and a loaded model compare equal
    mine, theirs = (json.loads(json.dumps(model_config(m))) for m in (model, teacher))
    shapes, their_shapes = (
        {n: tuple(p.shape) for n, p in m.named_parameters()} for m in (model, teacher)
    )
    same_config = (mine["arch"], mine["hparams"]) == (theirs["arch"], theirs["hparams"])
    if not same_config or shapes != their_shapes:
        differs = sorted(n for n in shapes.keys() | their_shapes.keys()
                         if shapes.get(n) != their_shapes.get(n))
        what = (
            f"tensor {differs[0]} differs"
            if same_config
            else f"{theirs['arch']} {theirs['hparams']} against {mine['arch']} {mine['hparams']}"
        )
        raise ValueError(
            f"teacher {cfg.teacher} is not the input's architecture and size ({what}):"
            " distillation needs the same outputs"
        )
    return teacher


def run_compress(
    model_path: str,
    pipeline: str,
    data: str,
    out: str,
    overrides: list[str] = (),
    resume: bool = False,
    progress: bool = True,
    device: str | None = None,
) -> dict:
    """Compress a model file with a pipeline config on a corpus; writes OUT/model.secomp and
    OUT/report.md; returns a summary dict."""
    import torch

    from ..files import check_writable_dir, write_text
    from ..io.format import save_artifact
    from ..io.modelio import load_model
    from ..train import model_loss, prepare_data
    from .pipeline import compress

    cfg_path, raw, cfg = load_pipeline(pipeline, overrides)
    note = keep_trained_loss(model_path, raw, cfg)
    if note:
        print(note, file=sys.stderr)
    check_writable_dir(out)
    if resume:
        check_resume_files(Path(out))
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(cfg.train.seed)
    model = load_model(model_path, dev).train()
    model_loss(model, cfg.train.loss_power)  # a loss_power it cannot take: refused before the data
    teacher = load_teacher(cfg, model, dev)  # so is a teacher it cannot learn from
    if getattr(model, "n_speakers", 1) == 2 and cfg.train.task == "enhancement":
        cfg.train.task = "separation"  # a separation model is fine-tuned on two-talker mixtures
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "config.yaml", yaml.safe_dump(raw, sort_keys=False))
    train_data = prepare_data(data, cfg.train, dev, progress=progress)
    result = compress(
        model, train_data, cfg, out_dir, resume=resume, progress=progress, teacher=teacher
    )
    model.eval()
    save_artifact(model.cpu(), out_dir / "model.secomp", result.tensors)
    return write_record(model, result.tensors, result.progress, out_dir, model_path, cfg_path, raw)


def write_record(
    model, tensors, prog, out_dir: Path, model_path: str, cfg_path: Path, raw: dict
) -> dict:
    """OUT/report.md, progress.png, sparsity.png and summary.json of a run whose
    OUT/model.secomp is written (`model`, its prunable `tensors` and Progress `prog` as the
    run ended); returns the summary. Also what recipes/finish_record.py runs for a run stopped
    after it wrote its file."""
    from ..files import write_text
    from ..io.format import read_artifact
    from .report import plot_progress, plot_sparsity, write_report

    art = out_dir / "model.secomp"
    data = art.read_bytes()
    nbytes = len(data)
    header, _ = read_artifact(data, str(art))
    kinds = {t.name: t.kind for t in tensors}
    payload_sizes = {d["name"]: sum(n for _, n in d["streams"]) for d in header["tensors"]}
    params = dict(model.named_parameters())
    rows = []
    for d in header["tensors"]:
        if d["name"] not in kinds:
            continue
        p = params[d["name"]]
        rows.append(
            {
                "name": d["name"],
                "kind": kinds[d["name"]],
                "shape": d["shape"],
                "nonzero": int((p != 0).sum()),
                "zeros": float((p == 0).float().mean()),
                "encoding": d["enc"],
                "bits": d.get("indices", {}).get("bits", ""),
                "bytes": payload_sizes[d["name"]],
            }
        )
    plot_progress(prog.rounds, prog.before, out_dir / "progress.png")
    plot_sparsity(tensors, prog.after_sparsity, out_dir / "sparsity.png")
    write_report(
        out_dir / "report.md",
        f"secomp compress: {model_path} with {cfg_path.name}",
        yaml.safe_dump(raw, sort_keys=False),
        prog,
        rows,
        nbytes,
    )
    summary = {
        "model": str(model_path),
        "pipeline": str(cfg_path),
        "artifact": str(art),
        "artifact_bytes": nbytes,
        "before": prog.before,
        "after": prog.after,
        "stage_time_s": prog.stage_time_s,
        "rounds": prog.rounds,
        "reg_lambda_abs": prog.reg_lambda_abs,
    }
    if (pruned := out_dir / "pruned.secomp").exists():  # save_pruned: the model before Q
        summary["pruned_artifact"] = str(pruned)
        summary["pruned_artifact_bytes"] = pruned.stat().st_size
    write_text(out_dir / "summary.json", json.dumps(summary, indent=1))
    return summary
