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


def prepare_output_folder(out: str | Path, inputs: list, overwrite: bool) -> None:
    """A folder a command fills: not one of (or inside) its input folders; if it already
    holds files, refused unless `overwrite`, and then the files its old manifest.csv names
    (and the manifest) are removed first, so no stale pairs stay behind."""
    import csv

    from .files import OutputError, check_writable_dir

    out = Path(out)
    for inp in filter(None, inputs):
        inp = Path(inp).absolute()
        if out.absolute() == inp or inp in out.absolute().parents:
            raise OutputError(f"{out}: is inside the input folder {inp}; choose another --out")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise OutputError(f"{out}: folder is not empty; refusing to write in it (--overwrite)")
        manifest = out / "manifest.csv"
        if manifest.exists():
            with open(manifest, newline="") as f:
                names = {c for row in csv.reader(f) for c in row}
            for name in names:
                p = out / name
                if "/" not in name and p.suffix.lower() in (".flac", ".wav") and p.is_file():
                    p.unlink()
            manifest.unlink()
    check_writable_dir(out)


def cmd_make_testset(a: argparse.Namespace) -> None:
    from .data import make_testset

    prepare_output_folder(a.out, [a.speech, a.noise, a.babble], a.overwrite)

    share = None
    if a.corpus_share:
        share = {}
        for item in a.corpus_share:
            name, _, value = item.rpartition("=")
            try:
                share[name] = float(value)
            except ValueError:
                raise ValueError(f"--corpus-share takes CORPUS=FRACTION, got '{item}'") from None
    if a.separation:
        from .separate import make_separation_testset

        manifest = make_separation_testset(
            a.speech, a.out, a.n, a.seed, tuple(a.level_db), share, progress=not a.quiet
        )
        print(f"wrote {a.n} two-talker mixtures and {manifest}")
        return
    if a.noise is None:
        raise ValueError("--noise is required (except with --separation)")
    manifest = make_testset(
        a.speech, a.noise, a.out, a.snr, a.n, a.seed, a.babble, progress=not a.quiet,
        corpus_share=share, babble_share=a.babble_share,
    )
    print(f"wrote {a.n} pairs and {manifest}")


def _load(name: str, device: str):
    from .io.modelio import load_model

    return None if name == "identity" else load_model(name, device)


def cmd_evaluate(a: argparse.Namespace) -> None:
    from .data import read_pairs
    from .evaluate import evaluate, format_summary, write_rows_csv
    from .separate import is_separation_manifest

    check_result_outputs(a)  # before hours of metrics, not after
    set_threads(a.threads)
    device = _device(a.device)
    model = _load(a.model, device)
    if a.dnsmos:
        return _evaluate_dnsmos(a, model, device)
    if is_separation_manifest(a.pairs):
        return _evaluate_separation(a, model, device)
    pairs = read_pairs(a.pairs)
    summary, rows = evaluate(model, pairs, a.jobs, progress=not a.quiet, device=device)
    summary = {"model": a.model, "pairs": str(a.pairs), **summary}
    save_results(a, summary, rows, write_rows_csv)
    print(format_summary(summary))
    if summary.get("failed"):
        sys.exit(1)


def _evaluate_dnsmos(a: argparse.Namespace, model, device: str) -> None:
    from .audio import list_audio
    from .data import read_pairs
    from .evaluate import evaluate_dnsmos, format_dnsmos, write_dnsmos_csv

    src = Path(a.pairs)
    if src.suffix == ".csv":
        files = [p.noisy for p in read_pairs(src)]
    elif src.is_dir():
        files = [f for f in list_audio(src) if not f.stem.endswith("_clean")]
    else:
        raise FileNotFoundError(f"{src}: no such folder or manifest")
    if not files:
        raise ValueError(f"{src}: no audio files")
    summary, rows = evaluate_dnsmos(model, files, not a.quiet, device, a.threads or 1)
    summary = {"model": a.model, "pairs": str(a.pairs), **summary}
    save_results(a, summary, rows, write_dnsmos_csv)
    print(format_dnsmos(summary))
    if summary["failed"]:
        sys.exit(1)


