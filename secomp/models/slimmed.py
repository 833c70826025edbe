"""Rebuild a slimmed model from its config: each module named in the slim spec is replaced by
the narrower layer `secomp slim` made (secomp/structure/slim.py); weights come from the file.

Spec entries: recurrent stacks map to SlimRNN arguments (they have a "mode"); convolutions map
to {"kind": "conv", ...SlimConv arguments}; linear layers to {"kind": "linear", ...SlimLinear
arguments}.
"""

from __future__ import annotations

from torch import nn

from ..structure.layers import replace_module
from ..structure.slim_conv import SlimConv, SlimLinear
from ..structure.slim_rnn import SlimRNN


def slim_layer(args: dict) -> nn.Module:
    kind = args.get("kind")
    rest = {k: v for k, v in args.items() if k != "kind"}
    if kind == "conv":
        return SlimConv(**rest)
    if kind == "linear":
        return SlimLinear(**rest)
    return SlimRNN(**args)


def apply_slim(model: nn.Module, spec: dict[str, dict]) -> nn.Module:
    """Replace each layer named in `spec` by an uninitialised slim layer of those widths."""
    model.slim = spec
    for name, args in spec.items():
        replace_module(model, name, slim_layer(args))
    return model
