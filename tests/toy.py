"""A model with every layer type secomp prunes, for tests."""

import torch
import torch.nn.functional as F
from torch import nn


class AllLayers(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(2, 4, 3, padding=1)
        self.c2 = nn.Conv2d(1, 4, (2, 3), padding=(0, 1))
        self.t2 = nn.ConvTranspose2d(4, 2, (1, 3), padding=(0, 1))
        self.t1 = nn.ConvTranspose1d(4, 2, 3, padding=1)
        self.lstm = nn.LSTM(8, 6, num_layers=2, batch_first=True)
        self.gru = nn.GRU(6, 5, batch_first=True)
        self.lin = nn.Linear(5, 3)
        self.norm = nn.BatchNorm1d(4)

    def forward(self, x):  # x [B, 2, T]
        h = F.relu(self.norm(self.c1(x)))  # [B, 4, T]
        g = self.c2(h.unsqueeze(1)[:, :, :, :])  # [B, 4, 3, T]
        g = self.t2(g)  # [B, 2, 3, T]
        h2 = self.t1(h)  # [B, 2, T]
        feat = torch.cat([g.mean(2), h2, h[:, :4]], 1).transpose(1, 2)  # [B, T, 8]
        y, _ = self.lstm(feat)
        y, _ = self.gru(y)
        return self.lin(y)

    def loss(self, x, target):
        return F.mse_loss(self(x), target)


def train_masked(out_dir, rank: int = 0):
    """Train AllLayers for 6 steps with random 50% masks re-applied after every step (under
    torchrun each rank sees its own batches). Returns (model, tensors, masks)."""
    from secomp.compress.groups import prunable_tensors
    from secomp.compress.masks import apply_masks
    from secomp.train import TrainConfig, TrainData, TrainHooks, fit

    torch.manual_seed(0)
    model = AllLayers()
    tensors = prunable_tensors(model)
    masks = {t.name: torch.rand(t.shape) > 0.5 for t in tensors}
    g = torch.Generator().manual_seed(100 + rank)
    batches = [
        (torch.randn(3, 2, 10, generator=g), torch.randn(3, 10, 3, generator=g)) for _ in range(4)
    ]
    data = TrainData.from_iterable(batches, batches[:1])
    cfg = TrainConfig(steps=6, valid_every=3, log_every=3, lr=1e-2, amp=False)
    hooks = TrainHooks(after_step=lambda m: apply_masks(m, masks))
    fit(model, data, cfg, out_dir, hooks, progress=False)
    return model, tensors, masks
