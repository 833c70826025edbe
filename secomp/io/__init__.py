"""What secomp reads and writes on disk.

    format.py      the `.secomp` file (compressed model): writer, checked reader
    bits.py        the bit-level encodings `format` uses (fixed-width packing, sparse positions)
    modelio.py     model files: safetensors + JSON config, `.secomp` files, bundled models
    checkpoint.py  atomic training checkpoints (tensors and plain values, weights_only)
    onnx.py        ONNX export (offline and streaming) and parity checks

Built on `secomp.models` and `secomp.structure`; `format` sits below `modelio` and never
imports it.
"""
