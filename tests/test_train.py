import signal
import time

import pytest
import torch

from secomp.io.checkpoint import load_checkpoint
from secomp.io.modelio import trained_loss_power

from .conftest import run_secomp

TINY = [
    "model=crn",
    "hparams={channels: [4, 8, 8, 8, 8], lstm_hidden: 32}",
    "batch_size=2",
    "mix.segment_s=1.0",
    "valid_batches=1",
    "log_every=2",
    "lr=1e-3",
    "amp=false",
]


def _train(demo_data, out, *extra, resume=False, popen=False, nproc=1):
    args = ["train", "--data", demo_data, "--out", out, "--quiet", *TINY, *extra]
    return run_secomp(args + (["--resume"] if resume else []), popen=popen, nproc=nproc)


def test_kill_and_resume_gives_identical_weights(demo_data, tmp_path):
    steps = ["steps=40", "valid_every=4"]
    _train(demo_data, tmp_path / "a", *steps)
    proc = _train(demo_data, tmp_path / "b", *steps, popen=True)
    ck = tmp_path / "b" / "ckpt.pt"
    t0 = time.time()
    while not ck.exists() and time.time() - t0 < 300:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = load_checkpoint(ck)["step"]
    assert killed_at < 40, "the run finished before it could be killed"
    _train(demo_data, tmp_path / "b", *steps, resume=True)
    a = load_checkpoint(tmp_path / "a" / "ckpt.pt")
    b = load_checkpoint(ck)
    assert a["step"] == b["step"] == 40
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert (tmp_path / "b" / "loss.png").exists()
    rows = (tmp_path / "b" / "log.csv").read_text().splitlines()
    assert rows[0].startswith("step,loss,valid_loss,lr,time_s")


