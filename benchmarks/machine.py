"""What machine a benchmark ran on."""

from __future__ import annotations

import os
import platform


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> dict:
    return {"cpu": cpu_name(), "cores": os.cpu_count() or 1, "python": platform.python_version()}
