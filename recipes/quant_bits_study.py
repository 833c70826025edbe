"""What one codebook width for every tensor costs a baseline, and what the per-tensor width
search of the Q stage (`quant_bits_max`, secomp.compress.quantize.choose_bits) chooses instead.

On N fixed pairs of the valid split (testsets/valid_v2 from recipes/select_v5.sh, the first
4 s of each), with the model's training loss: the loss of the dense baseline, of every weight
tensor clustered at 4, 5 and 6 bits (k-means, linear initialisation), of each tensor alone at
4 bits (the most sensitive ones listed), and of every tensor at the widths the search chooses
(from 4 bits up to 8, tolerance 5 % relative, each tensor alone: Algorithm 1 on the width).
No fine-tuning: this is the step where the 4-bit c2-fast TCNN lost 14 dB of valid SI-SDR.

    python recipes/quant_bits_study.py tcnn-v6=checkpoints/tcnn-v6/model.safetensors \
        --json results/quant_bits/tcnn-v6.json
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import torch
import yaml

from secomp.audio import SAMPLE_RATE, load_audio
from secomp.compress.quantize import choose_bits, quantize_model
from secomp.io.modelio import load_model
from secomp.structure.groups import prunable_tensors
from secomp.train import model_loss

ROOT = Path(__file__).resolve().parents[1]


def _pairs(folder: Path, n: int, seconds: float = 4.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Every other row of the manifest (SNRs alternate) up to n: noisy, clean [n, samples]."""
    rows = list(csv.DictReader(open(folder / "manifest.csv")))[: 2 * n : 2]

    n_samples = int(seconds * SAMPLE_RATE)

    def seg(name: str) -> torch.Tensor:
        x = torch.from_numpy(load_audio(folder / name, check=False))[:n_samples]
        return torch.nn.functional.pad(x, (0, n_samples - x.numel()))

    return (
        torch.stack([seg(r["noisy"]) for r in rows]),
        torch.stack([seg(r["clean"]) for r in rows]),
    )


@torch.no_grad()
def study(model: torch.nn.Module, power: float, noisy, clean, tolerance: float) -> dict:
    loss_fn = model_loss(model, power)

    def loss(m: torch.nn.Module) -> float:
        return float(loss_fn(m, noisy, clean))

    params = dict(model.named_parameters())
    tensors = prunable_tensors(model)
    orig = {t.name: params[t.name].detach().clone() for t in tensors}

    def clustered(bits: dict[str, int]) -> float:
        quantize_model(model, tensors, None, bits_by_name=bits)
        out = loss(model)
        for t in tensors:
            params[t.name].copy_(orig[t.name])
        return out

    ref = loss(model)
    fixed = {b: clustered({t.name: b for t in tensors}) for b in (4, 5, 6)}
    choices = choose_bits(model, tensors, None, loss, 4, 8, tolerance)
    alone_4 = {c.name: c.losses[0] for c in choices}
    chosen = {c.name: c.chosen for c in choices}
    numel = {t.name: orig[t.name].numel() for t in tensors}
    index_bits = {b: sum(numel.values()) * b for b in (4, 5, 6)}
    return {
        "ref_loss": ref,
        "fixed": {str(b): {"loss": v, "relative": v / ref - 1} for b, v in fixed.items()},
        "alone_4_bits_top": sorted(
            (
                {"tensor": n, "weights": numel[n], "relative": v / ref - 1}
                for n, v in alone_4.items()
            ),
            key=lambda r: -r["relative"],
        )[:8],
        "search": {
            "tolerance": tolerance,
            "loss": (searched := clustered(chosen)),
            "relative": searched / ref - 1,
            "raised": {n: b for n, b in chosen.items() if b > 4},
            "raised_weights": sum(numel[n] for n, b in chosen.items() if b > 4),
            "mean_bits": sum(numel[n] * b for n, b in chosen.items()) / sum(numel.values()),
        },
        "weights": sum(numel.values()),
        "index_bits_fixed": index_bits,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="NAME=PATH; NAME names configs/train/NAME.yaml (its loss_power)")
    p.add_argument("--pairs", default="testsets/valid_v2")
    p.add_argument("--n", type=int, default=12)
    p.add_argument("--tolerance", type=float, default=0.05)
    p.add_argument("--json", required=True)
    a = p.parse_args()
    torch.set_num_threads(1)
    name, path = a.model.split("=", 1)
    cfg = yaml.safe_load(open(ROOT / "configs" / "train" / f"{name}.yaml"))
    power = float(cfg.get("loss_power", 1.0))
    noisy, clean = _pairs(Path(a.pairs), a.n)
    out = {"model": name, "file": path, "loss_power": power, "n_pairs": a.n}
    out.update(study(load_model(path).eval(), power, noisy, clean, a.tolerance))
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(out, indent=1))
    s = out["search"]
    print(
        f"{name}: ref {out['ref_loss']:.5f}; fixed 4/5/6 bits "
        + " / ".join(f"{v['relative']:+.1%}" for v in out["fixed"].values())
        + f"; searched {s['relative']:+.1%} at {s['mean_bits']:.3f} bits/weight,"
        f" {len(s['raised'])} tensors raised"
    )


if __name__ == "__main__":
    main()
