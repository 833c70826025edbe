"""The one place secomp knows model structure.

    layers.py   one handler per layer type: widths, weight groups, slicing, MACs, slimming
    graph.py    trace a model once on an example input: who reads each output channel/unit
    groups.py   the paper's per-tensor groups, and coupled channel/unit groups from the trace
    slim.py     the slimmer: zero groups -> a smaller dense model computing the same function
    macs.py     the MAC counter (dense and non-zero multiply-accumulates)
    slim_conv.py, slim_rnn.py   the layers slimming leaves

Pruner, regularizer, sensitivity analysis, quantizer, .secomp writer, slimmer, MAC counter and
`secomp info` all read structure through this package.
"""

from .graph import Structure, default_example, trace
from .groups import ChannelGroupSet, PrunableTensor, channel_groups, prunable_tensors
from .layers import handler_for, layer_handler

__all__ = [
    "ChannelGroupSet",
    "PrunableTensor",
    "Structure",
    "channel_groups",
    "default_example",
    "handler_for",
    "layer_handler",
    "prunable_tensors",
    "trace",
]
