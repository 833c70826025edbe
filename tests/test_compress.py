import copy
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from secomp.compress.groups import prunable_tensors
from secomp.compress.masks import full_masks, group_alive
from secomp.compress.prune import prune_mask
from secomp.compress.quantize import (
    CentroidTuner,
    choose_bits,
    kmeans_1d,
    kmeans_quantize,
    quantize_model,
)
from secomp.compress.regularize import group_lasso_penalty, l1_penalty
from secomp.compress.sensitivity import sensitivity_analysis

from .conftest import run_secomp
from .toy import AllLayers, train_masked

KINDS = {"conv", "conv_transpose", "linear", "lstm_ih", "lstm_hh", "gru_ih", "gru_hh"}


def test_groups_cover_every_layer_type():
    tensors = prunable_tensors(AllLayers())
    assert {t.kind for t in tensors} == KINDS
    assert not any("norm" in t.name or "bias" in t.name for t in tensors)
    by = {t.name: t for t in tensors}
    assert by["c2.weight"].n_groups == 4 * 1 and by["c2.weight"].group_size == 6  # kernels
    assert by["t2.weight"].n_groups == 4 * 2 and by["t2.weight"].group_size == 3
    assert by["lin.weight"].n_groups == 5  # one column per input unit
    assert by["lstm.weight_ih_l0"].n_groups == 8 and by["lstm.weight_ih_l0"].group_size == 24
    assert by["gru.weight_hh_l0"].n_groups == 5 and by["gru.weight_hh_l0"].group_size == 15
    t = prunable_tensors(AllLayers(), exclude=["lstm.*"], prune_bias=True)
    assert not any(x.name.startswith("lstm") for x in t) and any(x.kind == "bias" for x in t)
    coarse = {x.name: x for x in prunable_tensors(AllLayers(), conv_grouping="in_channel")}
    assert coarse["c1.weight"].n_groups == 2 and coarse["t1.weight"].n_groups == 4


def test_masks_hold_through_training_for_every_layer_type(tmp_path):
    model, tensors, masks = train_masked(tmp_path)
    params = dict(model.named_parameters())
    for t in tensors:
        assert (params[t.name][~masks[t.name]] == 0).all(), t.name
        assert (params[t.name][masks[t.name]] != 0).float().mean() > 0.9, t.name
    # the recurrent layers compute with the masked weights (no stale flattened copies)
    flat = model.lstm._flat_weights
    assert (flat[0][~masks["lstm.weight_ih_l0"]] == 0).all()


def test_regularizer_gradients_gradcheck():
    torch.manual_seed(0)
    model = AllLayers().double()
    tensors = prunable_tensors(model)
    names = [t.name for t in tensors]
    params = dict(model.named_parameters())
    leaves = [params[n].detach().clone().requires_grad_(True) for n in names]

    def fn(kind):
        def f(*ws):
            for n, w in zip(names, ws):
                setattr_param(model, n, w)
            return (group_lasso_penalty if kind == "gl" else l1_penalty)(model, tensors)

        return f

    def setattr_param(m, name, value):
        *path, leaf = name.split(".")
        mod = m
        for p in path:
            mod = getattr(mod, p)
        mod._parameters[leaf] = value

    assert torch.autograd.gradcheck(fn("gl"), leaves, eps=1e-6, atol=1e-5)
    assert torch.autograd.gradcheck(fn("l1"), leaves, eps=1e-6, atol=1e-5)
    # group lasso value by hand for one tensor
    t = [x for x in tensors if x.name == "lin.weight"][0]
    w = leaves[names.index("lin.weight")]
    expected = math.sqrt(3) * w.detach().norm(dim=0).sum()
    torch.testing.assert_close(group_lasso_penalty(model, [t]).detach(), expected)


def test_sensitivity_returns_expected_ratio():
    """Loss = 1 + (sum of removed |w|); w = 1..20; tolerance 10 absolute: removing the 4
    smallest (1+2+3+4 = 10) is the most allowed, i.e. ratio 0.20."""
    model = torch.nn.Linear(20, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.arange(1.0, 21.0)[None])
    total = float(model.weight.detach().abs().sum())
    tensors = prunable_tensors(model)
    masks = full_masks(model, tensors)

    def loss(m):
        return 1.0 + total - float(m.weight.abs().sum())

    res, _ = sensitivity_analysis(
        model, tensors, masks, loss, structured=False, tolerance=10, mode="absolute", progress=False
    )
    assert res[0].chosen == pytest.approx(0.20)
    assert res[0].ratios[0] == 1.0 and res[0].ratios[-1] == pytest.approx(0.20)
    assert float(model.weight.abs().sum()) == total  # model left unchanged
    res, _ = sensitivity_analysis(
        model,
        tensors,
        masks,
        loss,
        structured=False,
        tolerance=3.0,
        mode="relative",
        max_ratio=0.5,
        progress=False,
    )
    assert res[0].chosen == pytest.approx(0.10)  # 1+2 = 3 <= 3 x ref(1)


