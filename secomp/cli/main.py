"""The `secomp` command line. Each subcommand is a thin layer over a library function."""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from . import compress, enhance, evaluate, model, train
from .common import error_line


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    p = argparse.ArgumentParser(prog="secomp", description=__doc__)
    p.add_argument("--version", action="version", version=f"secomp {__version__}")
    p.add_argument(
        "--debug", action="store_true", help="show the full traceback of an error (any position)"
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    # in the order `secomp --help` lists them
    evaluate.add_make_testset(sub)
    evaluate.add_evaluate(sub)
    enhance.add_enhance(sub)
    enhance.add_separate(sub)
    model.add_info(sub)
    train.add_train(sub)
    model.add_slim(sub)
    model.add_bn_recalibrate(sub)
    model.add_export(sub)
    enhance.add_stream_bench(sub)
    compress.add_compress(sub)
    compress.add_demo(sub)
    return p


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
