"""`secomp info`: what a model file holds, and where every byte of it goes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .io.format import MAGIC, decode_state, entropy_bound_bytes, parse_artifact, split_artifact
from .io.modelio import load_model, resolve
from .models import build_model, model_config
from .structure.macs import count_macs
from .structure.slim import SlimError, slim_model


def _tensor_rows(path: Path) -> tuple[list[dict[str, Any]], dict[str, int], float]:
    """Per-tensor accounting of a .secomp file: (rows, header sizes, entropy bound bytes). The
    header sizes: `format_version`, `overhead_bytes` (magic, length, header as stored on disk,
    checksum), `header_bytes` (as stored: compressed in version 2) and `header_json_bytes`."""
    data = path.read_bytes()
    parts = split_artifact(data, str(path))
    header, payload = parse_artifact(data, str(path), parts)
    state = decode_state(header, payload, str(path))
    sizes = {
        "format_version": header["format_version"],
        "overhead_bytes": len(MAGIC) + 4 + len(parts.stored) + 32,
        "header_bytes": len(parts.stored),
        "header_json_bytes": len(parts.text),
    }
    rows, bound = [], 0.0
    for d in header["tensors"]:
        streams = [payload[o : o + n] for o, n in d["streams"]]
        b = entropy_bound_bytes(d, streams)
        bound += b
        t = state[d["name"]]
        row = {
            "name": d["name"],
            "kind": d.get("kind", ""),
            "shape": d["shape"],
            "nonzero": int((t != 0).sum()),
            "encoding": d["enc"],
            "bytes": sum(map(len, streams)),
            "entropy_bound_bytes": round(b, 1),
        }
        if d["enc"] == "codebook":
            row.update(
                k=d["k"],
                bits_per_index=d["indices"]["bits"],
                index_coder=d["indices"]["coder"],
                codebook_bytes=len(streams[0]),
                index_bytes=len(streams[1]),
            )
        if "positions" in d:
            pos = d["positions"]
            row.update(
                positions=pos["kind"],
                position_coder=pos["coder"],
                position_bytes=len(streams[-1] if d["enc"] == "codebook" else streams[0]),
            )
        rows.append(row)
    return rows, sizes, bound


def model_info(name_or_path: str | Path, macs: bool = True) -> dict[str, Any]:
    path = resolve(name_or_path)
    model = load_model(path)
    cfg = model_config(model)
    params = sum(p.numel() for p in model.parameters())
    nonzero = sum(int((p != 0).sum()) for p in model.parameters())
    size = path.stat().st_size
    info: dict[str, Any] = {
        "path": str(path),
        "format": "secomp" if path.suffix == ".secomp" else "safetensors",
        "arch": cfg["arch"],
        "hparams": cfg["hparams"],
        "params": params,
        "nonzero_params": nonzero,
        "file_bytes": size,
        "file_mib": size / 2**20,
        "dense_fp32_bytes": params * 4,
        "dense_fp32_mib": params * 4 / 2**20,
        "compression_ratio": params * 4 / size,
    }
    if cfg.get("slim"):  # the ratio is against the model before slimming, not the slim one
        base = build_model(cfg["arch"], **cfg["hparams"])
        base_params = sum(p.numel() for p in base.parameters())
        info["unslimmed_params"] = base_params
        info["compression_ratio"] = base_params * 4 / size
    if path.suffix == ".secomp":
        rows, sizes, bound = _tensor_rows(path)
        overhead = sizes["overhead_bytes"]
        info.update(sizes)
        info["tensors"] = rows
        info["accounted_bytes"] = overhead + sum(r["bytes"] for r in rows)
        info["entropy_bound_bytes"] = round(bound + overhead, 1)
        info["above_entropy_bound"] = size / (bound + overhead) - 1
    if macs:
        m = count_macs(model)
        info["macs_4s"] = {"dense": m["dense"], "nonzero": m["nonzero"], "slimmed": None}
        if getattr(model, "slim", None):
            info["macs_4s"]["slimmed"] = m["dense"]
        elif nonzero < params:  # only pruning leaves enough for slimming to be worth a trace
            try:  # what `secomp slim` would leave: dense MACs of the slimmed network
                info["macs_4s"]["slimmed"] = count_macs(slim_model(model)[0])["dense"]
            except SlimError:
                pass
    return info


def format_info(info: dict[str, Any]) -> str:
    lines = [
        f"model       {info['path']} ({info['format']})",
        f"arch        {info['arch']} {info['hparams']}",
        f"params      {info['params']:,} ({info['nonzero_params']:,} non-zero)",
        f"file        {info['file_bytes']:,} bytes ({info['file_mib']:.3f} MiB)",
        f"dense fp32  {info['dense_fp32_bytes']:,} bytes ({info['dense_fp32_mib']:.3f} MiB); "
        f"ratio {info['compression_ratio']:.1f}x"
        + (
            f" (vs the unslimmed {info['unslimmed_params']:,} params x 4 bytes)"
            if "unslimmed_params" in info
            else ""
        ),
    ]
    if "macs_4s" in info:
        m = info["macs_4s"]
        lines.append(
            f"MACs (4 s)  {m['dense'] / 1e9:.3f} G dense, {m['nonzero'] / 1e9:.3f} G non-zero"
            + ("" if m["slimmed"] is None else f", {m['slimmed'] / 1e9:.3f} G slimmed")
        )
    if "tensors" in info:
        lines.append(
            f"entropy bound {info['entropy_bound_bytes']:,.0f} bytes; file is "
            f"{100 * info['above_entropy_bound']:.1f}% above it; header+checksum "
            f"{info['overhead_bytes']:,} bytes"
        )
        zipped = info["format_version"] >= 2
        lines.append(
            f"format      version {info['format_version']}; header {info['header_bytes']:,} "
            f"bytes on disk"
            + (f" (zlib of {info['header_json_bytes']:,} bytes of JSON)" if zipped else " (JSON)")
        )
        lines.append(
            f"{'tensor':40} {'shape':>16} {'non-zero':>10} {'enc':>8} {'bits':>4} {'bytes':>10}"
        )
        for r in info["tensors"]:
            lines.append(
                f"{r['name'][:40]:40} {'x'.join(map(str, r['shape'])):>16} {r['nonzero']:>10,} "
                f"{r['encoding']:>8} {r.get('bits_per_index', ''):>4} {r['bytes']:>10,}"
            )
        lines.append(
            f"{'total (tensors + header + checksum)':40} {'':>16} {'':>10} {'':>8} {'':>4} "
            f"{info['accounted_bytes']:>10,}"
        )
    return "\n".join(lines)
