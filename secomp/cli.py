"""The `secomp` command line. Each subcommand is a thin layer over a library function."""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path


def _device(name: str | None) -> str:
    import torch

    if name:
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


def cmd_make_testset(a: argparse.Namespace) -> None:
    from .data import make_testset

    share = None
    if a.corpus_share:
        share = {}
        for item in a.corpus_share:
            name, _, value = item.rpartition("=")
            try:
                share[name] = float(value)
            except ValueError:
                raise ValueError(f"--corpus-share takes CORPUS=FRACTION, got '{item}'") from None
    manifest = make_testset(
        a.speech, a.noise, a.out, a.snr, a.n, a.seed, a.babble, progress=not a.quiet,
        corpus_share=share, babble_share=a.babble_share,
    )
    print(f"wrote {a.n} pairs and {manifest}")


def _load(name: str, device: str):
    from .modelio import load_model

    return None if name == "identity" else load_model(name, device)


def cmd_evaluate(a: argparse.Namespace) -> None:
    from .data import read_pairs
    from .evaluate import evaluate, format_summary, write_rows_csv

    device = _device(a.device)
    model = _load(a.model, device)
    pairs = read_pairs(a.pairs)
    summary, rows = evaluate(model, pairs, a.jobs, progress=not a.quiet, device=device)
    summary = {"model": a.model, "pairs": str(a.pairs), **summary}
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(summary, indent=1))
    if a.csv:
        write_rows_csv(rows, a.csv)
    print(format_summary(summary))


def cmd_enhance(a: argparse.Namespace) -> None:
    from tqdm import tqdm

    from .audio import AUDIO_SUFFIXES, AudioError, list_audio, load_audio, save_audio
    from .enhance import enhance_file

    device = _device(a.device)
    model = _load(a.model, device)
    out = Path(a.output)
    single = (
        len(a.inputs) == 1 and Path(a.inputs[0]).is_file() and out.suffix.lower() in AUDIO_SUFFIXES
    )
    jobs = []
    for inp in map(Path, a.inputs):
        if inp.is_dir():
            jobs += [(f, out / f.relative_to(inp).with_suffix(".flac")) for f in list_audio(inp)]
        elif inp.exists():
            jobs.append((inp, out if single else out / (inp.stem + ".flac")))
        else:
            raise FileNotFoundError(f"{inp}: not found")
    n_bad = 0
    for src, dst in tqdm(jobs, desc="enhance", disable=a.quiet):
        if dst.resolve() == src.resolve() and not a.overwrite:
            raise FileExistsError(f"{dst}: output would overwrite its input (use --overwrite)")
        try:
            if model is None:
                save_audio(dst, load_audio(src, downmix=a.downmix), overwrite=a.overwrite)
            else:
                enhance_file(
                    model,
                    src,
                    dst,
                    chunk_s=a.chunk_s,
                    device=device,
                    downmix=a.downmix,
                    overwrite=a.overwrite,
                )
        except AudioError as e:
            print(f"skipped: {e}", file=sys.stderr)
            n_bad += 1
    print(
        f"enhanced {len(jobs) - n_bad} file(s) into {out}" + (f"; {n_bad} skipped" if n_bad else "")
    )
    if n_bad:
        sys.exit(1)


def cmd_info(a: argparse.Namespace) -> None:
    from .artifact.info import format_info, model_info

    info = model_info(a.model)
    print(json.dumps(info, indent=1) if a.json else format_info(info))


def cmd_train(a: argparse.Namespace) -> None:
    import torch

    from .config import load_config
    from .models import build_model
    from .train import TrainConfig, fit, load_initial_weights, prepare_data, setup_distributed

    overrides = list(a.overrides)
    if a.model:
        overrides.append(f"model={a.model}")
    cfg = load_config(TrainConfig, a.config, overrides)
    device = setup_distributed()
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, **cfg.hparams)
    if cfg.init:
        load_initial_weights(model, cfg.init)  # a resumed run then overwrites them
    model = model.to(device)
    data = prepare_data(a.data, cfg, device, progress=not a.quiet)
    summary = fit(model, data, cfg, a.out, resume=a.resume, progress=not a.quiet)
    out = Path(a.out)
    from .train import is_main

    if is_main() and (out / "best.safetensors").exists():
        (out / "model.safetensors").write_bytes((out / "best.safetensors").read_bytes())
        print(
            f"step {summary['step']}, best valid loss {summary['best_valid_loss']:.5g}, "
            f"{summary['time_s']:.0f} s; model: {out / 'model.safetensors'}"
        )


def cmd_bn_recalibrate(a: argparse.Namespace) -> None:
    import torch

    from .config import load_config
    from .modelio import load_model, save_model
    from .train import TrainConfig, prepare_data, recalibrate_batchnorm

    out = Path(a.output)
    if out.exists():
        sys.exit(f"secomp bn-recalibrate: {out} exists; refusing to overwrite")
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
    from .artifact.onnx import export_onnx, export_onnx_streaming, onnx_parity, streaming_parity
    from .modelio import load_model

    model = load_model(a.model)
    if a.streaming:
        try:
            path = export_onnx_streaming(model, a.onnx)
        except TypeError as e:
            sys.exit(f"secomp export: {e}")
        err = streaming_parity(model, path)
        how = "fed 1 and 7 frames at a time"
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


def cmd_slim(a: argparse.Namespace) -> None:
    import torch

    from .artifact.format import save_artifact
    from .artifact.macs import count_macs
    from .artifact.slim import slim_model
    from .audio import load_audio
    from .compress.groups import prunable_tensors
    from .modelio import load_model, save_model

    out = Path(a.output)
    if out.exists() and not a.overwrite:
        sys.exit(f"secomp slim: {out} exists; refusing to overwrite (use --overwrite)")
    if out.suffix not in (".secomp", ".safetensors"):
        sys.exit("secomp slim: -o must end in .secomp or .safetensors")
    model = load_model(a.model)
    slim, rows = slim_model(model)
    audio = load_audio(a.audio) if a.audio else _demo_audio()
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


