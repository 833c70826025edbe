"""What several commands share: option helpers, the device and model to run, inference threads,
output checks, and the one-line error message of a failed command."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def quiet_option(s: argparse.ArgumentParser) -> None:
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


def device_name(name: str | None) -> str:
    import torch

    if name:
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_or_identity(name: str, device: str):
    from ..io.modelio import load_model

    return None if name == "identity" else load_model(name, device)


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


def prepare_output_folder(out: str | Path, inputs: list, overwrite: bool) -> None:
    """A folder a command fills: not one of (or inside) its input folders; if it already
    holds files, refused unless `overwrite`, and then the files its old manifest.csv names
    (and the manifest) are removed first, so no stale pairs stay behind."""
    import csv

    from ..files import OutputError, check_writable_dir

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
