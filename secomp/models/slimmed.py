"""Rebuild a slimmed model from its config: each module named in the slim spec is replaced by
the narrower layer `secomp slim` made (secomp/artifact/slim.py); weights come from the file.

Spec entries: recurrent stacks map to SlimRNN arguments (they have a "mode"); convolutions map
to {"kind": "conv", ...SlimConv arguments}.
"""

from __future__ import annotations

from torch import nn

from .slim_conv import SlimConv
from .slim_rnn import SlimRNN

_REPLACEABLE = (nn.LSTM, nn.GRU, SlimRNN, nn.modules.conv._ConvNd, SlimConv)


def slim_layer(args: dict) -> nn.Module:
    if args.get("kind") == "conv":
        return SlimConv(**{k: v for k, v in args.items() if k != "kind"})
    return SlimRNN(**args)


def apply_slim(model: nn.Module, spec: dict[str, dict]) -> nn.Module:
    """Replace each layer named in `spec` by an uninitialised slim layer of those widths."""
    model.slim = spec
    for name, args in spec.items():
        replace_module(model, name, slim_layer(args))
    return model


def replace_module(model: nn.Module, name: str, new: nn.Module) -> None:
    """Put `new` where the recurrent or convolution layer `name` (dotted module name) is."""
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    if not isinstance(getattr(parent, attr, None), _REPLACEABLE):
        raise ValueError(f"slim spec names {name}, which is not a recurrent or convolution layer")
    setattr(parent, attr, new)