def _demo_audio():
    """A bundled test utterance mixed with a bundled real noise at 0 dB SNR."""
    import numpy as np
    import torch

    from .audio import load_audio
    from .compress.demo import DEMO_DATA
    from .data import mix_at_snr

    speech = load_audio(sorted((DEMO_DATA / "speech" / "test").rglob("*.flac"))[0])
    noise = load_audio(DEMO_DATA / "noise" / "train" / "sc_doing_the_dishes.flac")
    noise = torch.from_numpy(np.resize(noise, len(speech)))[None]
    return mix_at_snr(torch.from_numpy(speech)[None], noise, torch.zeros(1))[0].numpy()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="secomp", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(s: argparse.ArgumentParser) -> None:
        s.add_argument("--quiet", action="store_true", help="no progress bars")

    s = sub.add_parser("make-testset", help="write noisy/clean test pairs and a manifest")
    s.add_argument("--speech", required=True)
    s.add_argument("--noise", required=True)
    s.add_argument("--snr", type=float, nargs="+", default=[-5.0, 0.0, 5.0])
    s.add_argument("--n", type=int, default=150)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--babble", default=None, help="speech folder to build babble noise from")
    s.add_argument(
        "--babble-share", type=float, default=None,
        help="fraction of mixtures with babble noise (default: babble is one more noise name)",
    )
    s.add_argument(
        "--corpus-share", nargs="+", default=None, metavar="CORPUS=FRACTION",
        help="fixed share of mixtures per corpus within every SNR (corpus column of speech.csv)",
    )
    s.add_argument("--out", required=True)
    common(s)
    s.set_defaults(fn=cmd_make_testset)

    s = sub.add_parser("evaluate", help="metrics of noisy input and enhanced output")
    s.add_argument("model", help="model file, bundled name (demo) or 'identity'")
    s.add_argument("--pairs", required=True, help="folder of pairs or manifest.csv")
    s.add_argument("--json")
    s.add_argument("--csv")
    s.add_argument("--jobs", type=int, default=None, help="metric processes (default: all cores)")
    s.add_argument("--device", default=None)
    common(s)
    s.set_defaults(fn=cmd_evaluate)

    s = sub.add_parser("enhance", help="enhance files or folders")
    s.add_argument("model")
    s.add_argument("inputs", nargs="+")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--overwrite", action="store_true")
    s.add_argument("--downmix", action="store_true", help="average multi-channel input")
    s.add_argument("--chunk-s", type=float, default=60.0, help="chunk length for long audio")
    s.add_argument("--device", default=None)
    common(s)
    s.set_defaults(fn=cmd_enhance)

    s = sub.add_parser("info", help="architecture, parameters, sizes")
    s.add_argument("model")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_info)

    s = sub.add_parser("train", help="train an enhancement model")
    s.add_argument("--model", default=None)
    s.add_argument("--data", required=True, help="corpus root (speech/<split>/<spk>/, noise/)")
    s.add_argument("--out", required=True)
    s.add_argument("--config", default=None)
    s.add_argument("--resume", action="store_true")
    s.add_argument("overrides", nargs="*", help="key=value config overrides")
    common(s)
    s.set_defaults(fn=cmd_train)

    s = sub.add_parser("slim", help="remove pruned units: a smaller dense model, same output")
    s.add_argument("model")
    s.add_argument("-o", "--output", required=True, help="output .secomp or .safetensors")
    s.add_argument("--audio", default=None, help="audio for the parity check (default: demo)")
    s.add_argument("--tolerance", type=float, default=1e-5, help="max |output diff| allowed")
    s.add_argument("--overwrite", action="store_true")
    s.set_defaults(fn=cmd_slim)

    s = sub.add_parser(
        "bn-recalibrate",
        help="re-estimate BatchNorm statistics as an average over many training batches",
    )
    s.add_argument("model")
    s.add_argument("--data", required=True, help="corpus root (as for train)")
    s.add_argument("--config", default=None, help="the training config (its mixture settings)")
    s.add_argument("--batches", type=int, default=40)
    s.add_argument(
        "--first-step", type=int, default=10**9, help="draw the batches of steps from here on"
    )
    s.add_argument("--threads", type=int, default=0)
    s.add_argument("-o", "--output", required=True)
    s.add_argument("overrides", nargs="*", help="key=value config overrides")
    s.set_defaults(fn=cmd_bn_recalibrate)

    s = sub.add_parser("export", help="export the network to ONNX (checked with onnxruntime)")
    s.add_argument("model")
    s.add_argument("--onnx", required=True, help="output .onnx path")
    s.add_argument(
        "--streaming",
        action="store_true",
        help="recurrent state as inputs/outputs (h, c), chunks of any length (LSTM model)",
    )
    s.set_defaults(fn=cmd_export)

    from .compress.cli import add_compress_commands

    add_compress_commands(sub, common)
    return p


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # key=value overrides may come after options; argparse leaves those as unknown
    if extra:
        if hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides = list(args.overrides) + extra
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if getattr(args, "quiet", False):
        warnings.simplefilter("ignore")
    from .audio import AudioError
    from .checkpoint import CheckpointError
    from .modelio import ModelFileError

    try:
        args.fn(args)
    except (
        AudioError,
        ModelFileError,
        CheckpointError,
        FileNotFoundError,
        FileExistsError,
        ValueError,
        KeyError,
    ) as e:
        if os.environ.get("SECOMP_DEBUG"):
            raise
        print(f"secomp {args.cmd}: error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
