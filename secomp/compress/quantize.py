"""Clustering-based quantization (method.md 2.3, after Deep Compression).

Per tensor, the non-zero weights are clustered by 1-D k-means into K clusters (linear
initialisation over [min, max] by default, k-means++ optional); every weight becomes its
centroid, zeros stay zero. Centroids are then fine-tuned with the assignments fixed: a centroid's
gradient is the sum of its members' gradients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from ..io.format import MAX_CODEBOOK
from .groups import PrunableTensor
from .sensitivity import within_tolerance

MAX_BITS = MAX_CODEBOOK.bit_length() - 1  # the widest codebook a .secomp file stores (8 bits)


@dataclass
class Codebook:
    """centroids [K] (float32); assign: int64 tensor of the weight's shape, -1 where pruned."""

    centroids: torch.Tensor
    assign: torch.Tensor

    def weight(self) -> torch.Tensor:
        if self.centroids.numel() == 0:  # a fully pruned tensor
            return torch.zeros(self.assign.shape, device=self.assign.device)
        w = self.centroids[self.assign.clamp(min=0)]
        return torch.where(self.assign >= 0, w, torch.zeros_like(w))


def _assign(values: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Nearest centroid for 1-D data (centroids sorted): a binary search over the midpoints."""
    mids = (centroids[1:] + centroids[:-1]) / 2
    return torch.searchsorted(mids, values)


def kmeans_1d(
    values: torch.Tensor,
    k: int,
    init: str = "linear",
    iters: int = 100,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's algorithm on a 1-D float tensor: (sorted centroids [<=k], assignment [n]).

    With at most k distinct values the result is exact (each value its own centroid). An empty
    cluster keeps its previous centroid.
    """
    values = values.detach().float().flatten()
    uniq = torch.unique(values)
    if uniq.numel() <= k:
        return uniq, torch.searchsorted(uniq, values)
    if init == "linear":
        c = torch.linspace(float(values.min()), float(values.max()), k, device=values.device)
    elif init == "kmeans++":
        g = generator or torch.Generator().manual_seed(0)
        c = values[torch.randint(values.numel(), (1,), generator=g).to(values.device)]
        for _ in range(k - 1):
            d = (values[:, None] - c[None]).pow(2).min(1).values
            pick = torch.multinomial((d / d.sum()).cpu(), 1, generator=g).to(values.device)
            c = torch.cat([c, values[pick]])
        c = c.sort().values
    else:
        raise ValueError(f"init must be linear or kmeans++, not '{init}'")
    assign = _assign(values, c)
    for _ in range(iters):
        sums = torch.zeros(k, device=values.device).index_add_(0, assign, values)
        counts = torch.zeros(k, device=values.device).index_add_(0, assign, torch.ones_like(values))
        c = torch.where(counts > 0, sums / counts.clamp(min=1), c).sort().values
        new = _assign(values, c)
        if torch.equal(new, assign):
            break
        assign = new
    return c, assign


def kmeans_quantize(
    w: torch.Tensor, mask: torch.Tensor | None, k: int, init: str = "linear"
) -> Codebook:
    """Codebook for one tensor: only the kept, non-zero weights are clustered."""
    keep = (w != 0) if mask is None else (mask & (w != 0))
    assign = torch.full(w.shape, -1, dtype=torch.long, device=w.device)
    if not keep.any():
        return Codebook(torch.zeros(0, device=w.device), assign)
    c, a = kmeans_1d(w[keep], k, init)
    assign[keep] = a
    return Codebook(c, assign)


def bits_for(t: PrunableTensor, default_bits: int, bits_by_kind: dict[str, int]) -> int:
    return int(bits_by_kind.get(t.kind, default_bits))


@dataclass
class BitChoice:
    """One tensor's bit-width search: the widths tried (ascending), the validation loss with
    only this tensor clustered at each, and the width chosen."""

    name: str
    ref_loss: float
    bits: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    chosen: int = 0


@torch.no_grad()
def choose_bits(
    model: nn.Module,
    tensors: list[PrunableTensor],
    masks: dict[str, torch.Tensor] | None,
    eval_loss: Callable[[nn.Module], float],
    default_bits: int,
    max_bits: int,
    tolerance: float,
    mode: str = "relative",
    bits_by_kind: dict[str, int] | None = None,
    init: str = "linear",
) -> list[BitChoice]:
    """Per-tensor codebook sizes by sensitivity analysis (Algorithm 1 on the bit width).

    Each tensor alone (every other one unclustered): its width starts at its configured one
    (`bits_for`) and rises by one bit while clustering it at that width makes the validation
    loss exceed the tolerance (`within_tolerance`: relative (L_q - L_ref) / L_ref <= eps or
    absolute); `max_bits` is taken when no width is within. Why: one width for all tensors
    breaks small tensors at the ends of a deep network (the TCNN's first and last convolutions,
    160 and 320 weights: at 4 bits either alone raises the validation loss by 650 % and
    7,084 %), and raising them costs a few bytes. The model is left as it was.
    """
    params = dict(model.named_parameters())
    ref = eval_loss(model)
    choices = []
    for t in tensors:
        p = params[t.name]
        orig = p.detach().clone()
        mask = None if masks is None else masks[t.name]
        choice = BitChoice(t.name, ref)
        lo = bits_for(t, default_bits, bits_by_kind or {})
        for bits in range(lo, max(lo, max_bits) + 1):
            p.copy_(kmeans_quantize(orig, mask, 2**bits, init).weight().to(p.dtype))
            loss = eval_loss(model)
            choice.bits.append(bits)
            choice.losses.append(loss)
            choice.chosen = bits
            if within_tolerance(loss, ref, tolerance, mode):
                break
        p.copy_(orig)
        choices.append(choice)
    return choices


@torch.no_grad()
def quantize_model(
    model: nn.Module,
    tensors: list[PrunableTensor],
    masks: dict[str, torch.Tensor] | None,
    default_bits: int = 4,
    bits_by_kind: dict[str, int] | None = None,
    init: str = "linear",
    bits_by_name: dict[str, int] | None = None,
) -> dict[str, Codebook]:
    """Cluster every prunable tensor in place (weights replaced by their centroids), at
    bits_by_name[tensor] where given (e.g. from `choose_bits`), else its kind's width."""
    params = dict(model.named_parameters())
    books = {}
    for t in tensors:
        p = params[t.name]
        bits = (bits_by_name or {}).get(t.name) or bits_for(t, default_bits, bits_by_kind or {})
        k = 2**bits
        book = kmeans_quantize(p.detach(), None if masks is None else masks[t.name], k, init)
        p.copy_(book.weight().to(p.dtype))
        books[t.name] = book
    return books


class CentroidTuner:
    """Fine-tunes the centroids with assignments fixed, inside the ordinary training loop.

    `before_step` turns each clustered weight's gradient into its centroids' gradients (sum over
    members), steps the centroids with Adam and drops the weight gradient so the model's own
    optimizer leaves the weight alone; `after_step` writes centroids back into the weights.
    """

    def __init__(self, model: nn.Module, books: dict[str, Codebook], lr: float):
        self.params = dict(model.named_parameters())
        self.books = books
        self.centroids = {
            n: nn.Parameter(b.centroids.clone().to(self.params[n].device)) for n, b in books.items()
        }
        self.opt = torch.optim.Adam(list(self.centroids.values()), lr=lr)

    def before_step(self, model: nn.Module) -> None:
        for name, book in self.books.items():
            p, c = self.params[name], self.centroids[name]
            if p.grad is None or c.numel() == 0:
                continue
            a = book.assign.to(p.device)
            keep = a >= 0
            c.grad = torch.zeros_like(c).index_add_(0, a[keep], p.grad[keep].float())
            p.grad = None
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)

    @torch.no_grad()
    def after_step(self, model: nn.Module) -> None:
        for name, book in self.books.items():
            book.centroids = self.centroids[name].detach().clone()
            p = self.params[name]
            p.copy_(book.weight().to(device=p.device, dtype=p.dtype))

    def state(self) -> dict:
        return {
            "centroids": {n: c.detach().cpu() for n, c in self.centroids.items()},
            "opt": self.opt.state_dict(),
        }

    def load_state(self, state: dict) -> None:
        with torch.no_grad():
            for n, c in state["centroids"].items():
                self.centroids[n].copy_(c)
        self.opt.load_state_dict(state["opt"])


