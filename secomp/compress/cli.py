"""`secomp compress` and `secomp demo`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

REPO_CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "compress"


def resolve_pipeline(name: str) -> Path:
    """c1 | c2 | NAME -> configs/compress/NAME.yaml (here, else in the source checkout), or a
    path to a YAML file."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml"):
        if not p.exists():
            raise FileNotFoundError(f"{p}: pipeline config not found")
        return p
    for root in (Path("configs/compress"), REPO_CONFIGS):
        if (root / f"{name}.yaml").exists():
            return root / f"{name}.yaml"
    raise FileNotFoundError(f"pipeline '{name}' not found in configs/compress/")


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

    from ..artifact.format import read_artifact, save_artifact
    from ..config import apply_overrides, from_dict
    from ..modelio import load_model
    from ..train import prepare_data
    from .pipeline import CompressConfig, compress
    from .report import plot_progress, plot_sparsity, write_report

    cfg_path = resolve_pipeline(pipeline)
    raw = yaml.safe_load(cfg_path.read_text()) or {}
    raw = apply_overrides(raw, list(overrides))
    cfg = from_dict(CompressConfig, raw)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(cfg.train.seed)
    model = load_model(model_path, dev).train()
    if getattr(model, "n_speakers", 1) == 2 and cfg.train.task == "enhancement":
        cfg.train.task = "separation"  # a separation model is fine-tuned on two-talker mixtures
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
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
    plot_progress(prog["rounds"], prog["before"], out_dir / "progress.png")
    plot_sparsity(result.tensors, prog["after_sparsity"], out_dir / "sparsity.png")
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
        "before": prog["before"],
        "after": prog["rounds"][-1] if prog["rounds"] else prog["before"],
        "stage_time_s": prog["stage_time_s"],
        "rounds": prog["rounds"],
        "reg_lambda_abs": prog.get("reg_lambda_abs"),
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
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
    s.add_argument("--pipeline", default="c1", help="c1 | c2 | a config YAML")
    s.add_argument("--data", required=True, help="corpus root (speech/<split>/<spk>/, noise/)")
    s.add_argument("--out", required=True)
    s.add_argument("--resume", action="store_true")
    s.add_argument("--device", default=None)
    s.add_argument("overrides", nargs="*", help="key=value config overrides, e.g. rounds=3")
    common(s)
    s.set_defaults(fn=cmd_compress)

    from .demo import add_demo_command

    add_demo_command(sub, common)
