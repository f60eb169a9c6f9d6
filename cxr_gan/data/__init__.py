"""Images on disk -> checked arrays, the Kermany layout and splits, the synthetic demo data."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from cxr_gan.io import cache_dir, is_synthetic


@dataclasses.dataclass(frozen=True)
class DataSource:
    """Where a run's images come from, and whether they are the synthetic demo phantoms."""

    root: Path
    synthetic: bool


def resolve_data(data: Path | str | None, cache: Path | str | None = None) -> DataSource:
    """``--data`` as given, or (absent) the synthetic phantoms, made once in the cache folder."""
    if data is None:
        from cxr_gan.data.phantoms import ensure_phantom_dataset

        return DataSource(ensure_phantom_dataset(cache_dir(cache)), synthetic=True)
    return DataSource(Path(data), synthetic=is_synthetic(data))
