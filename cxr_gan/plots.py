"""Matplotlib figures. Each one carries a provenance line: data, split, preset, seed, weights.

Figures are rendered with the non-interactive Agg backend and written atomically as PNG.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

from cxr_gan.io import atomic_write_bytes  # noqa: E402


def _save(figure, path: Path | str) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())


def image_grid(images: np.ndarray, columns: int) -> np.ndarray:
    """Tiles ``(n, h, w)`` uint8 images into one ``(rows*h, columns*w)`` array (1 px gaps)."""
    n, height, width = images.shape
    rows = int(np.ceil(n / columns))
    grid = np.full((rows * (height + 1) - 1, columns * (width + 1) - 1), 255, dtype=np.uint8)
    for index, image in enumerate(images):
        r, c = divmod(index, columns)
        top, left = r * (height + 1), c * (width + 1)
        grid[top:top + height, left:left + width] = image
    return grid


def plot_samples(real: np.ndarray, generated: np.ndarray, title: str, provenance: str,
                 path: Path | str) -> None:
    """The paper's Fig. 5: real images beside generated ones (both ``(n, h, w)`` uint8)."""
    columns = int(np.ceil(np.sqrt(len(generated))))
    figure, axes = plt.subplots(1, 2, figsize=(10, 5.6))
    for axis, images, name in ((axes[0], real, "real"), (axes[1], generated, "generated")):
        axis.imshow(image_grid(images, columns), cmap="gray", vmin=0, vmax=255)
        axis.set_title(name)
        axis.axis("off")
    figure.suptitle(title)
    figure.text(0.5, 0.01, provenance, ha="center", fontsize=7, wrap=True)
    _save(figure, path)


def plot_generated(images: np.ndarray, title: str, provenance: str, path: Path | str) -> None:
    """A grid of generated images only (``(n, h, w)`` uint8): safe to publish where the data's
    own images may not be."""
    grid = image_grid(images, 8)
    # The figure takes the grid's shape (and an inch for the title and the provenance line),
    # so that a short grid is not centred in empty space above the provenance.
    figure, axis = plt.subplots(figsize=(8, 8 * grid.shape[0] / grid.shape[1] + 1.0))
    axis.imshow(grid, cmap="gray", vmin=0, vmax=255)
    axis.set_title(title)
    axis.axis("off")
    axis.text(0.5, -0.02, provenance, transform=axis.transAxes, ha="center", va="top",
              fontsize=7, wrap=True)
    _save(figure, path)