FP16_MAX = 65504.0  # the largest finite float16


@torch.no_grad()
def round_unquantized_to_fp16(model: nn.Module, quantized_names) -> list[str]:
    """Round, in place, every floating-point state-dict tensor (parameters and buffers: biases,
    norm weights and biases, running means and variances, PReLU slopes, ...) whose name is not
    in `quantized_names` (the k-means-clustered weights, left bit-exact) to float16 precision
    and back (`t.half()` then its own dtype: same shape, same dtype, same device; values within
    half a float16 ulp, i.e. a relative error of at most 2^-11 for normal values, and values
    below 2^-25 in magnitude become 0). A tensor with any finite |x| > 65504 is left as it is:
    float16 would turn it into inf. Returns the names of the tensors rounded. Why: the writer
    then stores each in 2 bytes per value (`half`) instead of 4, which in a small compressed
    file is a large share (tcnn-c1: 360,648 of 647,403 bytes were such float32 vectors)."""
    state = model.state_dict()  # detached views of the model's own storage
    skip = set(quantized_names)
    # a tied alias of a clustered weight shares its storage and must stay bit-exact too
    kept = {state[n].data_ptr() for n in skip if n in state and state[n].numel()}
    rounded = []
    for name, t in state.items():
        if name in skip or not t.is_floating_point() or t.numel() == 0:
            continue
        if t.data_ptr() in kept:
            continue
        finite = t[torch.isfinite(t)]
        if finite.numel() and float(finite.abs().max()) > FP16_MAX:
            continue
        t.copy_(t.half().to(t.dtype))
        rounded.append(name)
    return rounded
