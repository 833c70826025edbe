"""Write the report, plots and summary.json of a compression run that stopped after it wrote
OUT/model.secomp: interrupted while writing its report (a lease's time limit), or refused by
the reader after the write (the single 256x bound on declared bytes of 2026-12-01, now two
bounds, secomp/io/format.py). Everything
comes from the run folder: OUT/model.secomp (the finished model, lossless), OUT/progress.json
(the rounds, as the run recorded them) and OUT/config.yaml (the run's merged config); the
fine-tuning data and the run's state are not needed. The summary's numbers are the ones the
run measured; nothing is measured again. The per-tensor sparsity of the plot, which the run
keeps only in memory, is read from the weights (a kept weight exactly zero counts as pruned).

    python recipes/finish_record.py runs/tcnn-v6-c1-r5q-pq checkpoints/tcnn-v6/model.safetensors \
        --pipeline c1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from secomp.compress.groups import prunable_tensors
from secomp.compress.pipeline import Progress
from secomp.compress.presets import load_pipeline
from secomp.compress.run import write_record
from secomp.io.format import load_artifact


def finish(out_dir: Path, baseline: str, pipeline: str | None = None) -> dict:
    """`pipeline` names the preset or YAML the run was started with (for the report's title and
    the summary); the settings themselves are read from the run's own config.yaml."""
    prog = Progress.load(out_dir / "progress.json")
    cfg_path, raw, cfg = load_pipeline(str(out_dir / "config.yaml"), [])
    last = cfg.stages[-1]
    if not any(u == last or (last == "P" and u.startswith("P")) for u in prog.done):
        raise SystemExit(f"{out_dir}: the run has not finished its last stage; resume it instead")
    if pipeline is not None:
        cfg_path = load_pipeline(pipeline, [])[0]
    model = load_artifact(out_dir / "model.secomp").eval()
    tensors = prunable_tensors(model, cfg.include, cfg.exclude, cfg.conv_grouping, cfg.prune_bias)
    if prog.after_sparsity is None:  # set as the run returns: read from the weights instead
        params = dict(model.named_parameters())
        prog.after_sparsity = {t.name: float((params[t.name] == 0).float().mean()) for t in tensors}
    return write_record(model, tensors, prog, out_dir, baseline, cfg_path, raw)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="the run folder (holds model.secomp, progress.json)")
    ap.add_argument("baseline", help="the model file the run started from, for the report")
    ap.add_argument(
        "--pipeline", help="the preset or YAML the run was started with (default: its config.yaml)"
    )
    a = ap.parse_args()
    if (a.out / "summary.json").exists():
        sys.exit(f"{a.out}: has a summary.json already (nothing was changed)")
    s = finish(a.out, a.baseline, a.pipeline)
    print(yaml.safe_dump({"artifact_bytes": s["artifact_bytes"], "after": s["after"]}))


if __name__ == "__main__":
    main()