def check_result_outputs(a: argparse.Namespace) -> None:
    """--json/--csv: not an input, not an existing file without --overwrite, not one path for
    both, and writable; raises OutputError before any work."""
    from .files import OutputError, check_output

    inputs = [a.pairs, a.model, Path(a.pairs) / "manifest.csv"]
    outs = [p for p in (a.json, a.csv) if p]
    if len(outs) == 2 and Path(outs[0]).absolute() == Path(outs[1]).absolute():
        raise OutputError(f"{outs[0]}: given for both --json and --csv")
    for p in outs:
        check_output(p, inputs, getattr(a, "overwrite", False))


def save_results(a: argparse.Namespace, summary: dict, rows: list, write_csv) -> None:
    """Write --json and --csv atomically. Results are never lost to a failed write: if one
    fails (disk full, permissions changed meanwhile), both go to the temporary folder and the
    error names where."""
    import tempfile

    from .files import write_text

    try:
        if a.json:
            write_text(a.json, json.dumps(summary, indent=1))
        if a.csv:
            write_csv(rows, a.csv)
    except OSError as e:
        keep = Path(tempfile.mkdtemp(prefix="secomp-results-"))
        write_text(keep / "summary.json", json.dumps(summary, indent=1))
        write_csv(rows, keep / "rows.csv")
        raise OSError(f"could not write the results ({error_line(e)}); saved in {keep}") from None


def _evaluate_separation(a: argparse.Namespace, model, device: str) -> None:
    from .separate import evaluate_separation, format_summary, read_mixtures, write_rows_csv

    if model is None:
        raise ValueError("a separation manifest needs a separation model, not 'identity'")
    mixtures = read_mixtures(a.pairs)
    summary, rows = evaluate_separation(model, mixtures, a.jobs, not a.quiet, device)
    summary = {"model": a.model, "pairs": str(a.pairs), **summary}
    save_results(a, summary, rows, write_rows_csv)
    print(format_summary(summary))


def cmd_separate(a: argparse.Namespace) -> None:
    from tqdm import tqdm

    from .audio import AudioError, list_audio
    from .separate import check_separation_model, output_paths, separate_file

    device = _device(a.device)
    model = _load(a.model, device)
    if model is None:
        raise ValueError("separate needs a separation model, not 'identity'")
    check_separation_model(model, a.model)
    set_threads(a.threads)
    out = Path(a.output)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out}: exists and is not a folder (-o takes a folder)")
    jobs = []  # (input, output stem: <stem>_s1.wav and <stem>_s2.wav are written)
    for inp in map(Path, a.inputs):
        if inp.is_dir():
            jobs += [(f, out / f.relative_to(inp).with_suffix("")) for f in list_audio(inp)]
        elif inp.exists():
            jobs.append((inp, out / inp.stem))
        else:
            raise FileNotFoundError(f"{inp}: not found")
    stems = {}
    for src, stem in jobs:
        if stem in stems:
            raise FileExistsError(f"{src} and {stems[stem]} would both write {stem}_s1.wav")
        stems[stem] = src
    n_bad = 0
    for src, stem in tqdm(jobs, desc="separate", disable=a.quiet):
        if src.resolve() in {p.resolve() for p in output_paths(stem)}:
            raise FileExistsError(f"{src}: output would overwrite its input")
        try:
            separate_file(
                model, src, stem, a.chunk_s, device=device, downmix=a.downmix,
                overwrite=a.overwrite,
            )
        except AudioError as e:
            print(f"skipped: {e}", file=sys.stderr)
            n_bad += 1
    print(
        f"separated {len(jobs) - n_bad} file(s) into {out} (<name>_s1.wav, <name>_s2.wav)"
        + (f"; {n_bad} skipped" if n_bad else "")
    )
    if n_bad:
        sys.exit(1)


def default_threads() -> int:
    """Threads for inference: the cores this process may use, less those other processes keep
    busy (1-minute load average), at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    try:
        busy = int(os.getloadavg()[0] + 0.5)
    except OSError:
        busy = 0
    return max(1, min(cores, cores - busy))


def set_threads(threads: int | None) -> int:
    """torch's intra-op threads for --threads (0 or None: `default_threads()`)."""
    import torch

    n = threads or default_threads()
    torch.set_num_threads(n)
    return n


