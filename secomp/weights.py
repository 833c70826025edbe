"""Published weights: trained model files kept in git history, not in the working tree.

The working tree travels to the GPU machine and must stay small, so a chosen baseline is
published as two commits: one adds `weights/<name>.safetensors` (fp16, the model's secomp
metadata kept) with its entry in `weights/INDEX.json`, the next removes the file again and
writes the adding commit's hash into the entry. A fresh clone restores it from history into
`checkpoints/<name>/model.safetensors` (fp32) after checking its sha256.

`weights/INDEX.json` maps name -> entry: path, sha256, bytes, dtype, arch, hparams, training
config (path, sha256, YAML text), valid scores, note, date and commit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from safetensors.torch import save as save_bytes

from .io.modelio import ModelFileError, load_model, read_config

WEIGHTS_DIR = "weights"
INDEX_PATH = f"{WEIGHTS_DIR}/INDEX.json"
# The host refuses pushes much above this; a file added and removed again counts twice.
PUSH_LIMIT_BYTES = 200_000_000
FP16_MAX = torch.finfo(torch.float16).max
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# Top-level keys of a `secomp evaluate --json` result worth keeping in the index (the per-SNR
# and per-file parts stay in the JSON file itself).
VALID_KEYS = ("pairs", "n", "noisy", "enhanced", "improvement")


class WeightsError(ValueError):
    """A refusal or failure, as one line that names the entry or file."""


def git(root: Path, *args: str) -> str:
    """Run `git -C root ARGS`; returns its stdout. Retries while another
    process holds .git/index.lock, since several people commit in one working tree."""
    for attempt in range(20):
        proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True)
        err = proc.stderr.decode(errors="replace").strip()
        if proc.returncode == 0:
            return proc.stdout.decode()
        if "index.lock" in err and attempt < 19:
            time.sleep(1.0)
            continue
        last = err.splitlines()[-1] if err else f"exit status {proc.returncode}"
        raise WeightsError(f"git {' '.join(args[:2])}: {last}")
    raise AssertionError("unreachable")


def repo_root(start: str | Path = ".") -> Path:
    try:
        return Path(git(Path(start), "rev-parse", "--show-toplevel").strip())
    except WeightsError:
        raise WeightsError(f"{Path(start).resolve()}: not inside a git repository") from None


def read_index(root: Path) -> dict[str, dict[str, Any]]:
    path = root / INDEX_PATH
    if not path.exists():
        return {}
    try:
        index = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise WeightsError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(index, dict):
        raise WeightsError(f"{path}: expected an object mapping name -> entry")
    return index


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder, fsync, rename, fsync the folder: a crash
    leaves either the old file or the new one, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_index(root: Path, index: dict[str, dict[str, Any]]) -> None:
    text = json.dumps(index, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    write_atomic(root / INDEX_PATH, text.encode())


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise WeightsError(f"'{name}': a weights name is letters, digits, '.', '_' or '-'")
    return name


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_model_file(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str], dict[str, Any]]:
    """(state, safetensors metadata, secomp model config) of a registered-model file."""
    if not path.is_file():
        raise WeightsError(f"{path}: no such model file")
    if path.suffix != ".safetensors":
        raise WeightsError(f"{path}: publish takes a .safetensors model file (secomp train output)")
    try:
        cfg = read_config(path)
        if cfg.get("arch") is None:
            raise WeightsError(f"{path}: holds an unregistered model ({cfg.get('class')})")
        with safe_open(str(path), "pt") as f:
            meta = dict(f.metadata() or {})
        state = load_file(str(path))
    except (ModelFileError, SafetensorError, OSError) as e:
        raise WeightsError(str(e).splitlines()[0]) from None
    return state, meta, cfg


def to_fp16(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Floating tensors as fp16, except those holding a finite value beyond fp16's range
    (65504), which stay fp32 rather than become inf; integer tensors unchanged.
    Returns (state, names kept fp32)."""
    out: dict[str, torch.Tensor] = {}
    kept: list[str] = []
    for k, v in state.items():
        if v.is_floating_point():
            if v.numel() and bool((v.float().abs() > FP16_MAX).logical_and(v.isfinite()).any()):
                out[k] = v.float().contiguous()
                kept.append(k)
            else:
                out[k] = v.half().contiguous()
        else:
            out[k] = v.contiguous()
    return out, kept


def to_fp32(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in state.items()}


