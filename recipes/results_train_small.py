"""Compress-large vs train-small (issue 13, item 7; the ICASSP companion's finding): the
compressed large model against a narrow model of the same architecture whose dense fp32 file is
about the size of the compressed one, both trained on corpus v2, on both test sets.

Three pairs, each narrow model trained from scratch with its large baseline's mixtures and
optimiser settings, beside other jobs on one H200 (recipes/LEASE.md): lstm-small-v6 (3 x 120)
for the same 18 minutes as lstm-v6 (v22 lease); gcrn-small-v6 (channels 8-16-16-32-32, grouped
LSTM 128) for 20 minutes where gcrn-v6's lineage had 9 + 21 (gcrn-v5 with reverberation, then
gcrn-v6; v22 lease); crn-small-v6 (channels 8-16-16-32-32, LSTM 2 x 136) for 20 minutes where
crn-v6's lineage had 12 + 21 (crn-v5, then crn-v6; v24 lease). The CRN pair used to be demo-v5,
which had reverberant mixtures and a GPU shared by eight runs; crn-small-v6 replaces it.

    python recipes/weights.py restore crn-v6 crn-small-v6 lstm-v6 lstm-small-v6 gcrn-v6 \
        gcrn-small-v6
    python recipes/results_train_small.py               # -> results/train_small.json

The quality numbers are the committed `secomp evaluate` JSONs of recipes/evaluate_v5.sh
(`RESULTS=results/baselines_v6 MODELS="..."` for the v6 and narrow v6 models) and of
the compressed artifacts (results/compressed_v2/ARCH-c1_*.json).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from results_v5 import SNRS  # recipes/ is on sys.path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "train_small.json"
SETS = ("matched", "untrained")
# (label, role, file whose bytes are the size, evaluate JSON pattern, training logs)
PAIRS = {
    "crn": [
        ("crn-v6 (dense fp32)", "large baseline", "checkpoints/crn-v6/model.safetensors",
         "results/baselines_v6/crn-v6_{s}.json", ("v5/crn-v5", "v6/crn-v6")),
        ("crn-c1 (compress large)", "compressed", "models/crn-c1.secomp",
         "results/compressed_v2/crn-c1_{s}.json", ()),
        ("crn-small-v6 (train small, dense fp32)", "narrow",
         "checkpoints/crn-small-v6/model.safetensors",
         "results/baselines_v6/crn-small-v6_{s}.json", ("v13/crn-small-v6",)),
    ],
    "lstm": [
        ("lstm-v6 (dense fp32)", "large baseline", "checkpoints/lstm-v6/model.safetensors",
         "results/baselines_v6/lstm-v6_{s}.json", ("v6/lstm-v6",)),
        ("lstm-c1 (compress large)", "compressed", "models/lstm-c1.secomp",
         "results/compressed_v2/lstm-c1_{s}.json", ()),
        ("lstm-small-v6 (train small, dense fp32)", "narrow",
         "checkpoints/lstm-small-v6/model.safetensors",
         "results/baselines_v6/lstm-small-v6_{s}.json", ("v12/lstm-small-v6",)),
    ],
    "gcrn": [
        ("gcrn-v6 (dense fp32)", "large baseline", "checkpoints/gcrn-v6/model.safetensors",
         "results/baselines_v6/gcrn-v6_{s}.json", ("v5/gcrn-v5", "v6/gcrn-v6")),
        ("gcrn-c1 (compress large)", "compressed", "models/gcrn-c1.secomp",
         "results/compressed_v2/gcrn-c1_{s}.json", ()),
        ("gcrn-small-v6 (train small, dense fp32)", "narrow",
         "checkpoints/gcrn-small-v6/model.safetensors",
         "results/baselines_v6/gcrn-small-v6_{s}.json", ("v12/gcrn-small-v6",)),
    ],
}


def _minutes(logs: tuple[str, ...]) -> float | None:
    if not logs:
        return None
    total = 0.0
    for name in logs:
        rows = list(csv.DictReader((ROOT / "results" / "training" / name / "log.csv").open()))
        total += float(rows[-1]["time_s"]) / 60
    return round(total, 1)


def collect() -> dict:
    """Sizes measured from the files, quality from the evaluate JSONs; refuses to write sizes
    it could not measure."""
    out: dict = {}
    for arch, rows in PAIRS.items():
        entries = []
        for label, role, file, pattern, logs in rows:
            path = ROOT / file
            if not path.exists():
                raise SystemExit(f"{file}: missing (python recipes/weights.py restore ...)")
            quality = {}
            for s in SETS:
                r = json.loads((ROOT / pattern.format(s=s)).read_text())
                quality[s] = {x: {k: r["by_snr"][x]["enhanced"][k] for k in ("stoi", "pesq")}
                              for x in SNRS}
            entries.append({"label": label, "role": role, "file": file,
                            "bytes": path.stat().st_size, "train_minutes": _minutes(logs),
                            "quality": quality})
        out[arch] = entries
    return out


def section() -> list[str]:
    if not OUT.exists():
        return ["### Compress-large vs train-small", "",
                "Not computed yet (`python recipes/results_train_small.py`).", ""]
    data = json.loads(OUT.read_text())
    mins = {
        arch: {e["role"]: e["train_minutes"] for e in entries} for arch, entries in data.items()
    }
    L = ["### Compress-large vs train-small (item 7)", "",
         "`python recipes/results_train_small.py` (after `python recipes/weights.py restore"
         " crn-v6 crn-small-v6 lstm-v6 lstm-small-v6 gcrn-v6 gcrn-small-v6`; sizes are the bytes"
         " of the files named, the narrow models dense fp32, no quantization). Cells: STOI /"
         " PESQ. The narrow models have the large one's layer types and fewer channels, about"
         " the C1 file's bytes, and were trained from scratch on their large baseline's"
         " mixtures with its optimiser settings, each beside other jobs on one H200"
         " (`configs/train/{crn,lstm,gcrn}-small-v6.yaml`).",
         f"LSTM: lstm-small-v6 (3 x 120) trained for {mins['lstm']['narrow']:.0f} min against"
         f" lstm-v6's {mins['lstm']['large baseline']:.0f}: the same data and GPU time.",
         f"CRN: crn-small-v6 (channels 8-16-16-32-32, LSTM 2 x 136) trained for"
         f" {mins['crn']['narrow']:.0f} min against {mins['crn']['large baseline']:.0f} min for"
         " crn-v6's lineage (crn-v5, then crn-v6): the same data, less GPU time.",
         f"GCRN: gcrn-small-v6 (channels 8-16-16-32-32, grouped LSTM 128) trained for"
         f" {mins['gcrn']['narrow']:.0f} min against {mins['gcrn']['large baseline']:.0f} min for"
         " gcrn-v6's lineage (gcrn-v5 with reverberation, then gcrn-v6): the same data, less GPU"
         " time. Its file was sized to the C1 file committed then (928,271 bytes); today's C1"
         " file is smaller, so the narrow GCRN has the more bytes.", ""]
    for arch, entries in data.items():
        for s in SETS:
            L += [f"**{arch.upper()}, {s} set**", "",
                  "| model | bytes | train min | " + " | ".join(f"{x} dB" for x in SNRS) + " |",
                  "|---|---|---|" + "---|" * len(SNRS)]
            for e in entries:
                q = e["quality"][s]
                mins = "-" if e["train_minutes"] is None else f"{e['train_minutes']:.0f}"
                L.append(f"| {e['label']} | {e['bytes']:,} | {mins} | "
                         + " | ".join(f"{q[x]['stoi']:.3f} / {q[x]['pesq']:.2f}" for x in SNRS)
                         + " |")
            L.append("")
    L += verdict_lines(data)
    return L + [""]


def _roles(entries: list[dict]) -> dict[str, dict]:
    return {e["role"]: e for e in entries}


def margins(data: dict) -> list[tuple[str, str, int, int, float, float]]:
    """(arch, metric, cells where the compressed large model beats the narrow one, cells,
    smallest difference, largest difference) over both sets and every SNR."""
    out = []
    for arch, entries in data.items():
        comp, small = _roles(entries)["compressed"], _roles(entries)["narrow"]
        for k in ("stoi", "pesq"):
            d = [comp["quality"][s][x][k] - small["quality"][s][x][k] for s in SETS for x in SNRS]
            out.append((arch, k, sum(v > 0 for v in d), len(d), min(d), max(d)))
    return out


def verdict_lines(data: dict) -> list[str]:
    out = []
    for arch, entries in data.items():
        e = _roles(entries)
        large, small = e["large baseline"], e["narrow"]
        for k in ("stoi", "pesq"):
            d = [small["quality"][s][x][k] - large["quality"][s][x][k] for s in SETS for x in SNRS]
            if all(v > 0 for v in d):
                nd = 3 if k == "stoi" else 2
                out.append(f"- {arch.upper()}: the narrow model is ahead of the dense large"
                           f" baseline itself on {k.upper()} at every set/SNR cell (difference"
                           f" {min(d):+.{nd}f} to {max(d):+.{nd}f}): the large model is"
                           " undertrained for its size in this GPU time.")
    for arch, k, wins, n, lo, hi in margins(data):
        e = _roles(data[arch])
        nd = 3 if k == "stoi" else 2
        out.append(f"- {arch.upper()}: the compressed large model ({e['compressed']['bytes']:,}"
                   f" bytes) is ahead of the narrow one ({e['narrow']['bytes']:,} bytes) on"
                   f" {k.upper()} at {wins} of {n} set/SNR cells (difference {lo:+.{nd}f} to"
                   f" {hi:+.{nd}f}).")
    return out


if __name__ == "__main__":
    OUT.write_text(json.dumps(collect(), indent=1) + "\n")
    print("\n".join(section()))
