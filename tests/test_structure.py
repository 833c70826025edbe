"""The traced structure (secomp/structure): the readers it finds equal the reader maps that
were written by hand per model before it existed (kept here as the test's oracle), and the
coupled groups it derives make whole channels removable."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from secomp.models import build_model
from secomp.structure import channel_groups, default_example, trace

from .test_models import SMALL
from .test_slim import SLIMMABLE, structured_prune

# ----------------------------------------------------------------------------- the old hand maps


def _reads_inputs(conv: nn.Module) -> torch.Tensor:
    in_dim = 0 if conv.transposed else 1
    return conv.weight.detach().abs().transpose(0, in_dim).flatten(1).sum(1) != 0


def _nonzero_columns(w: torch.Tensor) -> torch.Tensor:
    return w.detach().abs().sum(0) != 0


def _encoder_decoder_reads(encoder, decoders, block_reads, width, rnn_w_ih):
    n = len(encoder)
    enc = []
    for k in range(n):
        c = width(encoder[k])
        read = torch.zeros(c, dtype=torch.bool)
        for dec in decoders.values():
            read |= block_reads(dec[n - 1 - k])[-c:]
        if k + 1 < n:
            read |= block_reads(encoder[k + 1])
        else:
            read |= _nonzero_columns(rnn_w_ih).reshape(c, -1).any(1)
        enc.append(read)
    dec_reads = {
        name: [block_reads(dec[k + 1])[: width(dec[k])] for k in range(n - 1)]
        for name, dec in decoders.items()
    }
    return enc, dec_reads


def hand_channel_readers(model) -> dict[str, torch.Tensor]:
    if model.arch == "crn":
        enc, dec = _encoder_decoder_reads(
            model.encoder,
            {"decoder": model.decoder},
            _reads_inputs,
            lambda conv: conv.out_channels,
            model.lstm.weight_ih_l0,
        )
        out = {f"encoder.{k}": r for k, r in enumerate(enc)}
        out.update({f"decoder.{k}": r for k, r in enumerate(dec["decoder"])})
        return out
    if model.arch == "gcrn":

        def block_reads(block):
            return _reads_inputs(block.conv) | _reads_inputs(block.gate)

        enc, dec = _encoder_decoder_reads(
            model.encoder,
            {"dec_real": model.dec_real, "dec_imag": model.dec_imag},
            block_reads,
            lambda block: block.conv.out_channels,
            torch.cat([g.weight_ih_l0 for g in model.glstm.lstms[0]], 1),
        )
        blocks = [(f"encoder.{k}", r) for k, r in enumerate(enc)] + [
            (f"{n}.{k}", r) for n, rs in dec.items() for k, r in enumerate(rs)
        ]
        return {f"{b}.{part}": r for b, r in blocks for part in ("conv", "gate")}
    return {}


def hand_output_readers(model) -> dict[str, torch.Tensor | None]:
    if model.arch == "crn":
        if model.proj is not None:
            return {"lstm": model.proj.weight.abs().sum(0) != 0}
        w = model.decoder[0].weight
        channels = w.shape[0] // 2
        freqs = model.lstm.hidden_size // channels
        return {"lstm": (w[:channels].abs().sum((1, 2, 3)) != 0).repeat_interleave(freqs)}
    if model.arch == "lstm":
        return {"lstm": model.out.weight.abs().sum(0) != 0}
    if model.arch == "gcrn":
        return {n: None for n, m in model.named_modules() if type(m) is nn.LSTM}
    return {}


# ----------------------------------------------------------------------------- tests


@pytest.mark.parametrize("name", sorted(SLIMMABLE))
@pytest.mark.parametrize("ratio", [0.0, 0.6])
def test_traced_readers_equal_the_hand_maps(name, ratio):
    model = build_model(name, **SLIMMABLE[name])
    structured_prune(model, ratio)
    read = trace(model, default_example(model)).read_outputs(model)
    for layer, expect in hand_channel_readers(model).items():
        assert torch.equal(read[layer], expect), layer
    for layer, expect in hand_output_readers(model).items():
        want = torch.ones_like(read[layer]) if expect is None else expect
        assert torch.equal(read[layer], want), layer
    if ratio > 0 and name != "gcrn":  # the maps are not vacuous: some channels are unread
        assert any(not bool(r.all()) for r in read.values())


def test_trace_follows_skips_gates_reshapes_and_norms():
    """GCRN: a gated block's conv and gate channels meet in one product and form one group;
    the grouped LSTM's units reach the next layer through the LayerNorm (statistics marked);
    encoder.0's channel c reaches encoder.1 (conv and gate) and the skip into both decoders."""
    model = build_model("gcrn", **SMALL["gcrn"])
    s = trace(model, default_example(model))
    e = dict(s.readers("encoder.0.conv"))
    assert set(e) == {
        "encoder.1.conv",
        "encoder.1.gate",
        "dec_real.4.conv",
        "dec_real.4.gate",
        "dec_imag.4.conv",
        "dec_imag.4.gate",
    }
    skip = e["dec_real.4.conv"]  # decoder input = [previous output (4), skip (4)]
    assert torch.equal(skip, torch.cat([torch.zeros(4, 4), torch.eye(4)], 1).bool())
    assert s.stat_read["glstm.lstms.0.0"].all() and not s.stat_read["encoder.0.conv"].any()
    sets = {g.name: g for g in channel_groups(model, s)}
    assert "encoder.0.conv+encoder.0.gate" in sets
    assert sets["encoder.0.conv+encoder.0.gate"].n_groups == 4
    # the output layers' channels are the model's output: no group, except the imaginary
    # parts of the DC and Nyquist bins, which the inverse real FFT never reads
    assert "lin_real" not in sets
    assert sets["lin_imag"].channels == [[("lin_imag", 0)], [("lin_imag", 160)]]


def test_slice_sums_equal_the_transposed_sums_for_every_dim():
    from secomp.structure.groups import _slice_sums

    g = torch.Generator().manual_seed(0)
    for shape in ((7,), (3, 5), (2, 3, 4), (2, 3, 2, 5)):
        w = torch.randn(*shape, generator=g, dtype=torch.float64)
        for dim in range(-len(shape), len(shape)):
            ref = w.transpose(0, dim).reshape(w.shape[dim], -1).sum(1)
            got = _slice_sums(w, dim)
            assert got.shape == ref.shape and torch.allclose(got, ref), (shape, dim)
        m = w > 0  # masks: bool slices count their kept weights
        assert torch.equal(_slice_sums(m, 0), m.transpose(0, 0).reshape(shape[0], -1).sum(1))