def test_structured_pruning_removes_whole_groups():
    torch.manual_seed(0)
    model = AllLayers()
    params = dict(model.named_parameters())
    for t in prunable_tensors(model):
        mask = torch.ones(t.shape, dtype=torch.bool)
        new = prune_mask(t, params[t.name], mask, 0.5, structured=True)
        g = t.group_view(new)
        assert ((g.all(1)) | (~g.any(1))).all(), t.name  # each group all kept or all removed
        assert int((~group_alive(t, new)).sum()) == math.floor(0.5 * t.n_groups)
        if t.kind == "lstm_hh":  # a removed column is removed from every gate
            dead = ~new.any(0)
            assert dead.any() and (~new[:, dead]).all()
        # the removed groups are the ones with the smallest norms
        norms = t.group_view(params[t.name].detach()).norm(dim=1)
        alive = group_alive(t, new)
        if (~alive).any():
            assert norms[~alive].max() <= norms[alive].min()


def test_unstructured_pruning_ratio_of_remaining():
    w = torch.arange(1.0, 101.0).reshape(10, 10)
    t = prunable_tensors(torch.nn.Linear(10, 10))[0]
    m1 = prune_mask(t, w, torch.ones(10, 10, dtype=torch.bool), 0.5, False)
    assert int(m1.sum()) == 50 and (w[~m1] <= 50).all()
    m2 = prune_mask(t, w, m1, 0.5, False)
    assert int(m2.sum()) == 25


def test_kmeans_keeps_zeros_and_uses_at_most_k_values():
    torch.manual_seed(0)
    w = torch.randn(40, 30)
    w[w.abs() < 0.5] = 0
    book = kmeans_quantize(w, None, 16)
    q = book.weight()
    assert (q[w == 0] == 0).all() and (q[w != 0] != 0).all()
    assert torch.unique(q[q != 0]).numel() <= 16
    assert (q - w)[w != 0].abs().mean() < 0.1
    c, a = kmeans_1d(torch.tensor([1.0, 1.0, 2.0, 5.0]), 8)
    assert c.tolist() == [1.0, 2.0, 5.0] and a.tolist() == [0, 0, 1, 2]
    c2, _ = kmeans_1d(torch.randn(500), 4, init="kmeans++")
    assert c2.numel() == 4 and torch.all(c2[1:] > c2[:-1])


def test_centroid_finetuning_lowers_loss():
    torch.manual_seed(0)
    x = torch.randn(256, 32)
    model = torch.nn.Linear(32, 1, bias=False)
    target = x @ torch.randn(32, 1)
    with torch.no_grad():
        model.weight.copy_(torch.linalg.lstsq(x, target).solution.T)
    tensors = prunable_tensors(model)
    books = quantize_model(model, tensors, None, default_bits=2)
    assign = books["weight"].assign.clone()
    before = float(((model(x) - target) ** 2).mean())
    # with assignments fixed the best centroids solve a least-squares problem in 4 unknowns
    a = assign[0]
    members = torch.stack([x[:, a == k].sum(1) for k in range(4)], 1)
    best = torch.linalg.lstsq(members, target).solution
    optimum = float(((members @ best - target) ** 2).mean())
    assert optimum < before
    tuner = CentroidTuner(model, books, lr=3e-2)
    for _ in range(300):
        model.zero_grad()
        ((model(x) - target) ** 2).mean().backward()
        tuner.before_step(model)
        tuner.after_step(model)
    after = float(((model(x) - target) ** 2).mean())
    assert after == pytest.approx(optimum, rel=1e-4)
    assert torch.equal(books["weight"].assign, assign)
    assert torch.unique(model.weight.detach()).numel() <= 4


