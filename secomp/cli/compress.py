"""`secomp compress` and `secomp demo`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..compress.presets import preset_names
from .common import quiet_option


def cmd_compress(a: argparse.Namespace) -> None:
    from ..compress.run import run_compress

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


def add_compress(sub) -> None:
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
    quiet_option(s)
    s.set_defaults(fn=cmd_compress)


def cmd_demo(a: argparse.Namespace) -> None:
    import tempfile

    from ..demo import format_demo, run_demo

    out = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="secomp-demo-"))
    from ..files import check_writable_dir

    check_writable_dir(out)
    print(format_demo(run_demo(out, not a.quiet, a.jobs)))


def add_demo(sub) -> None:
    s = sub.add_parser("demo", help="compress the bundled demo model on the bundled data")
    s.add_argument(
        "--out", default=None,
        help="folder for the test set and the compressed model (default: a new temporary one; "
        "an existing demo folder is continued)",
    )
    s.add_argument("--jobs", type=int, default=None, help="metric processes (default: all cores)")
    quiet_option(s)
    s.set_defaults(fn=cmd_demo)