def test_ddp_two_processes_gloo(demo_data, tmp_path):
    _train(demo_data, tmp_path / "ddp", "steps=4", "valid_every=2", nproc=2)
    _train(demo_data, tmp_path / "one", "steps=4", "valid_every=2")
    a = load_checkpoint(tmp_path / "ddp" / "ckpt.pt")
    b = load_checkpoint(tmp_path / "one" / "ckpt.pt")
    assert a["step"] == 4 and (tmp_path / "ddp" / "model.safetensors").exists()
    # rank 1 saw other batches: averaged gradients give other weights than one process alone
    assert any(not torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_existing_run_is_never_overwritten(demo_data, tmp_path):
    _train(demo_data, tmp_path / "r", "steps=2", "valid_every=2")
    before = (tmp_path / "r" / "ckpt.pt").read_bytes()
    with pytest.raises(AssertionError, match="--resume"):
        _train(demo_data, tmp_path / "r", "steps=2", "valid_every=2")
    assert (tmp_path / "r" / "ckpt.pt").read_bytes() == before


def test_init_starts_from_given_weights_and_refuses_other_shapes(demo_data, tmp_path):
    from safetensors.torch import load_file

    _train(demo_data, tmp_path / "a", "steps=4", "valid_every=2")
    start = tmp_path / "a" / "model.safetensors"
    # lr 0: the fine-tuning run cannot move the weights (BatchNorm statistics still move)
    _train(demo_data, tmp_path / "ft", "steps=2", "valid_every=2", "lr=0", f"init={start}")
    a, ft = load_file(start), load_file(tmp_path / "ft" / "model.safetensors")
    stats = ("running_mean", "running_var", "num_batches_tracked")
    weights = [k for k in a if not k.endswith(stats)]
    assert a.keys() == ft.keys() and len(weights) > 10
    assert all(torch.equal(a[k], ft[k]) for k in weights)
    with pytest.raises(AssertionError, match="do not fit"):
        _train(
            demo_data,
            tmp_path / "bad",
            "steps=2",
            f"init={start}",
            "hparams={channels: [4, 8, 8, 8, 8], lstm_hidden: 16}",
        )
    assert not (tmp_path / "bad" / "model.safetensors").exists()


def test_recalibrate_batchnorm_averages_batch_statistics():
    """Running statistics become the plain mean of the per-batch statistics (not the momentum
    average of the last few), momentum and mode are restored, weights do not move."""
    from torch import nn

    from secomp.train import recalibrate_batchnorm

    class Toy(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm1d(3)

        def loss(self, noisy, clean):
            return (self.bn(noisy) - clean).pow(2).mean()

    torch.manual_seed(0)
    batches = [(torch.randn(8, 3) * (1 + i) + i, torch.zeros(8, 3)) for i in range(5)]
    model = Toy().eval()
    weight = model.bn.weight.clone()
    assert recalibrate_batchnorm(model, batches) == 1
    means = torch.stack([x.mean(0) for x, _ in batches]).mean(0)
    variances = torch.stack([x.var(0, unbiased=True) for x, _ in batches]).mean(0)
    assert torch.allclose(model.bn.running_mean, means, atol=1e-5)
    assert torch.allclose(model.bn.running_var, variances, atol=1e-4)
    assert model.bn.momentum == 0.1 and not model.training
    assert torch.equal(model.bn.weight, weight)
    assert recalibrate_batchnorm(nn.Sequential(nn.Linear(2, 2)), batches) == 0


def test_loss_power_reaches_the_training_loss(demo_data, tmp_path):
    steps = ["steps=4", "valid_every=2", "log_every=1"]
    _train(demo_data, tmp_path / "plain", *steps)
    _train(demo_data, tmp_path / "pow", *steps, "loss_power=0.3")

    def losses(run):
        rows = (tmp_path / run / "log.csv").read_text().splitlines()[1:]
        return [float(r.split(",")[1]) for r in rows]

    # the model file records the loss it was trained on (secomp compress fine-tunes on it)
    assert trained_loss_power(tmp_path / "pow" / "model.safetensors") == 0.3
    assert trained_loss_power(tmp_path / "plain" / "model.safetensors") == 1.0
    plain, compressed = losses("plain"), losses("pow")
    assert all(torch.isfinite(torch.tensor(compressed)))
    # same seed, same batches: only the loss differs (compressed spectra are larger numbers)
    assert plain[0] != compressed[0]
    # resuming a run under another loss_power would compare losses of two scales
    before = (tmp_path / "plain" / "ckpt.pt").read_bytes()
    with pytest.raises(AssertionError, match="loss_power"):
        _train(demo_data, tmp_path / "plain", "steps=8", "valid_every=2", "loss_power=0.3",
               resume=True)
    assert (tmp_path / "plain" / "ckpt.pt").read_bytes() == before
    # a model without spectra (the separator's permutation-invariant loss) is refused before any
    # data is read, and so is a power outside (0, 1]
    for model, power in (("sep", "0.3"), ("tcnn", "1.5")):
        r = run_secomp(["train", "--data", tmp_path / "no-such-corpus", "--out", tmp_path / "t",
                        f"model={model}", f"loss_power={power}"], check=False)
        assert r.returncode != 0 and f"loss_power {power}" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr


def test_adamw_decays_weights_decoupled_from_the_gradient():
    """`optimizer: adamw` (configs/train/sep-v7.yaml) shrinks each weight by lr * weight_decay
    per step whatever the gradient; `adam` with the same decay adds it to the gradient instead,
    so a zero gradient moves every weight by about lr."""
    from secomp.train import TrainConfig, make_optimizer

    for name in ("adamw", "adam"):
        model = torch.nn.Linear(4, 3)
        before = model.weight.detach().clone()
        opt = make_optimizer(model, TrainConfig(optimizer=name, lr=1e-2, weight_decay=0.1))
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        opt.step()
        after = model.weight.detach()
        if name == "adamw":
            torch.testing.assert_close(after, before * (1 - 1e-2 * 0.1))
        else:
            torch.testing.assert_close((before - after).abs(), torch.full_like(before, 1e-2),
                                       atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer(torch.nn.Linear(2, 2), TrainConfig(optimizer="sgd"))