def cmd_enhance(a: argparse.Namespace) -> None:
    from .audio import AUDIO_SUFFIXES, list_audio, load_audio, save_audio
    from .enhance import enhance_file
    from .files import plan_outputs, run_batch

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
    # every output is checked (collisions, inputs, existing, permissions) before any work
    todo, n_skipped = plan_outputs(jobs, a.overwrite, a.skip_existing)
    set_threads(a.threads)
    device = _device(a.device)
    model = _load(a.model, device)

    def one(src: Path, dst: Path) -> None:
        if model is None:
            save_audio(dst, load_audio(src, downmix=a.downmix), overwrite=a.overwrite)
        elif a.stream:
            from .stream import stream_file

            block = max(1, round(a.block_ms * 16))  # 16 samples per ms at 16 kHz
            # the streamer runs on the CPU (one small frame per call)
            stream_file(model.cpu(), src, dst, block, downmix=a.downmix, overwrite=a.overwrite)
        else:
            enhance_file(
                model, src, dst, chunk_s=a.chunk_s, device=device, downmix=a.downmix,
                overwrite=a.overwrite, progress=not a.quiet,
            )

    result = run_batch(todo, one, desc="enhance", progress=not a.quiet)
    print(result.summary("enhanced", str(out), n_skipped))
    if result.failed:
        sys.exit(1)


def cmd_info(a: argparse.Namespace) -> None:
    from .info import format_info, model_info

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
    from .models import check_hparams

    check_hparams(cfg.model, cfg.hparams, a.config or "train config")
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
        from .files import write_bytes

        write_bytes(out / "model.safetensors", (out / "best.safetensors").read_bytes())
        print(
            f"step {summary['step']}, best valid loss {summary['best_valid_loss']:.5g}, "
            f"{summary['time_s']:.0f} s; model: {out / 'model.safetensors'}"
        )


def cmd_bn_recalibrate(a: argparse.Namespace) -> None:
    import torch

    from .config import load_config
    from .files import check_output
    from .io.modelio import load_model, resolve, save_model
    from .train import TrainConfig, prepare_data, recalibrate_batchnorm

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
    from .files import OutputError, check_output
    from .io.modelio import load_model, resolve
    from .io.onnx import export_onnx, export_onnx_streaming, onnx_parity, streaming_parity

    if Path(a.onnx).suffix.lower() != ".onnx":
        raise OutputError(f"{a.onnx}: --onnx must end in .onnx")
    check_output(a.onnx, [resolve(a.model)], a.overwrite)
    import onnx  # noqa: F401  (fail on the missing extra before the export's work)
    import onnxruntime  # noqa: F401

    model = load_model(a.model)
    if a.streaming:
        try:
            path = export_onnx_streaming(model, a.onnx)
        except TypeError as e:
            sys.exit(f"secomp export: {e}")
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


def cmd_stream_bench(a: argparse.Namespace) -> None:
    import torch

    from .io.modelio import load_model
    from .stream import algorithmic_latency_ms, measure_latency

    if a.seconds <= 0 or a.block_ms <= 0 or a.threads < 1:
        raise ValueError("--seconds, --block-ms and --threads must be positive")
    torch.set_num_threads(a.threads)
    model = load_model(a.model)
    r = measure_latency(model, a.seconds, max(1, round(a.block_ms * 16)))
    r = {"model": a.model, "threads": a.threads, "algorithmic_ms": algorithmic_latency_ms(), **r}
    if a.json:
        print(json.dumps(r, indent=1))
        return
    print(
        f"{a.model}: {r['blocks']} blocks of {r['block_ms']:g} ms on {a.threads} thread(s): "
        f"median {r['median_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms, worst {r['worst_ms']:.3f} ms "
        f"(real-time factor {r['mean_ms'] / r['block_ms']:.3f}); CPU time median "
        f"{r['cpu_median_ms']:.3f} ms, p99 {r['cpu_p99_ms']:.3f} ms; algorithmic latency "
        f"{r['algorithmic_ms']:g} ms"
    )