def plot_gan_history(history: Sequence[Mapping[str, float]], provenance: str,
                     path: Path | str) -> None:
    """The paper's Fig. 6: discriminator and generator losses and accuracies per epoch."""
    epochs = [row["epoch"] for row in history]
    figure, (loss_axis, acc_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key in ("d_loss_real", "d_loss_fake", "g_loss"):
        loss_axis.plot(epochs, [row[key] for row in history], label=key)
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("loss (binary cross-entropy unless the run's loss is another)")
    loss_axis.set_title("losses")
    loss_axis.legend()
    for key in ("d_acc_real", "d_acc_fake"):
        acc_axis.plot(epochs, [row[key] for row in history], label=key)
    acc_axis.set_ylim(-0.02, 1.02)
    acc_axis.set_xlabel("epoch")
    acc_axis.set_ylabel("discriminator accuracy")
    acc_axis.set_title("discriminator accuracy")
    acc_axis.legend()
    figure.suptitle("GAN training (cf. paper Fig. 6; the preset is in the line below)")
    figure.text(0.5, -0.02, provenance, ha="center", fontsize=7, wrap=True)
    _save(figure, path)


def plot_fid_history(history: Sequence[Mapping[str, float]], provenance: str,
                     path: Path | str) -> None:
    """Each tracked metric (``cxr_gan.fid.metrics.tracked``: one panel each) of the fixed
    generated set at the epochs where it was computed."""
    from cxr_gan.fid.metrics import tracked

    panels = [(metric.label, column) for metric in tracked() for _, column in metric.history]
    rows = [row for row in history if row.get(panels[0][1]) is not None]
    epochs = [row["epoch"] for row in rows]
    figure, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    for axis, (label, column), color in zip(axes[0], panels, ("tab:blue", "tab:orange",
                                                              "tab:green", "tab:red")):
        axis.plot(epochs, [row[column] for row in rows], marker="o", color=color)
        axis.set_ylabel(f"{label} against the training images")
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
    figure.suptitle("Quality while training (lower is better)")
    figure.text(0.5, -0.02, provenance, ha="center", fontsize=7, wrap=True)
    _save(figure, path)


@dataclasses.dataclass(frozen=True)
class MemorizationPlot:
    """Distances to the nearest training image, in feature and pixel space, for generated and
    held-out real images; the near-copy thresholds; the closest (fake, train, distance) pairs."""

    fake_feature: np.ndarray
    holdout_feature: np.ndarray
    fake_pixel: np.ndarray
    holdout_pixel: np.ndarray
    feature_threshold: float | None  # None: the near-copy rule was not applied (small set).
    pixel_threshold: float | None
    closest_pairs: Sequence[tuple[np.ndarray, np.ndarray, float]]
    provenance: str


def plot_memorization_distances(data: MemorizationPlot, path: Path | str) -> None:
    """Histograms of nearest-training-image distances: generated vs held-out real images."""
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for axis, fake, hold, threshold, name in (
            (axes[0], data.fake_feature, data.holdout_feature, data.feature_threshold,
             "FID features (2048-d)"),
            (axes[1], data.fake_pixel, data.holdout_pixel, data.pixel_threshold,
             "pixels (64x64 RMS)")):
        bins = np.linspace(0, max(np.max(fake), np.max(hold)) * 1.02, 50)
        axis.hist(hold, bins=bins, alpha=0.6, density=True, label="held-out real -> train")
        axis.hist(fake, bins=bins, alpha=0.6, density=True, label="generated -> train")
        if threshold is not None:
            axis.axvline(threshold, color="k", linestyle="--", label="near-copy threshold")
        axis.set_xlabel(f"distance to nearest training image, {name}")
        axis.legend(fontsize=8)
    figure.suptitle("Memorisation check")
    figure.text(0.5, -0.03, data.provenance, ha="center", fontsize=7, wrap=True)
    _save(figure, path)


def plot_closest_pairs(data: MemorizationPlot, path: Path | str) -> None:
    """The generated images closest to the training set, above their nearest training image."""
    pairs = data.closest_pairs
    figure, axes = plt.subplots(2, len(pairs), figsize=(1.6 * len(pairs), 3.6))
    axes = np.asarray(axes).reshape(2, -1)
    for column, (fake, train, distance) in enumerate(pairs):
        axes[0, column].imshow(fake, cmap="gray", vmin=0, vmax=255)
        axes[0, column].set_title(f"d={distance:.1f}", fontsize=7)
        axes[1, column].imshow(train, cmap="gray", vmin=0, vmax=255)
        axes[0, column].axis("off")
        axes[1, column].axis("off")
    figure.suptitle("Closest generated images (top) and their nearest training image (bottom)")
    figure.text(0.5, -0.02, data.provenance, ha="center", fontsize=6, wrap=True)
    _save(figure, path)


@dataclasses.dataclass(frozen=True)
class RocCurves:
    """``(label, fpr, tpr)`` of each run, and what produced them."""

    curves: Sequence[tuple[str, np.ndarray, np.ndarray]]
    provenance: str
    negative: str = "NORMAL"
    positive: str = "PNEUMONIA"


@dataclasses.dataclass(frozen=True)
class RocPanels:
    """One-vs-rest ROC curves: ``(class name, [(label, fpr, tpr), ...])`` per class."""

    panels: Sequence[tuple[str, Sequence[tuple[str, np.ndarray, np.ndarray]]]]
    provenance: str


def plot_roc_panels(data: RocPanels, path: Path | str) -> None:
    """One panel per class: each run's one-vs-rest ROC curve of that class."""
    n = len(data.panels)
    figure, axes = plt.subplots(1, n, figsize=(4.2 * n, 4.4), squeeze=False)
    for axis, (name, curves) in zip(axes[0], data.panels):
        for label, fpr, tpr in curves:
            axis.plot(fpr, tpr, label=label)
        axis.plot([0, 1], [0, 1], color="gray", linestyle=":")
        axis.set_xlabel(f"false positive rate (other classes called {name})")
        axis.set_ylabel(f"true positive rate ({name} found)")
        axis.set_title(f"{name} vs rest")
        axis.legend(fontsize=6, loc="lower right")
    figure.text(0.5, -0.02, data.provenance, ha="center", fontsize=6, wrap=True)
    _save(figure, path)


def plot_roc_curves(data: RocCurves, path: Path | str) -> None:
    """The paper's Fig. 8: every run's ROC curve on one plot."""
    figure, axis = plt.subplots(figsize=(6.5, 6))
    for label, fpr, tpr in data.curves:
        axis.plot(fpr, tpr, label=label)
    axis.plot([0, 1], [0, 1], color="gray", linestyle=":")
    axis.set_xlabel(f"false positive rate ({data.negative} called {data.positive})")
    axis.set_ylabel(f"true positive rate ({data.positive} found)")
    axis.set_title("ROC curves (cf. paper Fig. 8)")
    axis.legend(fontsize=7, loc="lower right")
    figure.text(0.5, -0.02, data.provenance, ha="center", fontsize=6, wrap=True)
    _save(figure, path)


@dataclasses.dataclass(frozen=True)
class LearningCurves:
    """Rows of ``cxr_gan.study.report.arm_rows`` (one per size and arm) and the metrics shown,
    one panel each."""

    rows: Sequence[Mapping]
    keys: Sequence[str]
    provenance: str


# The report's metric keys as a reader knows them (the key "auc" is the ROC AUC, not the
# paper's "AUC", which is the balanced accuracy).
CURVE_LABELS = {"accuracy": "accuracy", "balanced_accuracy": 'balanced accuracy ("AUC")',
                "auc": "ROC AUC"}


def plot_learning_curves(data: LearningCurves, path: Path | str) -> None:
    """Each metric against training-set size (log x), one line per arm, its 95 % interval
    shaded."""
    n = len(data.keys)
    figure, axes = plt.subplots(1, n, figsize=(5.2 * n, 4.4), squeeze=False)
    methods = sorted({row["method"] for row in data.rows})
    for axis, key in zip(axes[0], data.keys):
        for method in methods:
            rows = sorted((r for r in data.rows if r["method"] == method),
                          key=lambda r: r["training_images"])
            x = [r["training_images"] for r in rows]
            line, = axis.plot(x, [100 * r[key] for r in rows], marker="o", label=method)
            axis.fill_between(x, [100 * r[f"{key}_low"] for r in rows],
                              [100 * r[f"{key}_high"] for r in rows], color=line.get_color(),
                              alpha=0.15)
        sizes = sorted({r["training_images"] for r in data.rows})
        axis.set_xscale("log")
        # Ticks at the study's sizes, not at powers of ten, so that each point reads as its size.
        axis.set_xticks(sizes, [str(size) for size in sizes])
        axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        axis.set_xlabel("training images (log scale)")
        label = CURVE_LABELS.get(key, key.replace("_", " "))
        axis.set_ylabel(f"{label} (%)")
        axis.set_title(label)
        axis.legend(fontsize=7, loc="lower right")
    # va="top" below the axes: a wrapped provenance grows downwards, clear of the axis labels.
    figure.text(0.5, -0.02, data.provenance, ha="center", va="top", fontsize=6, wrap=True)
    _save(figure, path)
