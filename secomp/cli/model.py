"""`secomp info`, `secomp slim`, `secomp bn-recalibrate` and `secomp export`: one model file in,
a report or another model file out."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import overwrite_options


def cmd_info(a: argparse.Namespace) -> None:
    from ..info import format_info, model_info

    info = model_info(a.model)
    print(json.dumps(info, indent=1) if a.json else format_info(info))


def cmd_slim(a: argparse.Namespace) -> None:
    import torch

    from ..audio import load_audio
    from ..compress.groups import prunable_tensors
    from ..demo import demo_audio
    from ..files import check_output
    from ..io.format import save_artifact
    from ..io.modelio import load_model, resolve, save_model
    from ..structure.macs import count_macs
    from ..structure.slim import slim_model

    inputs = [resolve(a.model)] + ([a.audio] if a.audio else [])
    out = check_output(a.output, inputs, a.overwrite)
    if out.suffix not in (".secomp", ".safetensors"):
        sys.exit("secomp slim: -o must end in .secomp or .safetensors")
    model = load_model(a.model)
    slim, rows = slim_model(model)
    audio = load_audio(a.audio) if a.audio else demo_audio()
    x = torch.from_numpy(audio)[None]
    with torch.inference_mode():
        err = float((model(x) - slim(x)).abs().max())
    if err > a.tolerance:
        sys.exit(f"secomp slim: slimmed output differs by {err:.2e} > {a.tolerance:g}; not written")
    if out.suffix == ".secomp":
        save_artifact(slim, out, prunable_tensors(slim))
    else:
        save_model(slim, out)
    before, after = count_macs(model)["dense"], count_macs(slim)["dense"]
    for r in rows:
        units = f", units {r['units']}" if r["units"] else ""
        outputs = f", outputs {r['outputs']}" if r.get("outputs") else ""
        print(f"{r['name']}: inputs {r['inputs']}{outputs}{units}")
    print(
        f"MACs (4 s) {before / 1e9:.3f} G -> {after / 1e9:.3f} G ({before / after:.2f}x fewer); "
        f"max |output diff| {err:.2e} on {len(audio) / 16000:.1f} s of audio; wrote {out} "
        f"({out.stat().st_size:,} bytes)"
    )


def cmd_bn_recalibrate(a: argparse.Namespace) -> None:
    import torch

    from ..config import load_config
    from ..files import check_output
    from ..io.modelio import load_model, resolve, save_model
    from ..train import TrainConfig, prepare_data, recalibrate_batchnorm

    out = check_output(a.output, [resolve(a.model)])
    if out.suffix != ".safetensors":
        sys.exit("secomp bn-recalibrate: -o must end in .safetensors")
    if a.threads:
        torch.set_num_threads(a.threads)
    cfg = load_config(TrainConfig, a.config, [*a.overrides, "valid_batches=1"])
    model = load_model(a.model)
    data = prepare_data(a.data, cfg, torch.device("cpu"))
    # training batches the run never drew (its steps count from 0)
    batches = (data.batch(a.first_step + i, 0) for i in range(a.batches))
    n = recalibrate_batchnorm(model, batches)
    if n == 0:
        sys.exit("secomp bn-recalibrate: the model has no BatchNorm layer")
    save_model(model.eval(), out, {"bn_recalibrated_batches": a.batches})
    print(
        f"{n} BatchNorm layers re-estimated over {a.batches} batches of {cfg.batch_size}; "
        f"wrote {out}"
    )


def cmd_export(a: argparse.Namespace) -> None:
    from ..files import OutputError, check_output
    from ..io.modelio import load_model, resolve
    from ..io.onnx import export_onnx, export_onnx_streaming, onnx_parity, streaming_parity

    if Path(a.onnx).suffix.lower() != ".onnx":
        raise OutputError(f"{a.onnx}: --onnx must end in .onnx")
    check_output(a.onnx, [resolve(a.model)], a.overwrite)
    import onnx  # noqa: F401  (fail on the missing extra before the export's work)
    import onnxruntime  # noqa: F401

    if a.int8 and not a.streaming:
        raise ValueError("--int8 applies to the streaming export (add --streaming)")
    model = load_model(a.model)
    if a.streaming:
        try:
            path = export_onnx_streaming(model, a.onnx, int8=a.int8)
        except TypeError as e:
            sys.exit(f"secomp export: {e}")
        if a.int8:  # not the float network by design: the streamer's output says how close
            import numpy as np

            from ..stream import OnnxStep, step_snr_db

            noise = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.056
            snr = step_snr_db(model, OnnxStep(path, model), noise)
            print(
                f"wrote {path} ({path.stat().st_size:,} bytes, dynamic int8); streamed in "
                f"onnxruntime vs the float PyTorch streamer: {snr:.1f} dB SNR on 1 s of noise "
                "(quality on speech: benchmarks/stream_int8_quality.py)"
            )
            if snr < 15:  # 21-31 dB on real audio for the zoo models; far below: a broken graph
                print("warning: int8 stream below 15 dB SNR against the float one", file=sys.stderr)
                sys.exit(1)
            return
        err = streaming_parity(model, path)
        how = "fed 1 and 7 frames at a time, state carried"
    else:
        path = export_onnx(model, a.onnx)
        err = onnx_parity(model, path)
        how = "whole inputs"
    print(
        f"wrote {path} ({path.stat().st_size:,} bytes); onnxruntime ({how}) vs PyTorch "
        f"max |diff| {err:.2e}"
    )
    if err > 1e-4:
        print("warning: parity above 1e-4", file=sys.stderr)
        sys.exit(1)


def add_info(sub) -> None:
    s = sub.add_parser("info", help="architecture, parameters, sizes")
    s.add_argument("model", help="model file (.safetensors/.secomp) or bundled name")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.set_defaults(fn=cmd_info)


def add_slim(sub) -> None:
    s = sub.add_parser("slim", help="remove pruned units: a smaller dense model, same output")
    s.add_argument("model", help="pruned model file (.secomp/.safetensors)")
    s.add_argument("-o", "--output", required=True, help="output .secomp or .safetensors")
    s.add_argument("--audio", default=None, help="audio for the parity check (default: demo)")
    s.add_argument("--tolerance", type=float, default=1e-5, help="max |output diff| allowed")
    overwrite_options(s)
    s.set_defaults(fn=cmd_slim)


def add_bn_recalibrate(sub) -> None:
    s = sub.add_parser(
        "bn-recalibrate",
        help="re-estimate BatchNorm statistics as an average over many training batches",
    )
    s.add_argument("model", help="model file (.safetensors/.secomp)")
    s.add_argument("--data", required=True, help="corpus root (as for train)")
    s.add_argument("--config", default=None, help="the training config (its mixture settings)")
    s.add_argument("--batches", type=int, default=40, help="training batches to average over")
    s.add_argument(
        "--first-step", type=int, default=10**9, help="draw the batches of steps from here on"
    )
    s.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    s.add_argument("-o", "--output", required=True, help="output .safetensors (must not exist)")
    s.add_argument("overrides", nargs="*", help="key=value config overrides")
    s.set_defaults(fn=cmd_bn_recalibrate)


def add_export(sub) -> None:
    s = sub.add_parser("export", help="export the network to ONNX (checked with onnxruntime)")
    s.add_argument("model", help="model file (.safetensors/.secomp) or bundled name")
    s.add_argument("--onnx", required=True, help="output .onnx path")
    overwrite_options(s)
    s.add_argument(
        "--streaming",
        action="store_true",
        help="one hop's frame per call, the model's state as inputs/outputs (docs/format.md)",
    )
    s.add_argument(
        "--int8",
        action="store_true",
        help="with --streaming: onnxruntime dynamic int8 quantization of the graph",
    )
    s.set_defaults(fn=cmd_export)
