"""The paper's claims that secomp's experiments can test, each stated as confirmed or not, with
the numbers (issue 13); computed from the same collections as the tables above it:
recipes/results_paper_tables.py (the committed artifacts on both test sets), recipes/
results_ablations.py (the runs with and without S), and the separation test set
(results/separation/NAME.json).

    python recipes/results_claims.py
"""

from __future__ import annotations

import json
from pathlib import Path

import results_ablations  # recipes/ is on sys.path
import results_paper_tables
import results_train_small
from results_sep import SEP_BASE

ROOT = Path(__file__).resolve().parents[1]


def _sep(name: str) -> dict | None:
    p = ROOT / "results" / "separation" / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def _margins(rows: list[dict]) -> list[str]:
    """Claim 1: large margins without significant loss (the issue's bounds as 'significant')."""
    out, heads = [], []
    for pipeline in ("C1", results_paper_tables.C2):
        mine = [r for r in rows if r["pipeline"] == pipeline]
        if not mine:
            continue
        met = [(r, results_paper_tables.verdict(r)) for r in mine]
        n_ok = sum(ok for _, (ok, _) in met)

        def outcome(r: dict, ok: bool) -> str:
            if set(r["quality"]) != set(results_paper_tables.SETS):
                return "not evaluated on both test sets"
            return "met" if ok else "missed"

        cells = "; ".join(
            f"{Path(r['artifact']).stem} {r['ratio']:.1f}x {outcome(r, ok)}" for r, (ok, _) in met
        )
        _, bound = results_paper_tables.within(pipeline, 1e9, 0.0, 0.0)
        word = "confirmed" if n_ok == len(mine) else "partly" if n_ok else "not confirmed"
        heads.append(f"**{word} for {pipeline}**")
        out.append(
            f"  - {pipeline}: {n_ok} of {len(mine)} models within the bound ({bound}, every SNR"
            f" of both test sets): {cells}."
        )
    if not heads:
        return []
    return [
        "- **Large compression without significantly sacrificing quality** (the issue's bounds"
        f" as 'significantly'): {', '.join(heads)}:"
    ] + out


def _sparse_regularization(ablations: dict) -> list[str]:
    """Claim 2: S lets pruning remove more (the with/without-S curves of item 5)."""
    out, further = [], 0
    pairs = []
    for g in ablations["ablations"]:
        by = {r["variant"]: r for r in g["rows"]}
        if "S+P" in by and "P" in by:
            s, p = by["S+P"]["nonzero"], by["P"]["nonzero"]
            further += s < p
            pairs.append(f"{g['model']} {g['pipeline']} {s:,} with S vs {p:,} without")
    if pairs:
        verdict = "confirmed" if further == len(pairs) else "not confirmed"
        out.append(
            f"- **S lets pruning go further** (remaining weights after the last round, same"
            f" settings otherwise): **{verdict}**: S left fewer weights in {further} of"
            f" {len(pairs)} pairs ({'; '.join(pairs)})."
        )
    return out


def _quantization(ablations: dict) -> list[str]:
    """Claim 3: quantization multiplies pruning's ratio at little cost."""
    gains, costs = [], []
    for g in ablations["ablations"]:
        by = {r["variant"]: r for r in g["rows"]}
        for pre in ("", "S+"):
            p, q = by.get(pre + "P"), by.get(pre + "P+Q")
            if p and q:
                gains.append(q["packed_ratio"] / p["packed_ratio"])
                costs.append(q["valid"]["stoi"] - p["valid"]["stoi"])
    if not gains:
        return []
    # 'little cost': within the C1 bound's STOI point on the valid split, in every pair
    cheap = sum(c >= -0.01 for c in costs)
    word = "confirmed" if cheap == len(costs) else "partly"
    return [
        f"- **Q multiplies P's ratio at little cost** (bit-packed ratio of P+Q over P,"
        f" {len(gains)} pairs): **{word}**: {min(gains):.1f}-{max(gains):.1f}x more in every"
        f" pair; the valid STOI change against the pruned model ({min(costs):+.3f} to"
        f" {max(costs):+.3f}) is within 1 point in {cheap} of {len(costs)} pairs."
    ]