def test_choose_bits_raises_the_width_only_where_the_loss_needs_it():
    """Tensor 1 holds four distinct values (exact at 2 bits); tensor 0 keeps 48 random values
    under its mask (exact at 6 bits, not before): only tensor 0 rises, and it stops at 6 of
    the 8 bits allowed, the first width within tolerance; masked weights stay zero."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(8, 8, bias=False), torch.nn.Linear(8, 8, bias=False)
    )
    masks = {"0.weight": torch.ones(8, 8, dtype=torch.bool), "1.weight": torch.ones(8, 8).bool()}
    masks["0.weight"][:2] = False
    with torch.no_grad():
        model[0].weight[:2] = 0
        model[1].weight.copy_(torch.tensor([-1.0, 0.5, 1.0, 2.0]).repeat(16).reshape(8, 8))
    x = torch.randn(64, 8)
    target = model(x).detach() + 0.01 * torch.randn(64, 8)

    def eval_loss(m):
        return float(((m(x) - target) ** 2).mean())

    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    tensors = prunable_tensors(model)
    by = {c.name: c for c in choose_bits(model, tensors, masks, eval_loss, 2, 8, 0.05)}
    assert by["1.weight"].bits == [2] and by["1.weight"].chosen == 2
    c0 = by["0.weight"]
    assert c0.bits == [2, 3, 4, 5, 6] and c0.chosen == 6
    rel = [(loss - c0.ref_loss) / c0.ref_loss for loss in c0.losses]
    assert rel[-1] <= 0.05 and all(r > 0.05 for r in rel[:-1])
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]), f"{n} changed"
    bits = {n: c.chosen for n, c in by.items()}
    books = quantize_model(model, tensors, masks, 2, bits_by_name=bits)
    assert books["0.weight"].centroids.numel() == 48  # 2**6 centroids, 48 distinct values
    assert books["1.weight"].centroids.numel() == 4
    assert (model[0].weight.detach()[:2] == 0).all()
    assert torch.equal(model[0].weight.detach(), before["0.weight"])  # exact at 6 bits


COMPRESS_TINY = [
    "reg_steps=4",
    "rounds=2",
    "finetune_steps=4",
    "centroid_steps=4",
    "sensitivity_batches=1",
    "quality_items=1",
    "ratio_step=0.25",
    "max_ratio=0.5",
    "train.batch_size=2",
    "train.valid_every=2",
    "train.valid_batches=1",
    "train.mix.segment_s=1.0",
    "train.amp=false",
]


def _compress(demo_data, out, pipeline="c1", resume=False, popen=False):
    args = ["compress", "demo", "--pipeline", pipeline, "--data", demo_data, "--out", out]
    args += ["--quiet", *COMPRESS_TINY] + (["--resume"] if resume else [])
    return run_secomp(args, popen=popen)


def test_compress_kill_and_resume_same_model(demo_data, tmp_path):
    r = _compress(demo_data, tmp_path / "a", "c2")
    assert "ratio" in r.stdout
    proc = _compress(demo_data, tmp_path / "b", "c2", popen=True)
    prog = tmp_path / "b" / "progress.json"
    t0 = time.time()
    while time.time() - t0 < 600:
        if prog.exists() and "S" in json.loads(prog.read_text() or "{}").get("done", []):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = json.loads(prog.read_text())["done"]
    assert "Q" not in done, "finished before it could be killed"
    _compress(demo_data, tmp_path / "b", "c2", resume=True)
    a = load_file(str(tmp_path / "a" / "state.safetensors"))
    b = load_file(str(tmp_path / "b" / "state.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert (tmp_path / "a" / "model.secomp").read_bytes() == (
        tmp_path / "b" / "model.secomp"
    ).read_bytes()
    report = (tmp_path / "b" / "report.md").read_text()
    assert "compression ratio" in report and "| P2 |" in report
    for f in ("progress.png", "sparsity.png", "sensitivity_P1.csv", "summary.json"):
        assert (tmp_path / "b" / f).exists(), f
    # a run stopped after it wrote its file gets the same record from recipes/finish_record.py
    import shutil

    c = tmp_path / "c"
    c.mkdir()
    for f in ("model.secomp", "progress.json", "config.yaml"):
        shutil.copy(tmp_path / "a" / f, c / f)
    recipe = Path(__file__).resolve().parents[1] / "recipes" / "finish_record.py"
    model = json.loads((tmp_path / "a" / "summary.json").read_text())["model"]
    r = subprocess.run(
        [sys.executable, str(recipe), str(c), model, "--pipeline", "c2"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    want, got = (json.loads((d / "summary.json").read_text()) for d in (tmp_path / "a", c))
    for k in ("model", "pipeline", "artifact_bytes", "before", "after", "rounds", "stage_time_s"):
        assert got[k] == want[k], k
    # the per-tensor rows (non-zeros, encoding, bits, bytes) are read from the file again
    assert (c / "report.md").read_text() == (tmp_path / "a" / "report.md").read_text()


def test_masks_hold_under_ddp(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_port=29541",
        "tests/ddp_masks_worker.py",
        str(tmp_path),
    ]
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root)}
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=root)
    assert r.returncode == 0, r.stderr[-3000:]
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for k in a:
        assert torch.equal(a[k], b[k]), k


# ----------------------------------------------------------------------------- issue 13/14 options


class ConvGRU(torch.nn.Module):
    """A user's model (not in the zoo) on 16-bin features: conv -> GRU -> linear mask."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv1d(16, 12, 3, padding=1)
        self.gru = torch.nn.GRU(12, 10, num_layers=2, batch_first=True)
        self.out = torch.nn.Linear(10, 16)

    def forward(self, x):  # x [B, T, 16]
        h = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        return x * torch.sigmoid(self.out(self.gru(h)[0]))


def _user_data():
    g = torch.Generator().manual_seed(1)
    clean = [torch.rand(4, 12, 16, generator=g) for _ in range(6)]
    return [(c + 0.3 * torch.rand(c.shape, generator=g), c) for c in clean]


def _user_loss(model, noisy, clean):
    return torch.nn.functional.mse_loss(model(noisy), clean)


def _channel_compress(model, tmp_path, train: dict, teacher=None, **cfg):
    """Compress `model` on _user_data with coupled channel groups: every ratio accepted
    (tolerance 10), at most half of what remains per round, one fine-tuning step per round
    (unless `cfg` says otherwise)."""
    from secomp.compress import CompressConfig, compress
    from secomp.train import TrainConfig, TrainData

    torch.manual_seed(0)
    loader = _user_data()
    data = TrainData.from_iterable(loader, valid=loader[:2])
    settings = dict(
        groups="channel",
        min_round_fraction=0.0,
        finetune_steps=1,
        tolerance=10.0,
        max_ratio=0.5,
        ratio_step=0.25,
        quality_items=0,
    )
    config = CompressConfig(
        **{**settings, **cfg}, train=TrainConfig(valid_batches=1, amp=False, **train)
    )
    result = compress(
        model, data, config, tmp_path, loss=_user_loss, progress=False, teacher=teacher
    )
    return result, loader


