"""Run by test_compress.py under torchrun (2 processes, gloo): masks hold under DDP and the ranks
end with identical weights although each saw different batches."""

import sys
from pathlib import Path

import torch
import torch.distributed as dist

from secomp.compress.groups import prunable_tensors
from secomp.compress.masks import apply_masks
from secomp.train import TrainConfig, TrainData, TrainHooks, fit, setup_distributed
from tests.toy import AllLayers

out = Path(sys.argv[1])
setup_distributed()
rank = dist.get_rank()
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
fit(
    model,
    data,
    cfg,
    out / "run",
    TrainHooks(after_step=lambda m: apply_masks(m, masks)),
    progress=False,
)
params = dict(model.named_parameters())
for t in tensors:
    assert (params[t.name][~masks[t.name]] == 0).all(), t.name
torch.save({k: v.detach() for k, v in model.named_parameters()}, out / f"rank{rank}.pt")
dist.destroy_process_group()
