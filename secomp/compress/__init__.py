"""Compression: sparse regularization, sensitivity analysis, iterative pruning, k-means
quantization (method.md sections 2-3). The Python API:

    from secomp.compress import CompressConfig, compress
    result = compress(model, data, CompressConfig(...), "out/", loss=my_loss)
"""

from .groups import PrunableTensor, prunable_tensors
from .pipeline import CompressConfig, CompressResult, compress

__all__ = ["CompressConfig", "CompressResult", "PrunableTensor", "compress", "prunable_tensors"]