def test_rank_norm_l1_and_l2_prune_different_groups():
    """Column 0 = [1, 1, 1, 1] (L1 4, L2 2), column 1 = [3, 0, 0, 0] (L1 3, L2 3)."""
    lin = torch.nn.Linear(2, 4, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 3.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]))
    t = prunable_tensors(lin)[0]
    full = torch.ones(4, 2, dtype=torch.bool)
    by_l2 = prune_mask(t, lin.weight, full, 0.5, True, "l2")
    by_l1 = prune_mask(t, lin.weight, full, 0.5, True, "l1")
    assert not by_l2[:, 0].any() and by_l2[:, 1].all()
    assert not by_l1[:, 1].any() and by_l1[:, 0].all()


def test_sparse_group_lasso_is_l1_plus_group_lasso():
    from secomp.compress.regularize import regularizer

    model = AllLayers()
    tensors = prunable_tensors(model)
    sgl = regularizer("sparse_group_lasso", tensors, lambda1=1.0, lambda2=0.1)(model)
    want = l1_penalty(model, tensors) + 0.1 * group_lasso_penalty(model, tensors)
    torch.testing.assert_close(sgl, want)
    with pytest.raises(ValueError, match="unknown regularizer"):
        regularizer("l3", tensors)


def test_distillation_term_is_zero_for_the_teacher_and_positive_otherwise():
    from secomp.compress.pipeline import distill_loss, distillation_term

    torch.manual_seed(0)
    model = ConvGRU()
    noisy, clean = _user_data()[0]
    assert float(distillation_term(model, model, noisy)) == 0.0
    teacher = copy.deepcopy(model)
    loss = distill_loss(_user_loss, model, 2.0)  # the teacher is a frozen copy
    assert float(loss(model, noisy, clean)) == pytest.approx(float(_user_loss(model, noisy, clean)))
    with torch.no_grad():
        model.out.weight.add_(0.5)
    d = float(distillation_term(model, teacher, noisy))
    assert d > 0
    gap = float(loss(model, noisy, clean)) - float(_user_loss(model, noisy, clean))
    assert gap == pytest.approx(2.0 * d, rel=1e-5)


def test_channel_groups_with_decay_and_distill_slim_everything_pruned(tmp_path):
    """C2 with coupled channel groups on a user's model: lambda decays 10% per round, the
    distillation term is on, and everything pruned leaves when slimming (exact output)."""
    from secomp.structure.slim import slim_model

    model = ConvGRU()
    result, loader = _channel_compress(
        model,
        tmp_path,
        dict(lr=1e-3, valid_every=1, log_every=1),
        stages=["S", "P"],
        regularizer="sparse_group_lasso",
        reg_lambda=0.5,
        reg_decay=0.9,
        reg_steps=2,
        rounds=2,
        rank_norm="l1",
        distill=1.0,
    )
    rows = {r["unit"]: r for r in result.progress.rounds}
    lam = result.progress.reg_lambda_abs
    for k in (1, 2):
        assert rows[f"P{k}"]["reg_lambda_abs"] == pytest.approx(lam * 0.9**k)
    x = loader[0][0]
    slim, _ = slim_model(result.model.eval(), example=x[:1])
    with torch.inference_mode():
        assert (result.model(x) - slim(x)).abs().max() <= 1e-5
    # pruned conv channels and GRU units are gone from the slim model, not just zero
    kept = int(result.masks["conv.bias"].sum())
    assert (
        kept < 12
        and slim.slim["conv"]["out_index"]
        == torch.nonzero(result.masks["conv.bias"]).flatten().tolist()
    )
    h = 10
    for k in range(2):
        rows = result.masks[f"gru.weight_hh_l{k}"].reshape(3, h, h).any(0).any(1)
        assert slim.slim["gru"]["hidden"][k] <= int(rows.sum()) < h
    assert sum(p.numel() for p in slim.parameters()) < sum(p.numel() for p in model.parameters())


class ConvGRUNorm(ConvGRU):
    """ConvGRU with a LayerNorm on the GRU's output: the norm's statistics read every unit,
    pruned ones included."""

    def __init__(self):
        super().__init__()
        self.norm = torch.nn.LayerNorm(10)

    def forward(self, x):
        h = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        return x * torch.sigmoid(self.out(self.norm(self.gru(h)[0])))


def test_pruned_biases_stay_zero_through_centroid_finetuning(tmp_path):
    """Q trains centroids and every parameter outside a codebook; the biases of pruned channel
    groups are such parameters and must stay zero, or a pruned GRU unit behind a LayerNorm
    emits a constant and slimming keeps it."""
    from secomp.structure.slim import slim_model

    result, loader = _channel_compress(
        ConvGRUNorm(),
        tmp_path,
        dict(lr=1e-2, valid_every=5, log_every=5),
        stages=["P", "Q"],
        rounds=1,
        quant_bits=4,
        centroid_steps=20,
        centroid_lr=1e-3,
    )
    params = dict(result.model.named_parameters())
    pruned = {n: ~m for n, m in result.masks.items() if n.startswith("gru.bias") and (~m).any()}
    assert pruned, "the run pruned no GRU unit"
    for n, off in pruned.items():
        assert (params[n].detach()[off] == 0).all(), n
    x = loader[0][0]
    slim, _ = slim_model(result.model.eval(), example=x[:1])
    with torch.inference_mode():
        assert (result.model(x) - slim(x)).abs().max() <= 1e-5
    h = 10
    dead = ~result.masks["gru.weight_hh_l1"].reshape(3, h, h).any(0).any(1)
    assert dead.any(), "the run pruned no unit of the GRU's last layer"
    assert slim.slim["gru"]["hidden"][1] == h - int(dead.sum())


