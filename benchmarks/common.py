"""Small helpers shared by the benchmark scripts: timing, and writing a record."""

from __future__ import annotations

import json
import statistics
import time
from typing import Callable, Iterable


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 0) -> float:
    """Median wall time of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def append_records(path: str | None, records: Iterable[dict]) -> None:
    """Appends each record as one JSON line to ``path`` (nothing when ``path`` is None)."""
    if not path:
        return
    with open(path, "a", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")


def key_values(record: dict, keys: Iterable[str] | None = None) -> str:
    """``key=value`` pairs of ``record`` (floats to 4 significant digits), on one line."""
    chosen = list(keys) if keys is not None else list(record)
    return " ".join(f"{k}={record[k]:.4g}" if isinstance(record[k], float) else f"{k}={record[k]}"
                    for k in chosen)
