"""LSTM baseline: 3 unidirectional layers of 1024 units on 161-bin magnitudes, a linear layer to
161 outputs (21.82 M parameters at the default size).

Decision: the linear output is a sigmoid magnitude mask (signal approximation), and the input is
log-compressed magnitude, because a plain LSTM has no normalisation to absorb the input level.
"""

from __future__ import annotations

import torch
from torch import nn

from ..stft import N_BINS
from ..structure.layers import recurrent
from .base import MagnitudeModel
from .causal import State, rnn_step
from .registry import register


@register("lstm")
class LSTMEnhancer(MagnitudeModel):
    def __init__(self, hidden: int = 1024, layers: int = 3, n_bins: int = N_BINS):
        super().__init__()
        self.lstm = nn.LSTM(n_bins, hidden, layers, batch_first=True)
        self.out = nn.Linear(hidden, n_bins)

    def core(self, mag: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(torch.log(mag + 1e-4))
        return mag * torch.sigmoid(self.out(h))

    def initial_state(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero (h, c), each [layers, batch, hidden]: the state before the first frame."""
        rnn = recurrent(self.lstm)
        if rnn is None or not rnn.has_cell(self.lstm):
            raise TypeError("a slimmed LSTM model runs whole utterances only (no state input)")
        w = self.lstm.weight_hh_l0
        shape = (self.lstm.num_layers, batch, self.lstm.hidden_size)
        return w.new_zeros(shape), w.new_zeros(shape)

    def core_step(
        self, mag: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Frames [B, T, 161] (any T >= 1) and the state after the frames before them:
        (estimate, h, c). An utterance fed in chunks gives what `core` gives on all of it."""
        y, (h, c) = self.lstm(torch.log(mag + 1e-4), (h, c))
        return mag * torch.sigmoid(self.out(y)), h, c

    def stream_step(self, mag: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """Frames [B, T, 161] (any T >= 1) and the state after the frames before them (None:
        the first frames) -> (estimate [B, T, 161], new state). State: `h`, `c` [layers, B,
        hidden] (a slimmed stack: `h0`, `c0`, ... per layer, models/causal.py)."""
        new: State = {}
        y = rnn_step(self.lstm, torch.log(mag + 1e-4), "", state, new)
        return mag * torch.sigmoid(self.out(y)), new
