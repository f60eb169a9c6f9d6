"""The quality metrics: one registry, so that a new metric is one function.

Each metric maps the real and the generated set's features (``{"f768", "f2048"}`` arrays, one
row an image) to named values. The registry says how each is printed, from how many images a
side it means something, and whether training tracks it (``--fid-every``: its columns in
``history.csv`` and a panel of ``figures/fid.png``). ``compute_all`` is what ``evaluate.py
fid`` and ``score`` report; ``cxr_gan.gan.tracking`` computes the tracked ones.

    @register_metric("my_metric", label="My metric", columns=("my_metric",), digits=4)
    def my_metric(real, fake):
        return {"my_metric": ...}
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping

import numpy as np

from cxr_gan.fid.distances import frechet_distance, kid, prdc, statistics

Features = Mapping[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class QualityMetric:
    """One registered metric.

    Attributes:
        name: Its key.
        label: How output and figures name it.
        columns: The result keys it writes.
        compute: ``(real, fake) -> {column: value}``.
        digits: Decimals printed.
        meaningful_size: Below this many images a side, the figure is biased or noisy (a
            warning says so); 0 for none.
        min_images: At or below this many images a side it is not computed (columns None).
        history: Tracked while training: result column -> ``history.csv`` column (empty: not).
        with_spread: Its two columns are a value and its spread, printed ``label: v +- s``.
    """

    name: str
    label: str
    columns: tuple[str, ...]
    compute: Callable[[Features, Features], dict[str, float]]
    digits: int = 4
    meaningful_size: int = 0
    min_images: int = 0
    history: tuple[tuple[str, str], ...] = ()
    with_spread: bool = False


METRICS: dict[str, QualityMetric] = {}


def register_metric(name: str, **fields) -> Callable:
    """Decorator: registers ``compute`` as the metric ``name`` (``QualityMetric`` fields)."""
    def register(compute):
        METRICS[name] = QualityMetric(name=name, compute=compute, **fields)
        return compute

    return register


def _fid(dims: str):
    def compute(real: Features, fake: Features) -> dict[str, float]:
        mu1, s1 = statistics(real[f"f{dims}"])
        mu2, s2 = statistics(fake[f"f{dims}"])
        return {f"fid_{dims}": frechet_distance(mu1, s1, mu2, s2)}

    return compute


# FID-768: Mixed_6e average-pooled, the paper's choice for fewer than 2048 images.
register_metric("fid_768", label="FID-768", columns=("fid_768",), meaningful_size=768,
                history=(("fid_768", "fid_768"),))(_fid("768"))
# FID-2048: pool3, the usual one.
register_metric("fid_2048", label="FID-2048", columns=("fid_2048",),
                meaningful_size=2048)(_fid("2048"))


@register_metric("kid", label="KID", columns=("kid_mean", "kid_std"), digits=5,
                 meaningful_size=100, history=(("kid_mean", "kid"),), with_spread=True)
def _kid(real: Features, fake: Features) -> dict[str, float]:
    """Unbiased cubic-kernel MMD^2 on pool3 features over 100 subsets (Binkowski et al.)."""
    mean, std = kid(real["f2048"], fake["f2048"])
    return {"kid_mean": mean, "kid_std": std}


@register_metric("prdc", label="precision, recall, density, coverage",
                 columns=("precision", "recall", "density", "coverage"), digits=3, min_images=5)
def _prdc(real: Features, fake: Features) -> dict[str, float]:
    """Kynkaanniemi et al. 2019 (k = 3) and Naeem et al. 2020 (k = 5) on pool3 features."""
    return prdc(real["f2048"], fake["f2048"])


def compute_all(real: Features, fake: Features, names=None) -> dict[str, float | None]:
    """Every registered metric (or those ``names``); a metric whose ``min_images`` a side is
    not exceeded gets None in its columns."""
    n = min(len(real["f2048"]), len(fake["f2048"]))
    result: dict[str, float | None] = {}
    for metric in (METRICS[name] for name in (names or METRICS)):
        if n > metric.min_images:
            result.update(metric.compute(real, fake))
        else:
            result.update(dict.fromkeys(metric.columns))
    return result


def tracked() -> list[QualityMetric]:
    """The metrics training computes with ``--fid-every``."""
    return [metric for metric in METRICS.values() if metric.history]


def history_columns() -> tuple[str, ...]:
    """The ``history.csv`` columns of the tracked metrics."""
    return tuple(column for metric in tracked() for _, column in metric.history)
