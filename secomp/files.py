"""Writing files without losing anything: the one atomic-write helper, the checks every command
runs on its outputs before it starts working, and the loop that runs a batch over many files
so that one bad file costs only itself.

- `atomic_write(path)`: the caller writes to a temporary name beside `path`; on success it is
  flushed to disk and renamed over `path`, on any failure removed. A killed job leaves either
  the old file or the new one, never a torn one.
- `check_output(path, inputs, overwrite)`: an output never replaces one of the command's inputs
  (not even with `--overwrite`), replaces an existing file only with `--overwrite`, and must lie
  in a writable folder. Commands call it before computing anything.
- `check_collisions(jobs)`: two inputs that would write the same output are an error naming
  both, before any work.
- `run_batch(jobs, fn)`: runs `fn` on every (input, output) pair; a file that fails with a
  data error is reported on one line and the rest go on.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class OutputError(ValueError):
    """An output that must not or cannot be written; the message names it and says why."""


@contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write to; on success fsync it and rename it over
    `path` (creating the folder), on failure remove it. Works with any writer that takes a file
    name (soundfile, safetensors, torch.save, ONNX export) as well as with `open`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    # the rename itself is durable only once the folder's entry is on disk
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """`data` into `path` atomically."""
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """`text` (UTF-8) into `path` atomically."""
    return write_bytes(path, text.encode())


def _existing_parent(path: Path) -> Path:
    p = path.absolute().parent
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_writable(path: str | Path) -> None:
    """Raise OutputError unless a file `path` can be created: the nearest existing folder
    above it is a folder we may write into (folders below it are created on writing)."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder, expected a file name")
    parent = _existing_parent(path)
    if not parent.is_dir():
        raise OutputError(f"{path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: no permission to write in {parent}")


def check_writable_dir(folder: str | Path) -> None:
    """Raise OutputError unless files can be created in `folder` (existing or not)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: exists and is not a folder")
    target = folder if folder.exists() else _existing_parent(folder / "x")
    if not target.is_dir():
        raise OutputError(f"{folder}: {target} is not a folder")
    if not os.access(target, os.W_OK | os.X_OK):
        raise OutputError(f"{folder}: no permission to write in {target}")


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file (through links, `..`, case-insensitive file systems)."""
    a, b = Path(a), Path(b)
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def check_output(
    path: str | Path, inputs: Iterable[str | Path] = (), overwrite: bool = False
) -> Path:
    """Raise OutputError if writing `path` would replace an input, an existing file without
    `overwrite`, or cannot be done for permissions. Returns `path` as a Path."""
    path = Path(path)
    for inp in inputs:
        if same_file(path, inp) or path.absolute() == Path(inp).absolute():
            raise OutputError(f"{path}: is also an input; refusing to write over it")
    if path.exists() and not overwrite:
        raise OutputError(f"{path}: exists; refusing to overwrite (use --overwrite)")
    check_writable(path)
    return path


def check_collisions(jobs: Sequence[tuple[Path, Path]]) -> None:
    """Raise OutputError if two inputs map to one output (e.g. x.wav and x.flac -> x.flac)."""
    seen: dict[Path, Path] = {}
    for src, dst in jobs:
        key = dst.absolute()
        if key in seen and not same_file(seen[key], src):
            raise OutputError(f"{seen[key]} and {src} would both be written to {dst}")
        seen[key] = src


def plan_outputs(
    jobs: list[tuple[Path, Path]], overwrite: bool = False, skip_existing: bool = False
) -> tuple[list[tuple[Path, Path]], int]:
    """Check a batch's outputs before any work: no collisions, no output over an input, and
    existing outputs only with `overwrite` (replaced) or `skip_existing` (left, not redone).
    Returns (jobs to run, number skipped)."""
    check_collisions(jobs)
    inputs = {src.absolute() for src, _ in jobs}
    for src, dst in jobs:
        if dst.absolute() in inputs or same_file(src, dst):
            raise OutputError(f"{dst}: is also an input; refusing to write over it")
    existing = [dst for _, dst in jobs if dst.exists()]
    if existing and not (overwrite or skip_existing):
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise OutputError(
            f"{existing[0]}{more}: exists; refusing to overwrite "
            "(use --overwrite to replace, --skip-existing to keep)"
        )
    todo = [(s, d) for s, d in jobs if overwrite or not d.exists()]
    for folder in sorted({d.parent for _, d in todo}):
        check_writable_dir(folder)
    return todo, len(jobs) - len(todo)


@dataclass
class BatchResult:
    """What `run_batch` did: files done and (file, reason) for each that failed."""

    done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)

    def summary(self, verb: str, where: str, skipped: int = 0) -> str:
        """One line: '<verb> N file(s) into WHERE; K skipped (exist); F failed'."""
        line = f"{verb} {self.done} file(s) into {where}"
        if skipped:
            line += f"; {skipped} skipped (exist already)"
        if self.failed:
            line += f"; {len(self.failed)} failed"
        return line


def run_batch(
    jobs: Sequence[tuple[Path, Path]],
    fn: Callable[[Path, Path], Any],
    errors: tuple[type[BaseException], ...] = (ValueError, OSError, RuntimeError),
    desc: str = "files",
    progress: bool = True,
) -> BatchResult:
    """Run `fn(src, dst)` on every job. A job that raises one of `errors` (bad audio, an
    unreadable file, a decoder error) is reported on stderr as 'failed: SRC: reason' and the
    batch goes on; anything else (a bug, Ctrl-C) stops it. The caller prints
    `result.summary(...)` and exits non-zero if `result.failed`."""
    from tqdm import tqdm

    result = BatchResult()
    for src, dst in tqdm(jobs, desc=desc, disable=not progress, unit="file"):
        try:
            fn(src, dst)
        except errors as e:
            reason = str(e) if str(src) in str(e) else f"{src}: {e}"
            result.failed.append((str(src), reason))
            print(f"failed: {reason}", file=sys.stderr)
            continue
        result.done += 1
    return result