def test_zero_pruned_groups_zeroes_the_bias_of_a_unit_whose_weights_are_zero():
    """A GRU unit behind a LayerNorm with zero weights but a non-zero bias emits a constant
    (slimming keeps it); zero_pruned_groups zeroes that bias, nothing else, and slimming then
    removes the unit."""
    from secomp.compress.groups import zero_pruned_groups
    from secomp.structure.slim import slim_model

    torch.manual_seed(0)
    model = ConvGRUNorm().eval()
    x = _user_data()[0][0]
    h, u = 10, 3
    gru = model.gru
    with torch.no_grad():
        for k in range(2):
            rows = [g * h + u for g in range(3)]
            getattr(gru, f"weight_ih_l{k}")[rows] = 0
            getattr(gru, f"weight_hh_l{k}")[rows] = 0
            getattr(gru, f"weight_hh_l{k}")[:, u] = 0
        gru.weight_ih_l1[:, u] = 0  # layer 1 reads layer 0's unit u
        model.out.weight[:, u] = 0  # and the output layer reads layer 1's
    others = {n: p.detach().clone() for n, p in model.named_parameters() if "gru.bias" not in n}
    assert slim_model(copy.deepcopy(model), example=x[:1])[0].slim["gru"]["hidden"][1] == h
    assert zero_pruned_groups(model, x[:1]) > 0
    for k in range(2):
        for b in ("bias_ih", "bias_hh"):
            bias = getattr(gru, f"{b}_l{k}").detach().reshape(3, h)
            kept = torch.arange(h) != u
            assert (bias[:, u] == 0).all() and (bias[:, kept] != 0).all()
    for n, p in model.named_parameters():
        if n in others:
            assert torch.equal(p.detach(), others[n]), n
    assert slim_model(model, example=x[:1])[0].slim["gru"]["hidden"] == [h - 1, h - 1]


def test_progress_record_of_an_old_run_round_trips_unchanged(tmp_path):
    """progress.json files written before the record became a dataclass (results/compress/*)
    load as a Progress and are written back byte for byte, so old runs still resume."""
    from secomp.compress.pipeline import Progress

    root = Path(__file__).resolve().parents[1] / "results" / "compress"
    files = sorted(root.glob("*/progress.json"))
    assert root / "crn-c2" / "progress.json" in files
    for f in files:
        text = f.read_text()
        prog = Progress.load(f)
        assert prog.done and prog.rounds
        # the penalty's weight is fixed at S; a run without S (an ablation) may have none
        assert prog.reg_lambda_abs is not None or "S" not in prog.done, f
        assert json.dumps(prog.to_dict(), indent=1) == text, f
        prog.save(tmp_path / "progress.json")
        assert (tmp_path / "progress.json").read_text() == text, f
    # a new record: the keys in the order the pipeline has always written them
    new = Progress(before={"params": 1})
    assert list(new.to_dict()) == ["done", "rounds", "stage_time_s", "before", "stopped"]
    new.reg_lambda_abs = 0.5
    assert list(new.to_dict())[-1] == "reg_lambda_abs"
    # keys this version does not know survive a round trip
    odd = {"done": [], "rounds": [], "before": {}, "stage_time_s": {}, "stopped": False, "x": 1}
    assert Progress.from_dict(odd).to_dict() == odd
    with pytest.raises(ValueError):
        Progress.from_dict({"done": []})


def test_quantization_with_bit_search_clusters_at_the_chosen_widths_and_reuses_them(tmp_path):
    """quant_bits_max: Q clusters each tensor at the width its sensitivity analysis chose,
    records the search (quant_bits_Q.csv, work/Q/bits.json, the Q-kmeans row) and, resumed,
    reads the saved widths instead of searching again."""
    import json
    from types import SimpleNamespace

    from secomp.compress import CompressConfig
    from secomp.compress.pipeline import _quant_bits

    torch.manual_seed(0)
    model = ConvGRUNorm()
    distinct = {
        n: torch.unique(p.detach()[p.detach() != 0]).numel() for n, p in model.named_parameters()
    }
    result, _ = _channel_compress(
        model,
        tmp_path,
        dict(lr=1e-3, valid_every=5, log_every=5),
        stages=["Q"],
        quant_bits=1,
        quant_bits_max=8,
        quant_tolerance=0.01,
        centroid_steps=2,
    )
    bits = json.loads((tmp_path / "work" / "Q" / "bits.json").read_text())
    assert set(bits) == set(result.books) and all(1 <= b <= 8 for b in bits.values())
    assert any(b > 1 for b in bits.values()), "no tensor needed more than 1 bit"
    for name, book in result.books.items():  # k-means at exactly the saved width
        assert book.centroids.numel() == min(2 ** bits[name], distinct[name]), name
    rows = (tmp_path / "quant_bits_Q.csv").read_text().splitlines()
    assert len(rows) == 1 + len(bits)
    kmeans_row = next(r for r in result.progress.rounds if r["unit"] == "Q-kmeans")
    assert kmeans_row["raised_bits"] == {n: b for n, b in bits.items() if b > 1}
    saved = {n: 3 for n in bits}
    (tmp_path / "work" / "Q" / "bits.json").write_text(json.dumps(saved))
    resumed = SimpleNamespace(cfg=CompressConfig(quant_bits=1, quant_bits_max=8), out=tmp_path)
    assert _quant_bits(resumed, "Q") == saved


