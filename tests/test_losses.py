import pytest
import torch
import torch.nn.functional as F

from secomp.losses import complex_mse, magnitude_mse
from secomp.models.registry import build_model


def test_power_one_is_the_papers_mse():
    g = torch.Generator().manual_seed(0)
    est, ref = torch.rand(2, 5, 7, generator=g), torch.rand(2, 5, 7, generator=g)
    assert torch.equal(magnitude_mse(est, ref), F.mse_loss(est, ref))
    est_ri, ref_ri = torch.randn(2, 2, 5, 7, generator=g), torch.randn(2, 2, 5, 7, generator=g)
    assert torch.equal(complex_mse(est_ri, ref_ri), F.mse_loss(est_ri, ref_ri))


def test_compression_weights_quiet_bins_up():
    # the same 10% error in a loud bin (10) and in a quiet bin (0.01)
    ref = torch.tensor([10.0, 0.01])
    loud, quiet = ref * torch.tensor([1.1, 1.0]), ref * torch.tensor([1.0, 1.1])
    ratio = {p: float(magnitude_mse(loud, ref, p) / magnitude_mse(quiet, ref, p)) for p in (1, 0.3)}
    assert ratio[1] > 1e5  # plain MSE: the quiet bin's error is invisible
    assert ratio[0.3] < ratio[1] / 1e3


def test_compressed_losses_zero_at_the_target_and_finite_gradients_at_silence():
    g = torch.Generator().manual_seed(1)
    ri = torch.randn(1, 2, 4, 6, generator=g)
    assert float(complex_mse(ri, ri, 0.3)) == 0.0
    est = torch.zeros(1, 2, 4, 6, requires_grad=True)
    complex_mse(est, ri, 0.3).backward()
    assert torch.isfinite(est.grad).all() and est.grad.abs().sum() > 0
    mag = torch.zeros(1, 4, 6, requires_grad=True)
    magnitude_mse(mag, ri.abs()[:, 0], 0.3).backward()
    assert torch.isfinite(mag.grad).all() and mag.grad.abs().sum() > 0


def test_models_take_the_power():
    g = torch.Generator().manual_seed(2)
    noisy, clean = (torch.randn(1, 8000, generator=g) * 0.05 for _ in range(2))
    small_tcnn = {"channels": [2, 2, 2, 2, 2, 2, 2], "tcm_hidden": 8, "tcm_repeats": 1}
    for arch, hp in (
        ("crn", {"channels": [4, 4, 4, 4, 4], "lstm_hidden": 8}),
        ("gcrn", {}),
        ("tcnn", small_tcnn),
    ):
        model = build_model(arch, **hp)
        plain, compressed = model.loss(noisy, clean), model.loss(noisy, clean, power=0.3)
        assert torch.isfinite(compressed) and not torch.isclose(plain, compressed)


def test_time_model_power_is_the_complex_loss_of_its_output_spectra():
    from secomp.losses import complex_mse
    from secomp.stft import stft

    model = build_model("tcnn", channels=[2, 2, 2, 2, 2, 2, 2], tcm_hidden=8, tcm_repeats=1)
    g = torch.Generator().manual_seed(4)
    noisy, clean = (torch.randn(2, 4000, generator=g) * 0.05 for _ in range(2))
    model.eval()  # BatchNorm on running statistics: the two forwards below give one output
    est, ref = stft(model(noisy)), stft(clean)
    expected = complex_mse(
        torch.stack([est.real, est.imag], 1), torch.stack([ref.real, ref.imag], 1), 0.3
    )
    assert torch.allclose(model.loss(noisy, clean, power=0.3), expected)
    assert torch.allclose(model.loss(noisy, clean), F.mse_loss(model(noisy), clean))


def test_train_loss_power_changes_the_loss_and_refuses_models_without_spectra():
    from secomp.train import _default_loss, model_loss

    crn = build_model("crn", channels=[4, 4, 4, 4, 4], lstm_hidden=8)
    assert model_loss(crn, 1.0) is _default_loss
    g = torch.Generator().manual_seed(3)
    noisy, clean = (torch.randn(1, 8000, generator=g) * 0.05 for _ in range(2))
    assert torch.equal(model_loss(crn, 0.3)(crn, noisy, clean), crn.loss(noisy, clean, power=0.3))
    with pytest.raises(ValueError, match="loss_power 0.3"):
        model_loss(build_model("sep"), 0.3)
    with pytest.raises(ValueError, match="loss_power 1.5"):
        model_loss(crn, 1.5)
