"""The layer a slimmed LSTM/GRU stack becomes (see secomp.structure.slim).

`nn.LSTM(n_in, H, L)` keeps every layer at H units; after structured pruning, layers lose
different units, so the slimmed stack is a list of single-layer RNNs of their own widths, with
index gathers where an input feature or a unit is no longer read:

    x[..., in_index[0]] -> layer 0 -> [..., in_index[1]] -> layer 1 -> ... -> last layer
    -> scattered back to `out_width` features (features of removed units are 0).

It has the call signature of nn.LSTM/nn.GRU with batch_first=True (returns (output, None)),
so the model that held the original stack runs unchanged. Initial state is always zero.
"""

from __future__ import annotations

import torch
from torch import nn


class SlimRNN(nn.Module):
    def __init__(
        self,
        mode: str,
        in_width: int,
        in_index: list[list[int]],
        hidden: list[int],
        out_index: list[int],
        out_width: int,
    ):
        super().__init__()
        if mode not in ("lstm", "gru"):
            raise ValueError(f"mode must be lstm or gru, not {mode}")
        if not (len(in_index) == len(hidden) and len(out_index) == hidden[-1]):
            raise ValueError("slim spec: one in_index per layer, one out_index per last unit")
        cls = nn.LSTM if mode == "lstm" else nn.GRU
        self.layers = nn.ModuleList(
            cls(len(idx), h, batch_first=True) for idx, h in zip(in_index, hidden)
        )
        # Index maps are part of the config (model_config's "slim"), not of the weights.
        widths = [in_width] + list(hidden[:-1])
        self.gathers = [idx != list(range(w)) for idx, w in zip(in_index, widths)]
        for k, idx in enumerate(in_index):
            self.register_buffer(f"in_index_{k}", torch.tensor(idx, dtype=torch.long), False)
        # out = cat([h, 0])[..., gather]: feature j comes from unit gather[j], or from the
        # appended zero where its unit was removed.
        gather = [hidden[-1]] * out_width
        for unit, j in enumerate(out_index):
            gather[j] = unit
        self.scatter = gather != list(range(out_width))
        self.register_buffer("out_gather", torch.tensor(gather, dtype=torch.long), False)

    def forward(self, x: torch.Tensor, hx=None) -> tuple[torch.Tensor, None]:
        if hx is not None:
            raise ValueError("SlimRNN runs from a zero initial state only")
        for k, rnn in enumerate(self.layers):
            if self.gathers[k]:
                x = x.index_select(-1, getattr(self, f"in_index_{k}"))
            x = rnn(x)[0]
        if self.scatter:
            x = torch.cat([x, x.new_zeros(*x.shape[:-1], 1)], -1).index_select(-1, self.out_gather)
        return x, None
