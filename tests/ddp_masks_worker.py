"""Run by test_compress.py under torchrun (2 processes, gloo): masks hold under DDP and the ranks
end with identical weights although each saw different batches."""

import sys
from pathlib import Path

import torch
import torch.distributed as dist

from secomp.train import setup_distributed
from tests.toy import train_masked

out = Path(sys.argv[1])
setup_distributed()
rank = dist.get_rank()
model, tensors, masks = train_masked(out / "run", rank)
params = dict(model.named_parameters())
for t in tensors:
    assert (params[t.name][~masks[t.name]] == 0).all(), t.name
torch.save({k: v.detach() for k, v in model.named_parameters()}, out / f"rank{rank}.pt")
dist.destroy_process_group()
