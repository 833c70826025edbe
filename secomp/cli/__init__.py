"""The `secomp` command line: argument parsing only, each command a thin layer over a library
function (`python -m secomp.cli` or the `secomp` script).

    main.py       the parser (commands in --help order) and `main` (--debug, one-line errors)
    common.py     shared options, device/model/threads helpers, output checks, `error_line`
    evaluate.py   make-testset, evaluate
    enhance.py    enhance, separate, stream-bench
    model.py      info, slim, bn-recalibrate, export
    train.py      train
    compress.py   compress, demo
"""

from .common import default_threads, error_line, set_threads
from .main import build_parser, main

__all__ = ["build_parser", "default_threads", "error_line", "main", "set_threads"]
