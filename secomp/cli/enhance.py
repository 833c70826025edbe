"""`secomp enhance`, `secomp separate` and `secomp stream-bench`: run a model on audio."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import (
    device_name,
    load_or_identity,
    overwrite_options,
    quiet_option,
    set_threads,
    threads_option,
)


def cmd_enhance(a: argparse.Namespace) -> None:
    from ..audio import AUDIO_SUFFIXES, list_audio, load_audio, save_audio
    from ..enhance import enhance_file
    from ..files import plan_outputs, run_batch

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
    device = device_name(a.device)
    model = load_or_identity(a.model, device)

    def one(src: Path, dst: Path) -> None:
        if model is None:
            save_audio(dst, load_audio(src, downmix=a.downmix), overwrite=a.overwrite)
        elif a.stream:
            from ..stream import stream_file

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


def cmd_separate(a: argparse.Namespace) -> None:
    from tqdm import tqdm

    from ..audio import AudioError, list_audio
    from ..separate import check_separation_model, output_paths, separate_file

    device = device_name(a.device)
    model = load_or_identity(a.model, device)
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


def cmd_stream_bench(a: argparse.Namespace) -> None:
    import torch

    from ..io.modelio import load_model
    from ..stream import algorithmic_latency_ms, measure_latency

    if a.seconds <= 0 or a.block_ms <= 0 or a.threads < 1:
        raise ValueError("--seconds, --block-ms and --threads must be positive")
    torch.set_num_threads(a.threads)
    model = load_model(a.model)
    block = max(1, round(a.block_ms * 16))
    backend = "onnx-int8" if a.int8 else "onnx" if a.onnx else "torch"
    if backend == "torch":
        r = measure_latency(model, a.seconds, block)
    else:  # the network in onnxruntime (one thread), the rest of the streamer as always
        import tempfile

        from ..stream import OnnxStep

        with tempfile.TemporaryDirectory() as tmp:
            step = OnnxStep.export(model, Path(tmp) / "step.onnx", a.int8, a.threads)
            r = measure_latency(model, a.seconds, block, step=step)
    r = {
        "model": a.model,
        "backend": backend,
        "threads": a.threads,
        "algorithmic_ms": algorithmic_latency_ms(),
        **r,
    }
    if a.json:
        print(json.dumps(r, indent=1))
        return
    print(
        f"{a.model} ({backend}): {r['blocks']} blocks of {r['block_ms']:g} ms on "
        f"{a.threads} thread(s): "
        f"median {r['median_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms, worst {r['worst_ms']:.3f} ms "
        f"(real-time factor {r['mean_ms'] / r['block_ms']:.3f}); CPU time median "
        f"{r['cpu_median_ms']:.3f} ms, p99 {r['cpu_p99_ms']:.3f} ms; algorithmic latency "
        f"{r['algorithmic_ms']:g} ms"
    )


def add_enhance(sub) -> None:
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
    quiet_option(s)
    s.set_defaults(fn=cmd_enhance)


def add_separate(sub) -> None:
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
    quiet_option(s)
    s.set_defaults(fn=cmd_separate)


def add_stream_bench(sub) -> None:
    s = sub.add_parser(
        "stream-bench", help="per-block compute time of the streaming engine on one thread"
    )
    s.add_argument("model", help="model file (.safetensors/.secomp) or bundled name")
    s.add_argument("--seconds", type=float, default=60.0, help="audio streamed (timed part)")
    s.add_argument("--block-ms", type=float, default=10.0, help="block length (10 ms = one hop)")
    s.add_argument(
        "--threads", type=int, default=1, help="torch (and onnxruntime) threads (default 1)"
    )
    s.add_argument("--json", action="store_true", help="print JSON")
    s.add_argument(
        "--onnx", action="store_true", help="run the network as its streaming ONNX export"
    )
    s.add_argument(
        "--int8", action="store_true", help="as --onnx, dynamically quantized to int8"
    )
    s.set_defaults(fn=cmd_stream_bench)