def test_quantization_widths_are_checked_before_anything_runs():
    """Widths a .secomp codebook cannot hold (over 8 bits), non-integers and a search limit
    below the starting width are refused in one line; an override's tolerance is a float."""
    from secomp.compress.pipeline import _check_choices
    from secomp.compress.presets import load_pipeline

    _, _, cfg = load_pipeline("c1", ["quant_bits_max=8", "quant_tolerance=1e-2"])
    assert cfg.quant_tolerance == 0.01 and isinstance(cfg.quant_tolerance, float)
    _check_choices(cfg)
    for bad in (
        "quant_bits_max=9",
        "quant_bits_max=4",
        "quant_bits_max=8.0",
        "quant_bits_by_kind={conv: 12}",
        "quant_bits=0",
    ):
        _, _, cfg = load_pipeline("c1", [bad])
        with pytest.raises(ValueError, match="quant_bits"):
            _check_choices(cfg)


def test_save_pruned_writes_the_model_before_q_as_a_loadable_file(tmp_path):
    """save_pruned: OUT/pruned.secomp is the model after the last P round (the P / S+P
    ablation variant): it loads, holds exactly the non-zero weights that round recorded, is
    not clustered, and is larger than the quantized result."""
    from secomp.io.format import load_artifact, save_artifact

    result, _ = _channel_compress(
        ConvGRUNorm(),
        tmp_path,
        dict(lr=1e-2, valid_every=5, log_every=5),
        stages=["P", "Q"],
        rounds=2,
        quant_bits=3,
        centroid_steps=2,
        save_pruned=True,
    )
    pruned = load_artifact(tmp_path / "pruned.secomp", model=ConvGRUNorm())
    first_p, last_p = [r for r in result.progress.rounds if r["unit"].startswith("P")]
    assert last_p["nonzero"] < first_p["nonzero"]  # so the file tells the rounds apart
    assert sum(int((p != 0).sum()) for p in pruned.parameters()) == last_p["nonzero"]
    assert last_p["nonzero"] < sum(p.numel() for p in pruned.parameters())
    weights = dict(pruned.named_parameters())["gru.weight_hh_l1"].detach()
    assert len(torch.unique(weights[weights != 0])) > 2**3  # not on a 3-bit codebook
    final = save_artifact(result.model.cpu().eval(), tmp_path / "final.secomp", result.tensors)
    assert final < (tmp_path / "pruned.secomp").stat().st_size


def test_round_unquantized_to_fp16_leaves_codebooks_and_large_values_alone():
    """Biases, norm weights and running statistics are rounded to float16 precision in place;
    clustered weights stay bit-exact, integer buffers untouched, a tensor holding a value
    float16 cannot (|x| > 65504) is skipped."""
    from secomp.compress.quantize import round_unquantized_to_fp16

    torch.manual_seed(0)
    model = AllLayers()
    tensors = prunable_tensors(model)
    masks = full_masks(model, tensors)
    quantize_model(model, tensors, masks, 3)
    with torch.no_grad():
        model.norm.running_mean.copy_(torch.randn(4))
        model.norm.running_var.copy_(torch.rand(4) + 0.5)
        model.norm.num_batches_tracked.fill_(7)
        model.lin.bias[0] = 1e5  # beyond float16's range
    before = {k: v.clone() for k, v in model.state_dict().items()}
    books = {t.name for t in tensors}
    rounded = round_unquantized_to_fp16(model, books)
    after = model.state_dict()
    assert "lin.bias" not in rounded and torch.equal(after["lin.bias"], before["lin.bias"])
    assert not set(rounded) & books
    assert {"c1.bias", "norm.weight", "norm.running_mean", "norm.running_var"} <= set(rounded)
    assert "norm.num_batches_tracked" not in rounded
    for k, v in before.items():
        if k in books or k == "lin.bias" or not v.is_floating_point():
            assert torch.equal(after[k], v), k
        else:
            assert k in rounded, k
            assert torch.equal(after[k], v.half().float()), k
            assert (after[k] - v).abs().max() <= v.abs().max() * 2.0**-11, k
    assert any(not torch.equal(after[k], before[k]) for k in rounded)  # something did round
    assert round_unquantized_to_fp16(model, books) == rounded  # idempotent
    assert all(torch.equal(model.state_dict()[k], after[k]) for k in after)