def summarize_valid(path: Path) -> dict[str, Any]:
    """Scores from a JSON file: a `secomp evaluate --json` result keeps its overall numbers
    (VALID_KEYS); any other JSON object is kept whole."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise WeightsError(f"{path}: not a readable JSON file ({e})") from None
    if not isinstance(data, dict):
        raise WeightsError(f"{path}: expected a JSON object of scores")
    if "enhanced" in data:
        data = {k: data[k] for k in VALID_KEYS if k in data}
    return {"file": str(path), **data}


def rel_to(root: Path, path: Path) -> str:
    """`path` relative to the repository root when inside it (what a fresh clone can find)."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def remote_refs(root: Path) -> list[str]:
    out = git(root, "for-each-ref", "--format=%(refname)", "refs/remotes")
    return [r for r in out.split() if not r.endswith("/HEAD")]


def is_ancestor(root: Path, commit: str, ref: str) -> bool:
    cmd = ["git", "-C", str(root), "merge-base", "--is-ancestor", commit, ref]
    return subprocess.run(cmd, capture_output=True).returncode == 0


def unpushed_bytes(
    root: Path, index: dict[str, dict[str, Any]], pushed: Sequence[str] | None = None
) -> int:
    """Added+removed bytes of published entries that the next push would carry: those whose
    commit no ref in `pushed` (default: the remote-tracking branches) contains. Without
    remotes every entry counts, since what was pushed cannot be known."""
    refs = list(pushed) if pushed else remote_refs(root)
    return sum(
        2 * int(e["bytes"])
        for e in index.values()
        if not e.get("commit") or not any(is_ancestor(root, e["commit"], r) for r in refs)
    )


