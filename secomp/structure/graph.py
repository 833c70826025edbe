"""Trace a model once on an example input and record, for every output channel (or hidden unit)
of every layer, which input channels of which later layers read it.

How: forward hooks and NaN probes. A reference pass records every layer's output on the
example repeated K times along the batch. Then one probe pass puts NaN into channel c_b of
batch item b of the output of layer P_b (K probes at once), and every layer returns its
reference output (with the probes), so the NaN travels only through what lies between
layers: concatenations (skips), reshapes/flattens/permutes, chunk/split, gating products,
activations, padding, residual sums, per-channel norms. Each layer's input is then checked: the
input channels of Q that hold a NaN in item b read channel c_b of P_b. NaN survives every
arithmetic operation (also a product with 0), so a dependency is never missed by a zero value;
a model that drops NaN on purpose (nan_to_num, comparisons) is caught by the slimmer's parity
check. Layers whose statistics read all channels (LayerNorm, GroupNorm) run element-wise in the
probes (statistics frozen), so each channel reaches its own readers, and the channels that reach
them are marked `stat_read`. A multi-layer RNN is one node whose channels are its last layer's
units; its inner layers are known to its handler (layers.py). The batch must be axis 0 of the
model's input and output and every layer must treat batch items independently (eval mode).

Cost: one reference pass, then one probe pass per K (layer, channel) pairs (K = 64 items of a
short example, 0.05 s of audio): the probes of different layers share a pass, since no probe
can cross a layer, and in probe passes the layers are not computed (each returns its recorded
output), so a pass costs only the element-wise work between layers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .layers import LayerHandler, handler_for

PROBE_BATCH = 64


@dataclass
class Structure:
    """Who reads what in one model. Holds module names only: weights are read from the model
    passed to each query, so the structure stays valid while pruning changes the weights.

    layers: traced layers (called in the example's forward), name -> handler;
    edges[P][Q]: bool [out_width(P), in_width(Q)], channel c of P reaches input j of Q;
    to_output[P]: bool [out_width(P)], channel reaches the model's output;
    stat_read[P]: bool [out_width(P)], channel reaches a norm that takes statistics over it.
    """

    layers: dict[str, LayerHandler]
    edges: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    to_output: dict[str, torch.Tensor] = field(default_factory=dict)
    stat_read: dict[str, torch.Tensor] = field(default_factory=dict)

    def readers(self, producer: str) -> Iterator[tuple[str, torch.Tensor]]:
        """(consumer, [out_width(P), in_width(Q)] bool) for every layer reading `producer`."""
        for q, e in self.edges.get(producer, {}).items():
            if bool(e.any()):
                yield q, e

    def read_outputs(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """For every traced layer, [out_width] bool: output channels something reads with the
        model's current weights (the output, a norm's statistics, or a non-zero weight of a
        later layer)."""
        reads_in = {q: h.reads_inputs(model.get_submodule(q)) for q, h in self.layers.items()}
        out = {}
        for p in self.layers:
            read = self.to_output[p] | self.stat_read[p]
            for q, e in self.readers(p):
                read = read | (e & reads_in[q][None]).any(1)
            out[p] = read
        return out


def _channels_of(x: torch.Tensor, batch_axis: int, axis: int) -> torch.Tensor:
    """[B, C] bool: which channels (along `axis`) of each batch item hold a NaN."""
    nan = x.isnan().movedim((batch_axis, axis), (0, 1))
    return nan.reshape(nan.shape[0], nan.shape[1], -1).any(2)


def _first_tensor(x: Any) -> torch.Tensor | None:
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, tuple | list) and x:
        return _first_tensor(x[0])
    return None


def _clone(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.clone()
    if isinstance(x, tuple | list):
        return type(x)(_clone(t) for t in x)
    return x


def _any_nan_per_item(y: Any, k: int) -> torch.Tensor:
    """[k] bool: batch items of the model output (tensors anywhere in it) holding a NaN."""
    if isinstance(y, torch.Tensor):
        return (
            y.isnan().reshape(k, -1).any(1).cpu()  # the trace's record lives on the CPU
            if y.is_floating_point()
            else torch.zeros(k, dtype=torch.bool)
        )
    found = torch.zeros(k, dtype=torch.bool)
    if isinstance(y, tuple | list):
        for t in y:
            found |= _any_nan_per_item(t, k)
    elif isinstance(y, dict):
        for t in y.values():
            found |= _any_nan_per_item(t, k)
    return found


@torch.no_grad()
def trace(model: nn.Module, example: torch.Tensor, batch: int = PROBE_BATCH) -> Structure:
    """The structure of `model` from its forward pass on `example` (one item, batch axis 0;
    an example of several items is cut to its first). The model is left unchanged."""
    named = {n: m for n, m in model.named_modules()}
    handlers = {n: h for n, m in named.items() if (h := handler_for(m)) is not None}
    layers = {n: h for n, h in handlers.items() if h.is_layer}
    stat_norms = {n for n, h in handlers.items() if h.mixes_channels}
    x1 = example[:1]
    k = min(batch, sum(h.out_width(named[n]) for n, h in layers.items()))
    x = x1.expand(k, *x1.shape[1:]).contiguous()
    ref: dict[tuple[str, int], Any] = {}
    calls: dict[str, int] = defaultdict(int)
    probe: dict[str, Any] = {"targets": {}}
    seen_in: dict[str, torch.Tensor] = {}
    seen_stat = torch.zeros(k, dtype=torch.bool)

    def hook(name: str):
        def fn(module: nn.Module, inputs: tuple, output: Any) -> None:
            ref[(name, calls[name])] = output
            calls[name] += 1

        return fn

    def probe_forward(name: str, h: LayerHandler):
        """Replaces the layer's forward in probe passes: the layer is not computed, it notes
        which of its inputs hold a probe and returns its reference output (with probes)."""

        def fn(*args: Any, **kwargs: Any) -> Any:
            nonlocal seen_stat
            call = calls[name]
            calls[name] += 1
            inp = _first_tensor(args)
            if name in stat_norms:
                if inp is not None:
                    seen_stat = seen_stat | inp.isnan().reshape(k, -1).any(1).cpu()
                return ref[(name, call)] + inp * 0  # element-wise: NaN passes, stats frozen
            if inp is not None and inp.is_floating_point():
                hit = _channels_of(inp, h.batch_axis, h.in_axis).cpu()
                seen_in[name] = seen_in[name] | hit if name in seen_in else hit
            out = ref[(name, call)]
            if name in probe["targets"]:
                return h.inject(out, probe["targets"][name], float("nan"))
            return _clone(out)  # later in-place operations must not change the reference

        return fn

    watched = [n for n, h in handlers.items() if h.is_layer or n in stat_norms]
    hooks = [named[n].register_forward_hook(hook(n)) for n in watched]
    was = model.training
    model.eval()
    try:
        model(x)
        for hk in hooks:
            hk.remove()
        hooks = []
        for n in watched:  # an instance attribute shadows the class's forward
            named[n].forward = probe_forward(n, handlers[n])
        traced = {n: h for n, h in layers.items() if calls[n] > 0}
        structure = Structure(traced)
        widths = {p: hp.out_width(named[p]) for p, hp in traced.items()}
        for p, w in widths.items():
            structure.edges[p] = {}
            structure.to_output[p] = torch.zeros(w, dtype=torch.bool)
            structure.stat_read[p] = torch.zeros(w, dtype=torch.bool)
        # one probe pass checks K (layer, channel) pairs at once, one per batch item: every
        # layer returns its reference output, so probes in different items cannot meet
        pairs = [(p, c) for p, w in widths.items() for c in range(w)]
        for start in range(0, len(pairs), k):
            chunk = pairs[start : start + k]
            targets: dict[str, list[tuple[int, int]]] = defaultdict(list)
            for b, (p, c) in enumerate(chunk):
                targets[p].append((b, c))
            probe["targets"] = targets
            calls.clear()
            seen_in.clear()
            seen_stat = torch.zeros(k, dtype=torch.bool)
            y = model(x)
            to_out = _any_nan_per_item(y, k)
            for p, items in targets.items():
                bs = torch.tensor([b for b, _ in items])
                cs = torch.tensor([c for _, c in items])
                structure.to_output[p][cs] = to_out[bs]
                structure.stat_read[p][cs] = seen_stat[bs]
                for q, hit in seen_in.items():
                    rows = hit[bs]
                    if bool(rows.any()):
                        edges = structure.edges[p]
                        if q not in edges:
                            edges[q] = torch.zeros(widths[p], hit.shape[1], dtype=torch.bool)
                        edges[q][cs] = rows
    finally:
        for hk in hooks:
            hk.remove()
        for n in watched:
            named[n].__dict__.pop("forward", None)
        model.train(was)
    return structure


def default_example(model: nn.Module, seconds: float = 0.05) -> torch.Tensor:
    """A waveform [1, N] (0.05 s, a few STFT frames) of noise at about -26 dBFS on the model's
    device: the input of every secomp model (waveform in, waveform out)."""
    from ..audio import SAMPLE_RATE

    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(0)
    return (0.05 * torch.randn(1, int(seconds * SAMPLE_RATE), generator=g)).to(device)