@pytest.mark.parametrize("vectors", ["fp16", "none"])
def test_q_stage_rounds_the_vectors_to_fp16(tmp_path, vectors):
    """quant_vectors: fp16 rounds every float tensor outside the codebooks at the end of Q;
    the writer stores them `half`, and the file is smaller than with quant_vectors: none."""
    from secomp.io.format import encode_model, read_artifact

    result, _ = _channel_compress(
        ConvGRUNorm(),
        tmp_path,
        dict(lr=1e-3, valid_every=5, log_every=5),
        stages=["Q"],
        quant_bits=3,
        centroid_steps=2,
        quant_vectors=vectors,
    )
    state = result.model.state_dict()
    rest = [k for k, v in state.items() if v.is_floating_point() and k not in result.books]
    assert rest
    exact = [torch.equal(state[k], state[k].half().float()) for k in rest]
    header, _ = read_artifact(encode_model(result.model.cpu(), result.tensors))
    encs = {d["name"]: d["enc"] for d in header["tensors"]}
    final = result.progress.rounds[-1]
    assert final["unit"] == "Q"
    if vectors == "fp16":
        assert all(exact) and final["fp16_tensors"] == len(rest)
        assert "fp16_skipped" not in final
        assert {encs[k] for k in rest} <= {"half", "codebook", "sparse"}
        assert "half" in {encs[k] for k in rest}
    else:
        assert not all(exact) and "fp16_tensors" not in final
        assert "half" not in encs.values()
    for name in result.books:  # the clustered weights keep their float32 centroids
        assert encs[name] == "codebook"


def test_quant_vectors_is_checked():
    from secomp.compress.pipeline import _check_choices
    from secomp.compress.presets import load_pipeline

    for preset in ("c1", "c2", "c2-fast", "c2-sibling", "demo"):
        assert load_pipeline(preset)[2].quant_vectors == "fp16", preset
    _, _, cfg = load_pipeline("c1", ["quant_vectors=none"])
    _check_choices(cfg)
    _, _, cfg = load_pipeline("c1", ["quant_vectors=bf16"])
    with pytest.raises(ValueError, match="quant_vectors"):
        _check_choices(cfg)