def publish(
    root: Path,
    name: str,
    model: Path,
    config: Path | None = None,
    valid_json: Path | None = None,
    note: str = "",
    dry_run: bool = False,
    force: bool = False,
    replace: bool = False,
    limit_bytes: int = PUSH_LIMIT_BYTES,
    pushed: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Write weights/<name>.safetensors (fp16) and its INDEX.json entry (commit null; `seal`
    commits both). Refuses an existing name unless `replace`, and more than `limit_bytes`
    of added+removed bytes pending for the next push unless `force` (`pushed`: refs already
    pushed, see unpushed_bytes). Returns the entry."""
    check_name(name)
    index = read_index(root)
    if name in index and not replace:
        raise WeightsError(f"weights '{name}' already in {INDEX_PATH} (--replace to publish anew)")
    rel = f"{WEIGHTS_DIR}/{name}.safetensors"
    state, meta, cfg = read_model_file(model)
    state16, kept32 = to_fp16(state)
    meta = {**meta, "secomp_weights": json.dumps({"name": name, "dtype": "float16"})}
    blob = save_bytes(state16, metadata=meta)
    # A replaced entry's unpushed file is still in history, so it counts too.
    pending = 2 * len(blob) + unpushed_bytes(root, index, pushed)
    if pending > limit_bytes and not force:
        raise WeightsError(
            f"weights '{name}': the next push would carry {pending / 1e6:.1f} MB added+removed "
            f"(limit {limit_bytes / 1e6:.0f} MB); push what is published first, "
            "then --pushed HEAD (or --force)"
        )
    entry: dict[str, Any] = {
        "name": name,
        "path": rel,
        "sha256": hashlib.sha256(blob).hexdigest(),
        "bytes": len(blob),
        "dtype": "float16",
        "fp32_tensors": kept32,
        "params": sum(v.numel() for v in state.values() if v.is_floating_point()),
        "arch": cfg["arch"],
        "hparams": cfg.get("hparams", {}),
        "source": {"path": rel_to(root, model), "sha256": sha256_file(model)},
        "config": None,
        "valid": summarize_valid(valid_json) if valid_json else None,
        "note": note,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": None,
    }
    if config is not None:
        try:
            text = config.read_text()
        except OSError as e:
            raise WeightsError(f"{config}: cannot read the training config ({e})") from None
        entry["config"] = {
            "path": rel_to(root, config),
            "sha256": hashlib.sha256(text.encode()).hexdigest(),
            "text": text,
        }
    if dry_run:
        return entry
    write_atomic(root / rel, blob)
    try:
        load_model(root / rel)
    except ModelFileError as e:
        (root / rel).unlink()
        raise WeightsError(f"weights '{name}': the fp16 file does not load ({e})") from None
    write_index(root, {**index, name: entry})
    return entry


def seal(root: Path, name: str) -> str:
    """The two commits of a publication: add weights/<name>.safetensors + INDEX.json, then
    remove the file and record the adding commit in the entry. Only weights/ paths are staged
    and committed. Returns the adding commit."""
    index = read_index(root)
    if name not in index:
        raise WeightsError(f"weights '{name}': not in {INDEX_PATH} (publish it first)")
    entry = index[name]
    rel = entry["path"]
    if entry.get("commit"):
        raise WeightsError(f"weights '{name}': already sealed in commit {entry['commit'][:12]}")
    if not (root / rel).is_file():
        raise WeightsError(f"weights '{name}': {rel} is missing (publish it again)")
    if sha256_file(root / rel) != entry["sha256"]:
        raise WeightsError(f"weights '{name}': {rel} does not match its sha256 in {INDEX_PATH}")
    size = f"{entry['bytes'] / 1e6:.1f} MB"
    # Both paths already committed as they are: a seal interrupted after its first commit.
    if git(root, "status", "--porcelain", "--", rel, INDEX_PATH).strip():
        git(root, "add", "--", rel, INDEX_PATH)
        git(
            root,
            "commit",
            "-q",
            "-m",
            f"weights: publish {name} ({entry['arch']}, fp16, {size}, "
            f"sha256 {entry['sha256'][:12]})",
            "--",
            rel,
            INDEX_PATH,
        )
    # Not HEAD: another person may commit in this working tree between the two commands.
    commit = git(root, "log", "-1", "--format=%H", "--diff-filter=A", "--", rel).strip()
    if not commit or history_sha256(root, commit, rel) != entry["sha256"]:
        raise WeightsError(f"weights '{name}': the added file is not in history as published")
    git(root, "rm", "-q", "--", rel)
    write_index(root, {**index, name: {**entry, "commit": commit}})
    git(root, "add", "--", INDEX_PATH)
    git(
        root,
        "commit",
        "-q",
        "-m",
        f"weights: {name} lives in history at {commit[:12]}; file removed from the working tree",
        "--",
        rel,
        INDEX_PATH,
    )
    return commit


def history_sha256(root: Path, commit: str, rel: str, copy_to: Path | None = None) -> str:
    """sha256 of the blob `commit:rel`, streamed from git (optionally copied to `copy_to`)."""
    h = hashlib.sha256()
    proc = subprocess.Popen(
        ["git", "-C", str(root), "cat-file", "blob", f"{commit}:{rel}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    sink = open(copy_to, "wb") if copy_to else None
    try:
        for block in iter(lambda: proc.stdout.read(1 << 20), b""):
            h.update(block)
            if sink:
                sink.write(block)
    finally:
        if sink:
            sink.close()
        err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
        rc = proc.wait()
    if rc != 0:
        raise WeightsError(
            f"{commit[:12]}:{rel} is not in this clone's history "
            f"({err.splitlines()[-1] if err else rc}; a shallow clone needs git fetch --unshallow)"
        )
    return h.hexdigest()


def with_trained_loss(meta: dict[str, str], entry: dict[str, Any]) -> dict[str, str]:
    """The file's metadata with the `loss_power` of the entry's training config in its secomp
    config, where the file records none (weights published before `secomp train` wrote it), so
    that `secomp compress` fine-tunes a restored model on the loss it was trained with."""
    text = (entry.get("config") or {}).get("text")
    if not text or "secomp" not in meta:
        return meta
    try:
        cfg = json.loads(meta["secomp"])
        train = yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError):
        return meta
    if not isinstance(cfg, dict) or not isinstance(train, dict) or "loss_power" in cfg:
        return meta
    power = float(train.get("loss_power", 1.0))
    return {**meta, "secomp": json.dumps({**cfg, "loss_power": power})}


def restore(root: Path, names: Sequence[str] | None, out: Path) -> list[tuple[str, Path]]:
    """Restore entries (all when `names` is None) into out/<name>/model.safetensors as fp32,
    plus out/<name>/config.yaml when the entry records one. Every hash is checked before
    anything is written, so a mismatch writes nothing. Returns [(name, model path)]."""
    index = read_index(root)
    if names is None:
        names = sorted(index)
        if not names:
            raise WeightsError(f"{INDEX_PATH}: no published weights")
    known = ", ".join(sorted(index)) or "none"
    for n in names:
        if n not in index:
            raise WeightsError(f"weights '{n}': not in {INDEX_PATH} (published: {known})")
    with tempfile.TemporaryDirectory(prefix="secomp-weights-") as tmp:
        blobs: list[tuple[str, Path]] = []
        for n in names:
            e = index[n]
            blob = Path(tmp) / f"{check_name(n)}.safetensors"
            if e.get("commit"):
                try:
                    got = history_sha256(root, e["commit"], e["path"], copy_to=blob)
                except WeightsError as err:
                    raise WeightsError(f"weights '{n}': {err}") from None
            elif (root / e["path"]).is_file():  # published, not yet sealed
                shutil.copyfile(root / e["path"], blob)
                got = sha256_file(blob)
            else:
                raise WeightsError(f"weights '{n}': no commit recorded and {e['path']} is missing")
            if got != e["sha256"]:
                raise WeightsError(
                    f"weights '{n}': sha256 {got[:12]}... does not match {e['sha256'][:12]}... "
                    f"in {INDEX_PATH}; nothing restored"
                )
            blobs.append((n, blob))
        done = []
        for n, blob in blobs:
            e = index[n]
            with safe_open(str(blob), "pt") as f:
                meta = dict(f.metadata() or {})
            meta.pop("secomp_weights", None)
            meta = with_trained_loss(meta, e)
            meta["secomp_restored"] = json.dumps(
                {"name": n, "sha256": e["sha256"], "commit": e.get("commit")}
            )
            dst = out / n / "model.safetensors"
            write_atomic(dst, save_bytes(to_fp32(load_file(str(blob))), metadata=meta))
            if e.get("config"):
                write_atomic(out / n / "config.yaml", e["config"]["text"].encode())
            done.append((n, dst))
    return done


def valid_summary(valid: dict[str, Any] | None) -> str:
    """'PESQ +0.387 STOI +0.106 SI-SDR +10.44' from the entry's valid scores (gains over the
    noisy input when recorded, else the scores themselves)."""
    if not valid:
        return "-"
    scores = valid.get("improvement") or valid.get("enhanced") or valid
    parts = []
    for key, label, fmt in (
        ("pesq", "PESQ", "+.3f"),
        ("stoi", "STOI", "+.3f"),
        ("si_sdr", "SI-SDR", "+.2f"),
    ):
        if isinstance(scores.get(key), int | float):
            parts.append(f"{label} {format(scores[key], fmt)}")
    return " ".join(parts) or "-"


def list_table(index: dict[str, dict[str, Any]]) -> str:
    rows = [("name", "arch", "bytes", "sha256", "commit", "valid")]
    for n in sorted(index):
        e = index[n]
        rows.append(
            (
                n,
                str(e.get("arch", "?")),
                f"{int(e['bytes']):,}",
                e["sha256"][:12],
                (e.get("commit") or "(not sealed)")[:12],
                valid_summary(e.get("valid")),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    if len(rows) == 1:
        lines.append("(no published weights)")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="weights.py", description="Publish trained weights into git history; restore them."
    )
    p.add_argument("--repo", type=Path, default=Path("."), help="repository (default: the cwd's)")
    sub = p.add_subparsers(dest="cmd", required=True)
    pub = sub.add_parser("publish", help="fp16 copy into weights/ + INDEX.json entry")
    pub.add_argument("name")
    pub.add_argument("--model", type=Path, required=True, help="secomp .safetensors model file")
    pub.add_argument("--config", type=Path, help="the training config (YAML) behind it")
    pub.add_argument("--valid-json", type=Path, help="valid-split scores (secomp evaluate --json)")
    pub.add_argument("--note", default="")
    pub.add_argument("--commit", action="store_true", help="make the two commits (add, remove)")
    pub.add_argument("--dry-run", action="store_true", help="print the entry, write nothing")
    pub.add_argument("--force", action="store_true", help=f"allow > {PUSH_LIMIT_BYTES // 10**6} MB")
    pub.add_argument("--replace", action="store_true", help="publish over an existing name")
    pub.add_argument(
        "--pushed",
        action="append",
        metavar="REV",
        help="history up to REV is pushed (repeatable; default: the remote-tracking branches)",
    )
    sl = sub.add_parser("seal", help="the two commits for a publish made without --commit")
    sl.add_argument("name")
    rs = sub.add_parser("restore", help="history -> OUT/<name>/model.safetensors (fp32)")
    rs.add_argument("names", nargs="*")
    rs.add_argument("--all", action="store_true")
    rs.add_argument("--out", type=Path, default=Path("checkpoints"))
    sub.add_parser("list", help="table of the published weights")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        root = repo_root(args.repo)
        if args.cmd == "publish":
            entry = publish(
                root,
                args.name,
                args.model,
                args.config,
                args.valid_json,
                args.note,
                dry_run=args.dry_run,
                force=args.force,
                replace=args.replace,
                pushed=args.pushed,
            )
            shown = {**entry, "config": entry["config"] and {**entry["config"], "text": "..."}}
            if args.dry_run:
                print(json.dumps(shown, indent=2))
                print(f"dry run: would write {entry['path']} ({entry['bytes']:,} bytes)")
            elif args.commit:
                commit = seal(root, args.name)
                print(
                    f"published {args.name}: {entry['bytes']:,} bytes, sha256 "
                    f"{entry['sha256'][:12]}, in history at {commit[:12]}"
                )
            else:
                print(
                    f"wrote {entry['path']} and its {INDEX_PATH} entry (not committed); "
                    f"commit both with: python recipes/weights.py seal {args.name}"
                )
        elif args.cmd == "seal":
            print(f"sealed {args.name} at {seal(root, args.name)[:12]}")
        elif args.cmd == "restore":
            if bool(args.names) == args.all:
                raise WeightsError("restore takes NAME... or --all")
            for n, path in restore(root, None if args.all else args.names, args.out):
                print(f"restored {n} -> {path}")
        else:
            print(list_table(read_index(root)))
    except WeightsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
