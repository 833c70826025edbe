"""Command-line entry points of the compression pipeline."""

from __future__ import annotations


def add_compress_commands(sub, common) -> None:
    """Registers `secomp compress` (added with the compression core)."""
    return None
