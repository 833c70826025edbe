"""The Python API on a model that is not in the zoo, with the user's own loss and data."""

import torch
import torch.nn.functional as F
from torch import nn

from secomp.compress import CompressConfig, compress
from secomp.io.format import load_artifact, save_artifact
from secomp.train import TrainConfig, TrainData


class TinyMasker(nn.Module):
    """A user's model: GRU mask estimator on 64-bin features (not registered with secomp)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(64, 32, 3, padding=2)
        self.gru = nn.GRU(32, 48, batch_first=True)
        self.out = nn.Linear(48, 64)

    def forward(self, x):  # x [B, T, 64]
        h = self.conv(x.transpose(1, 2))[:, :, : x.shape[1]].relu()
        h, _ = self.gru(h.transpose(1, 2))
        return x * torch.sigmoid(self.out(h))


def my_loss(model, noisy, clean):
    return F.mse_loss(model(noisy), clean)


def test_compress_user_model_in_a_few_lines(tmp_path):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    clean = [torch.rand(4, 20, 64, generator=g) for _ in range(8)]
    loader = [(c + 0.3 * torch.rand(c.shape, generator=g), c) for c in clean]
    model = TinyMasker()
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for noisy, c in loader * 10:  # the user's own training
        opt.zero_grad()
        my_loss(model, noisy, c).backward()
        opt.step()

    data = TrainData.from_iterable(loader, valid=loader[:2])
    cfg = CompressConfig(
        reg_steps=10,
        rounds=2,
        finetune_steps=10,
        centroid_steps=10,
        max_ratio=0.5,
        quality_items=0,
        train=TrainConfig(lr=1e-3, valid_every=5, log_every=5, amp=False),
    )
    result = compress(model, data, cfg, tmp_path, loss=my_loss, progress=False)

    nonzero = sum(int((p != 0).sum()) for p in result.model.parameters())
    total = sum(p.numel() for p in result.model.parameters())
    assert nonzero < 0.8 * total
    assert [r["unit"] for r in result.progress.rounds][:3] == ["S", "P1", "P2"]
    size = save_artifact(result.model, tmp_path / "user.secomp", result.tensors)
    assert size < 4 * total / 4
    back = load_artifact(tmp_path / "user.secomp", model=TinyMasker())
    x = loader[0][0]
    with torch.no_grad():
        assert torch.equal(result.model.eval()(x), back.eval()(x))
