"""The machine a figure was measured on (low layer: standard library only, so benchmarks can
name the CPU without importing Keras)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_description(cpuinfo: Path | str = "/proc/cpuinfo") -> str:
    """The CPU as /proc/cpuinfo names it, with family and model (the model name alone, e.g.
    "AMD EPYC", does not tell Zen 2 from Zen 4), and the CPU count."""
    fields: dict[str, str] = {}
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine()
    return (f"{name} family {fields.get('cpu family', '?')} model {fields.get('model', '?')}, "
            f"{os.cpu_count()} CPUs")
