"""Split the training part of a corpus into tar shards small enough to carry to the GPU lease.

    python recipes/pack_corpus_shards.py --data ../shared/data --out .gpu/shards --limit-mb 44

The lease carries at most 64 MiB per call, working tree included, so the 140 MB of training
audio (speech/train, speech/valid, noise/train and the two manifests) travel over several calls
as shards s0.tar, s1.tar, ... (greedy by file, each under the limit; tar, no compression: Opus
and FLAC do not shrink). On the GPU machine `tar xf sK.tar -C DATA` for each one rebuilds the
corpus root. The same corpus gives the same shards.
"""

from __future__ import annotations

import argparse
import tarfile
from pathlib import Path

PARTS = ["speech/valid", "noise/train", "speech/train"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", required=True, help="corpus root")
    p.add_argument("--out", required=True, help="folder for s0.tar, s1.tar, ...")
    p.add_argument("--limit-mb", type=float, default=44.0, help="largest shard, MB")
    a = p.parse_args()
    root, out = Path(a.data), Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    files = [root / "speech.csv", root / "noise.csv"]
    for part in PARTS:
        files += sorted(f for f in (root / part).rglob("*") if f.is_file())
    limit = a.limit_mb * 1e6
    shards: list[list[Path]] = [[]]
    size = 0.0
    for f in files:
        n = f.stat().st_size + 1024  # tar header and padding
        if size + n > limit and shards[-1]:
            shards.append([])
            size = 0.0
        shards[-1].append(f)
        size += n
    for k, group in enumerate(shards):
        path = out / f"s{k}.tar"
        with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
            for f in group:
                info = tar.gettarinfo(str(f), arcname=str(f.relative_to(root)))
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                with open(f, "rb") as fh:
                    tar.addfile(info, fh)
        print(f"{path}: {len(group)} files, {path.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