def cmd_slim(a: argparse.Namespace) -> None:
    import torch

    from .audio import load_audio
    from .compress.groups import prunable_tensors
    from .files import check_output
    from .io.format import save_artifact
    from .io.modelio import load_model, resolve, save_model
    from .structure.macs import count_macs
    from .structure.slim import slim_model

    inputs = [resolve(a.model)] + ([a.audio] if a.audio else [])
    out = check_output(a.output, inputs, a.overwrite)
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
    from . import __version__

    p = argparse.ArgumentParser(prog="secomp", description=__doc__)
    p.add_argument("--version", action="version", version=f"secomp {__version__}")
    p.add_argument(
        "--debug", action="store_true", help="show the full traceback of an error (any position)"
    )
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(s: argparse.ArgumentParser) -> None:
        s.add_argument("--quiet", action="store_true", help="no progress bars")

    def overwrite_options(s: argparse.ArgumentParser, batch: bool = False) -> None:
        s.add_argument(
            "--overwrite", action="store_true", help="replace existing outputs (never an input)"
        )
        if batch:
            s.add_argument(
                "--skip-existing", action="store_true",
                help="leave outputs that exist already and do only the missing ones",
            )

    def threads_option(s: argparse.ArgumentParser) -> None:
        s.add_argument(
            "--threads", type=int, default=0,
            help="inference threads (default: the cores not kept busy by other processes)",
        )

    s = sub.add_parser("make-testset", help="write noisy/clean test pairs and a manifest")
    s.add_argument("--speech", required=True, help="speech folder (speech/<split> of a corpus)")
    s.add_argument("--noise", default=None, help="noise folder (not with --separation)")
    s.add_argument(
        "--separation", action="store_true",
        help="two-talker mixtures <id>_mix/_s1/_s2.flac instead of noisy/clean pairs",
    )
    s.add_argument(
        "--level-db", type=float, nargs=2, default=[-2.5, 2.5], metavar=("LO", "HI"),
        help="with --separation: level of talker 2 relative to talker 1, uniform in dB",
    )
    s.add_argument(
        "--snr", type=float, nargs="+", default=[-5.0, 0.0, 5.0], help="SNRs in dB (cycled)"
    )
    s.add_argument("--n", type=int, default=150, help="number of mixtures")
    s.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
    s.add_argument("--babble", default=None, help="speech folder to build babble noise from")
    s.add_argument(
        "--babble-share", type=float, default=None,
        help="fraction of mixtures with babble noise (default: babble is one more noise name)",
    )
    s.add_argument(
        "--corpus-share", nargs="+", default=None, metavar="CORPUS=FRACTION",
        help="fixed share of mixtures per corpus within every SNR (corpus column of speech.csv)",
    )
    s.add_argument("--out", required=True, help="output folder (must be empty or new)")
    overwrite_options(s)
    common(s)
    s.set_defaults(fn=cmd_make_testset)

    s = sub.add_parser("evaluate", help="metrics of noisy input and enhanced output")
    s.add_argument("model", help="model file, bundled name (demo) or 'identity'")
    s.add_argument("--pairs", required=True, help="folder of pairs or manifest.csv")
    s.add_argument("--json", help="write the summary (means, 95%% intervals, failures) here")
    s.add_argument("--csv", help="write one row of metrics per file here")
    s.add_argument(
        "--dnsmos", action="store_true",
        help="no clean reference: DNSMOS P.835 SIG/BAK/OVRL of each recording in --pairs (a "
        "folder of audio or a manifest) before and after enhancement (extra 'dnsmos')",
    )
    overwrite_options(s)
    s.add_argument("--jobs", type=int, default=None, help="metric processes (default: all cores)")
    threads_option(s)
    s.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if present)")
    common(s)
    s.set_defaults(fn=cmd_evaluate)

    s = sub.add_parser("enhance", help="enhance files or folders")
    s.add_argument("model", help="model file (.safetensors/.secomp), bundled name or 'identity'")
    s.add_argument("inputs", nargs="+", help="audio files and/or folders (searched recursively)")
    s.add_argument(
        "-o", "--output", required=True,
        help="output folder (FLAC files, folder layout kept), or a file name for one input",
    )
    overwrite_options(s, batch=True)
    s.add_argument("--downmix", action="store_true", help="average multi-channel input")
    s.add_argument("--chunk-s", type=float, default=60.0, help="chunk length for long audio")
    s.add_argument(
        "--stream", action="store_true",
        help="run block by block as live (secomp.stream: causal level normaliser, CPU)",
    )
    s.add_argument("--block-ms", type=float, default=10.0, help="--stream block length (ms)")
    threads_option(s)
    s.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if present)")
    common(s)
    s.set_defaults(fn=cmd_enhance)

    s = sub.add_parser("separate", help="split two-talker recordings into one file per talker")
    s.add_argument("model", help="separation model file")
    s.add_argument("inputs", nargs="+", help="audio files and/or folders (searched recursively)")
    s.add_argument("-o", "--output", required=True, help="output folder")
    s.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    s.add_argument("--downmix", action="store_true", help="average multi-channel input")
    s.add_argument("--chunk-s", type=float, default=60.0, help="chunk length for long audio")
    s.add_argument(
        "--threads", type=int, default=0,
        help="inference threads (default: the cores not kept busy by other processes)",
    )
    s.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if present)")
    common(s)
    s.set_defaults(fn=cmd_separate)

    s = sub.add_parser("info", help="architecture, parameters, sizes")
    s.add_argument("model", help="model file (.safetensors/.secomp) or bundled name")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.set_defaults(fn=cmd_info)

    s = sub.add_parser("train", help="train an enhancement model")
    s.add_argument("--model", default=None, help="architecture: crn, gcrn, lstm, tcnn, ...")
    s.add_argument("--data", required=True, help="corpus root (speech/<split>/<spk>/, noise/)")
    s.add_argument("--out", required=True, help="run folder (checkpoints, log, model)")
    s.add_argument("--config", default=None, help="training config YAML")
    s.add_argument("--resume", action="store_true", help="continue the run in --out")
    s.add_argument("overrides", nargs="*", help="key=value config overrides")
    common(s)
    s.set_defaults(fn=cmd_train)

    s = sub.add_parser("slim", help="remove pruned units: a smaller dense model, same output")
    s.add_argument("model", help="pruned model file (.secomp/.safetensors)")
    s.add_argument("-o", "--output", required=True, help="output .secomp or .safetensors")
    s.add_argument("--audio", default=None, help="audio for the parity check (default: demo)")
    s.add_argument("--tolerance", type=float, default=1e-5, help="max |output diff| allowed")
    overwrite_options(s)
    s.set_defaults(fn=cmd_slim)

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

    s = sub.add_parser("export", help="export the network to ONNX (checked with onnxruntime)")
    s.add_argument("model", help="model file (.safetensors/.secomp) or bundled name")
    s.add_argument("--onnx", required=True, help="output .onnx path")
    overwrite_options(s)
    s.add_argument(
        "--streaming",
        action="store_true",
        help="one hop's frame per call, the model's state as inputs/outputs (docs/format.md)",
    )
    s.set_defaults(fn=cmd_export)

    s = sub.add_parser(
        "stream-bench", help="per-block compute time of the streaming engine on one thread"
    )
    s.add_argument("model", help="model file (.safetensors/.secomp) or bundled name")
    s.add_argument("--seconds", type=float, default=60.0, help="audio streamed (timed part)")
    s.add_argument("--block-ms", type=float, default=10.0, help="block length (10 ms = one hop)")
    s.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(fn=cmd_stream_bench)

    from .compress.cli import add_compress_commands
    from .compress.demo import add_demo_command  # demo uses compress.cli, not the reverse

    add_compress_commands(sub, common)
    add_demo_command(sub, common)
    return p


