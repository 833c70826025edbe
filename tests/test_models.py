import pytest
import torch

from secomp.models import MODELS, build_model, register
from secomp.models.base import MagnitudeModel

PAPER_PARAMS = {
    "crn": (17_579_459, 0.01),
    "gcrn": (9_771_340, 0.01),
    "lstm": (21_820_000, 0.01),
    "tcnn": (5_100_000, 0.05),
}
SMALL = {
    "crn": {"channels": [4, 8, 8, 8, 8], "lstm_hidden": 32},
    "gcrn": {"channels": [4, 8, 8, 8, 8], "lstm_hidden": 32},
    "lstm": {"hidden": 32, "layers": 2},
    "tcnn": {"channels": [4, 4, 8, 8, 8, 8, 8], "tcm_hidden": 16, "tcm_repeats": 1},
}


@pytest.mark.parametrize("name", sorted(PAPER_PARAMS))
def test_parameter_counts(name):
    n = sum(p.numel() for p in build_model(name).parameters())
    target, tol = PAPER_PARAMS[name]
    assert abs(n - target) / target <= tol, n


@pytest.mark.parametrize("name", sorted(SMALL))
def test_causal(name):
    """Output samples before P - 320 do not change when input from sample P on changes."""
    torch.manual_seed(0)
    model = build_model(name, **SMALL[name]).eval()
    x = torch.randn(1, 16000) * 0.1
    y = x.clone()
    p = 9600
    y[:, p:] = torch.randn(1, 16000 - p)
    with torch.no_grad():
        a, b = model(x), model(y)
    assert a.shape == x.shape
    assert torch.allclose(a[:, : p - 320], b[:, : p - 320], atol=1e-6)
    assert not torch.allclose(a[:, p:], b[:, p:])


@pytest.mark.parametrize("name", sorted(SMALL))
def test_loss_trains(name):
    torch.manual_seed(0)
    model = build_model(name, **SMALL[name])
    noisy, clean = torch.randn(2, 8000) * 0.1, torch.randn(2, 8000) * 0.1
    loss = model.loss(noisy, clean)
    loss.backward()
    assert torch.isfinite(loss) and any(p.grad.abs().sum() > 0 for p in model.parameters())


def test_user_model_registration():
    @register("test_gain")
    class Gain(MagnitudeModel):
        def __init__(self, g: float = 0.5):
            super().__init__()
            self.w = torch.nn.Linear(161, 161)

        def core(self, mag):
            return mag * torch.sigmoid(self.w(mag))

    try:
        assert MODELS["test_gain"] is Gain
        m = build_model("test_gain", g=0.3)
        assert m.hparams == {"g": 0.3}
        with pytest.raises(KeyError, match="unknown model"):
            build_model("nope")
    finally:  # the registry is process-wide: later tests must not see the test's model
        MODELS.pop("test_gain")
    assert "test_gain" not in MODELS