def _macs(rows: list[dict]) -> list[str]:
    """Claim 4: structured pruning cuts computation (the paper's Table 3)."""
    cells = {"C1": [], "C2": []}
    for r in rows:
        m = r["macs_4s"]
        key = "C1" if r["pipeline"] == "C1" else "C2"
        cells[key].append((Path(r["artifact"]).stem, m["uncompressed"] / m["slimmed"]))
    if not cells["C2"]:
        return []
    fewer = sum(f > 1.05 for _, f in cells["C2"])
    word = "confirmed" if fewer == len(cells["C2"]) else "partly" if fewer else "not confirmed"
    text = "; ".join(f"{n} {f:.2f}x" for n, f in cells["C2"])
    c1 = "; ".join(f"{n} {f:.2f}x" for n, f in cells["C1"])
    return [
        "- **Structured pruning reduces MACs** (4-s mixture, uncompressed over slimmed; the"
        f" paper's Table 3): **{word}** for C2-slim ({fewer} of {len(cells['C2'])} at least"
        f" 5 % fewer): {text}. The C1 files, slimmed where whole channels happen to be empty:"
        f" {c1}."
    ]


def _separation() -> list[str]:
    """Claim 5: the approach performs well on speaker separation."""
    base, c1, c2 = _sep(SEP_BASE), _sep("sep-c1"), _sep("sep-c2-slim")
    if not (base and c1 and c2):
        return []
    info = {
        n: json.loads((ROOT / "results" / "separation" / f"{n}.info.json").read_text())
        for n in ("sep-c1", "sep-c2-slim")
    }
    # issue 15's bound for C1: at least 20x within 0.5 dB SI-SDRi of the baseline
    ratio, loss = info["sep-c1"]["compression_ratio"], c1["si_sdri"] - base["si_sdri"]
    loss2 = c2["si_sdri"] - base["si_sdri"]
    ok = ratio >= 20 and loss >= -0.5
    text = (
        "- **It performs well on speaker separation** (issue 15's bound: C1 at least 20x"
        f" within 0.5 dB SI-SDRi): **{'confirmed' if ok else 'not confirmed'}** from"
        f" {SEP_BASE} ({base['si_sdri']:.2f} dB SI-SDRi): sep-c1 is {ratio:.1f}x smaller at"
        f" {c1['si_sdri']:.2f} dB ({loss:+.2f} dB), sep-c2-slim"
        f" {info['sep-c2-slim']['compression_ratio']:.1f}x at {c2['si_sdri']:.2f} dB"
        f" ({loss2:+.2f} dB)."
    )
    v3, v3c1 = _sep("sep-v3"), _sep("sep-v3-c1")
    if v3 and v3c1:
        text += (
            " The same C1 settings lost only"
            f" {v3c1['si_sdri'] - v3['si_sdri']:+.2f} dB from sep-v3, a baseline at"
            f" {v3['si_sdri']:.2f} dB that hardly separates: the stronger the separator, the"
            " more the pruning costs."
        )
    return [text]


def section() -> list[str]:
    rows = results_paper_tables.collect()
    ablations = results_ablations.collect()
    L = [
        "### The paper's claims, tested",
        "",
        "`python recipes/results_claims.py`, from the tables and ablations above.",
        "",
    ]
    L += _margins(rows)
    L += _sparse_regularization(ablations)
    L += _quantization(ablations)
    L += _macs(rows)
    L += _separation()
    L += _train_small()
    return L + [""]


def _train_small() -> list[str]:
    """Claim 5: compressing a large model beats training a small one of the same file size."""
    p = ROOT / "results" / "train_small.json"
    if not p.exists():
        return ["- **Compress-large beats train-small at equal size** (the companion paper): **not"
                " tested** (`python recipes/results_train_small.py`)."]
    data = json.loads(p.read_text())
    lines = results_train_small.verdict_lines(data)
    # per architecture: is the compressed large model ahead on every set/SNR cell of both metrics
    ahead = {a: True for a in data}
    for arch, _, wins, n, _, _ in results_train_small.margins(data):
        ahead[arch] = ahead[arch] and wins == n
    # every pair is a narrow model trained from scratch on its large baseline's mixtures
    names = {a: a.upper() for a in data}
    if all(ahead.values()):
        verdict = "confirmed for the " + ", ".join(names.values())
    elif not any(ahead.values()):
        verdict = "not confirmed: the narrow model is not behind everywhere for the " + ", ".join(
            names.values()
        )
    else:
        verdict = (
            "confirmed for the "
            + ", ".join(names[a] for a in data if ahead[a])
            + ", not for the "
            + ", ".join(names[a] for a in data if not ahead[a])
        )
    return [
        f"- **Compress-large beats train-small at equal size** (the companion paper): **{verdict}**"
        " (the same data; the same GPU time for the LSTM, less for the narrow CRN and GCRN"
        " than for their large baselines' lineages; see the table above):",
        *("  " + line for line in lines),
    ]


if __name__ == "__main__":
    print("\n".join(section()))
