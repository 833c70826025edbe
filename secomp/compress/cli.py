"""`secomp compress` and `secomp demo`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

PRESETS = Path(__file__).resolve().parents[1] / "presets"  # package data: in every install


def preset_names() -> list[str]:
    """The bundled pipeline presets (secomp/presets/NAME.yaml)."""
    return sorted(p.stem for p in PRESETS.glob("*.yaml"))


def resolve_pipeline(name: str) -> Path:
    """c1 | c2 | demo | another bundled preset NAME -> secomp/presets/NAME.yaml (shipped in the
    package, so it works from any folder and any install), or a path to a YAML file."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml"):
        if not p.exists():
            raise FileNotFoundError(f"{p}: pipeline config not found")
        return p
    if "/" not in name and (PRESETS / f"{name}.yaml").exists():
        return PRESETS / f"{name}.yaml"
    raise FileNotFoundError(
        f"pipeline '{name}' not found: bundled presets are {', '.join(preset_names())}, "
        "or give a .yaml file"
    )


def load_pipeline(name: str, overrides: list[str] = ()) -> tuple[Path, dict, Any]:
    """(path, raw dict with overrides applied, CompressConfig) for a preset or YAML file; a
    malformed file or an unknown key fails with one line naming the file."""
    from ..config import apply_overrides, from_dict
    from .pipeline import CompressConfig

    path = resolve_pipeline(name)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}" if where else ""
        raise ValueError(f"{path}: not valid YAML{at}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a pipeline config is a mapping of options")
    raw = apply_overrides(raw, list(overrides))
    try:
        cfg = from_dict(CompressConfig, raw)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: {e}") from None
    return path, raw, cfg


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
    from ..io.format import read_artifact, save_artifact
    from ..io.modelio import load_model
    from ..train import prepare_data
    from .pipeline import compress
    from .report import plot_progress, plot_sparsity, write_report

    cfg_path, raw, cfg = load_pipeline(pipeline, overrides)
    check_writable_dir(out)
    if resume:
        check_resume_files(Path(out))
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(cfg.train.seed)
    model = load_model(model_path, dev).train()
    if getattr(model, "n_speakers", 1) == 2 and cfg.train.task == "enhancement":
        cfg.train.task = "separation"  # a separation model is fine-tuned on two-talker mixtures
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "config.yaml", yaml.safe_dump(raw, sort_keys=False))
    train_data = prepare_data(data, cfg.train, dev, progress=progress)
    result = compress(model, train_data, cfg, out_dir, resume=resume, progress=progress)
    model.eval()
    art = out_dir / "model.secomp"
    nbytes = save_artifact(model.cpu(), art, result.tensors)
    header, _ = read_artifact(art.read_bytes(), str(art))
    kinds = {t.name: t.kind for t in result.tensors}
    payload_sizes = {d["name"]: sum(n for _, n in d["streams"]) for d in header["tensors"]}
    rows = []
    for d in header["tensors"]:
        if d["name"] not in kinds:
            continue
        p = dict(model.named_parameters())[d["name"]]
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
    prog = result.progress
    plot_progress(prog.rounds, prog.before, out_dir / "progress.png")
    plot_sparsity(result.tensors, prog.after_sparsity, out_dir / "sparsity.png")
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
    write_text(out_dir / "summary.json", json.dumps(summary, indent=1))
    return summary


def cmd_compress(a: argparse.Namespace) -> None:
    s = run_compress(
        a.model, a.pipeline, a.data, a.out, a.overrides, a.resume, not a.quiet, a.device
    )
    b, f = s["before"], s["after"]
    print(f"{'':>10} {'bytes':>12} {'non-zero':>10} {'STOI':>6} {'PESQ':>6}  (validation split)")
    for label, nbytes, r in (
        ("base", b["dense_fp32_bytes"], b),
        ("compressed", s["artifact_bytes"], f),
    ):
        print(f"{label:>10} {nbytes:>12,} {r['nonzero']:>10,} {r['stoi']:6.3f} {r['pesq']:6.3f}")
    print(
        f"ratio {b['dense_fp32_bytes'] / s['artifact_bytes']:.1f}x; wrote {s['artifact']} and "
        f"{Path(a.out) / 'report.md'}"
    )


def add_compress_commands(sub, common) -> None:
    s = sub.add_parser(
        "compress", help="compress a model: sparse regularization, pruning, quantization"
    )
    s.add_argument("model", help="model file (.safetensors) or bundled name")
    s.add_argument(
        "--pipeline", default="c1",
        help=f"a bundled preset ({', '.join(preset_names())}) or a config YAML",
    )
    s.add_argument("--data", required=True, help="corpus root (speech/<split>/<spk>/, noise/)")
    s.add_argument("--out", required=True, help="run folder: model.secomp, report.md, state")
    s.add_argument("--resume", action="store_true", help="continue the run in --out")
    s.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if present)")
    s.add_argument("overrides", nargs="*", help="key=value config overrides, e.g. rounds=3")
    common(s)
    s.set_defaults(fn=cmd_compress)