def test_round_vectors_recipe_shrinks_a_file_and_keeps_its_codebooks(tmp_path):
    """recipes/round_vectors.py on a version-1 file: a smaller version-2 file, codebook
    tensors bit-identical, every other tensor within float16 rounding of the original."""
    import importlib.util

    from secomp.io.format import read_artifact, save_artifact, split_artifact
    from secomp.models import build_model

    from .test_models import SMALL

    torch.manual_seed(0)
    model = build_model("crn", **SMALL["crn"])
    tensors = prunable_tensors(model)
    quantize_model(model, tensors, full_masks(model, tensors), 4)
    src, dst = tmp_path / "in.secomp", tmp_path / "out.secomp"
    save_artifact(model, src, tensors, version=1)
    path = Path(__file__).resolve().parents[1] / "recipes" / "round_vectors.py"
    spec = importlib.util.spec_from_file_location("round_vectors", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    before, after, rounded = mod.round_file(src, dst)
    assert after == dst.stat().st_size < before == src.stat().st_size
    h0, s0 = read_artifact(src.read_bytes())
    h1, s1 = read_artifact(dst.read_bytes())
    assert h0["format_version"] == 1 and split_artifact(dst.read_bytes()).container == 2
    enc0 = {d["name"]: d["enc"] for d in h0["tensors"]}
    enc1 = {d["name"]: d["enc"] for d in h1["tensors"]}
    kinds = {d["name"]: d.get("kind") for d in h0["tensors"]}
    assert kinds == {d["name"]: d.get("kind") for d in h1["tensors"]}
    assert rounded and "half" in enc1.values()
    for k, v in s0.items():
        if enc0[k] == "codebook":
            assert enc1[k] == "codebook" and torch.equal(s1[k], v), k
        elif v.is_floating_point():
            assert k in rounded and torch.equal(s1[k], v.half().float()), k


def test_compress_fine_tunes_on_the_loss_the_model_was_trained_with(tmp_path):
    from secomp.compress.presets import load_pipeline
    from secomp.compress.run import keep_trained_loss
    from secomp.io.modelio import save_model
    from secomp.models import build_model

    model = build_model("crn", channels=(2, 4), lstm_hidden=8, lstm_layers=1)
    pow_file = save_model(model, tmp_path / "pow.safetensors", {"loss_power": 0.3})
    plain_file = save_model(model, tmp_path / "plain.safetensors")

    _, raw, cfg = load_pipeline("c1")
    note = keep_trained_loss(str(pow_file), raw, cfg)
    assert cfg.train.loss_power == 0.3 and raw["train"]["loss_power"] == 0.3
    assert "loss_power 0.3" in note and "\n" not in note
    # a config that sets the loss wins, and says that it differs
    _, raw, cfg = load_pipeline("c1", ["train.loss_power=1.0"])
    note = keep_trained_loss(str(pow_file), raw, cfg)
    assert cfg.train.loss_power == 1.0 and "as the config says" in note
    # a file that records nothing (a user's own model) keeps the preset's loss, silently
    _, raw, cfg = load_pipeline("c1")
    assert keep_trained_loss(str(plain_file), raw, cfg) is None
    assert cfg.train.loss_power == 1.0 and "loss_power" not in raw.get("train", {})


def test_a_model_pruned_before_keeps_its_zeros_through_q_alone(tmp_path):
    """A model pruned elsewhere (or a run's pruned.secomp) compressed with Q only: its zeros
    are masked from the start, so fine-tuning leaves them zero and the codebooks skip them; a
    tensor that is all zeros keeps a full mask (a zero-initialised layer, not a pruned one)."""
    from secomp.compress.masks import kept_masks

    torch.manual_seed(0)
    model = ConvGRU()
    with torch.no_grad():
        model.conv.weight[::2].zero_()
        model.gru.weight_hh_l0.mul_(torch.rand_like(model.gru.weight_hh_l0) > 0.7)
    zeros = {
        n: p == 0 for n, p in model.named_parameters() if n in ("conv.weight", "gru.weight_hh_l0")
    }
    blank = torch.nn.Linear(3, 2)
    torch.nn.init.zeros_(blank.weight)
    assert bool(kept_masks(blank, prunable_tensors(blank))["weight"].all())
    result, _ = _channel_compress(
        model,
        tmp_path,
        dict(lr=1e-2, valid_every=1, log_every=1),
        stages=["Q"],
        quant_bits=3,
        centroid_steps=3,
    )
    params = dict(result.model.named_parameters())
    for n, z in zeros.items():
        assert bool((params[n][z] == 0).all()), n
        assert not bool(result.masks[n][z].any()), n
        assert bool(result.masks[n][~z].all()), n
        # k-means on the kept weights only: at most 2**3 values besides the zeros
        assert len(torch.unique(params[n][~z])) <= 8, n


def test_distillation_pulls_towards_the_given_teacher(tmp_path):
    """With a teacher, the fine-tuning's distillation target is that model, not the input: a
    teacher whose output is about 0 pulls the pruned model's output towards 0 against the task
    loss (which wants the clean input); with the input's own copy the output moves away."""
    torch.manual_seed(0)
    model = ConvGRU()
    teacher = copy.deepcopy(model)
    with torch.no_grad():
        teacher.out.bias.fill_(-12.0)  # x * sigmoid(-12): about 0
    x = _user_data()[0][0]

    def distance(m):
        with torch.no_grad():
            return float((m(x) - teacher(x)).pow(2).mean())

    start = distance(model)
    train = dict(lr=1e-2, valid_every=100, log_every=100)
    cfg = dict(stages=["P"], rounds=1, finetune_steps=30, distill=100.0)
    own, _ = _channel_compress(copy.deepcopy(model), tmp_path / "own", train, **cfg)
    given, _ = _channel_compress(model, tmp_path / "given", train, teacher=teacher, **cfg)
    assert distance(given.model) < 0.5 * start
    assert distance(given.model) < 0.5 * distance(own.model)
    with pytest.raises(ValueError, match="distill is 0"):
        _channel_compress(ConvGRU(), tmp_path / "off", train, teacher=teacher, stages=["P"])


def test_compress_refuses_a_teacher_of_another_architecture_before_reading_data(tmp_path):
    from secomp.compress.presets import load_pipeline
    from secomp.compress.run import load_teacher
    from secomp.io.modelio import save_model
    from secomp.models import build_model

    student = build_model("crn", channels=(2, 4), lstm_hidden=8, lstm_layers=1)
    wider_model = build_model("crn", channels=(2, 4), lstm_hidden=16, lstm_layers=1)
    wider = save_model(wider_model, tmp_path / "wider.safetensors")
    same = save_model(student, tmp_path / "same.safetensors")
    _, _, cfg = load_pipeline("c1", [f"teacher={wider}", "distill=20"])
    with pytest.raises(ValueError, match="not the input's architecture") as e:
        load_teacher(cfg, student, torch.device("cpu"))
    assert "\n" not in str(e.value) and "'lstm_hidden': 16" in str(e.value)
    _, _, cfg = load_pipeline("c1", [f"teacher={same}", "distill=0"])
    with pytest.raises(ValueError, match="distill is 0"):
        load_teacher(cfg, student, torch.device("cpu"))
    _, _, cfg = load_pipeline("c1", [f"teacher={same}", "distill=20"])
    teacher = load_teacher(cfg, student, torch.device("cpu"))
    assert not teacher.training
    assert all(torch.equal(a, b) for a, b in zip(teacher.parameters(), student.parameters()))


def test_zeros_outside_include_stay_zero_while_the_included_tensors_are_pruned(tmp_path):
    """A pruned model pruned further in some tensors only (`include`): the zeros of the tensors
    left out are kept through the fine-tuning, not trained back."""
    torch.manual_seed(0)
    model = ConvGRU()
    with torch.no_grad():
        model.conv.weight[::2].zero_()
    zeros = model.conv.weight == 0
    gru_before = int((model.gru.weight_hh_l0 != 0).sum())
    train = dict(lr=1e-2, valid_every=100, log_every=100)
    result, _ = _channel_compress(
        model, tmp_path, train, groups="tensor", include=["gru.*"], stages=["P"], rounds=1,
        finetune_steps=20,
    )
    conv = dict(result.model.named_parameters())["conv.weight"]
    assert bool((conv[zeros] == 0).all()) and bool((conv[~zeros] != 0).all())
    assert int((result.model.gru.weight_hh_l0 != 0).sum()) < gru_before  # it did prune
    # the round's record counts what it prunes, not the kept zeros beside it
    assert result.progress.rounds[0]["removed_fraction"] == pytest.approx(0.5, abs=0.02)