# Optional dependencies: the import name -> the extra that installs it.
EXTRAS = {"onnx": "onnx", "onnxruntime": "onnx", "onnxscript": "onnx", "speechmos": "dnsmos"}


def error_line(e: BaseException) -> str:
    """One line for an exception a user's mistake caused: its message (first line), with the
    type when the message alone does not say what happened, and the extra to install for a
    missing optional dependency."""
    if isinstance(e, ImportError) and getattr(e, "name", None):
        top = e.name.split(".")[0]
        if top in EXTRAS:
            return f"needs '{top}': pip install 'secomp[{EXTRAS[top]}]'"
        return f"needs the Python package '{top}' ({e})"
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        return f"{e.filename}: {e.strerror}"
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    if isinstance(e, KeyError) and msg:
        msg = f"missing key {msg}"
    known = (ValueError, OSError, KeyError)
    return msg if msg and isinstance(e, known) else f"{type(e).__name__}: {msg}".rstrip(": ")


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    # --debug may stand anywhere on the line (it is no subcommand's option)
    debug = "--debug" in argv or bool(os.environ.get("SECOMP_DEBUG"))
    argv = [x for x in argv if x != "--debug"]
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
    try:
        args.fn(args)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"secomp {args.cmd}: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as e:
        if debug:
            raise
        # an error of a type no check foresaw may be a bug: say how to see where it came from
        hint = "" if isinstance(e, ValueError | OSError | KeyError | ImportError) else (
            " (--debug shows the traceback)"
        )
        print(f"secomp {args.cmd}: error: {error_line(e)}{hint}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
