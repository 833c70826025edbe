"""`secomp make-testset` and `secomp evaluate` (metrics with a reference, DNSMOS without one,
separation manifests)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import (
    device_name,
    error_line,
    load_or_identity,
    overwrite_options,
    prepare_output_folder,
    quiet_option,
    set_threads,
    threads_option,
)


def cmd_make_testset(a: argparse.Namespace) -> None:
    from ..data import make_testset

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
        from ..separate import make_separation_testset

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


def cmd_evaluate(a: argparse.Namespace) -> None:
    from ..data import read_pairs
    from ..evaluate import evaluate, format_summary, write_rows_csv
    from ..separate import is_separation_manifest

    check_result_outputs(a)  # before hours of metrics, not after
    set_threads(a.threads)
    device = device_name(a.device)
    model = load_or_identity(a.model, device)
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
    from ..audio import list_audio
    from ..data import read_pairs
    from ..evaluate import evaluate_dnsmos, format_dnsmos, write_dnsmos_csv

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
    from ..files import OutputError, check_output

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

    from ..files import write_text

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
    from ..separate import evaluate_separation, format_summary, read_mixtures, write_rows_csv

    if model is None:
        raise ValueError("a separation manifest needs a separation model, not 'identity'")
    mixtures = read_mixtures(a.pairs)
    summary, rows = evaluate_separation(model, mixtures, a.jobs, not a.quiet, device)
    summary = {"model": a.model, "pairs": str(a.pairs), **summary}
    save_results(a, summary, rows, write_rows_csv)
    print(format_summary(summary))


def add_make_testset(sub) -> None:
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
    quiet_option(s)
    s.set_defaults(fn=cmd_make_testset)


def add_evaluate(sub) -> None:
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
    quiet_option(s)
    s.set_defaults(fn=cmd_evaluate)
