"""Matplotlib figures. Each one carries a provenance line: data, split, preset, seed, weights.

Figures are rendered with the non-interactive Agg backend and written atomically as PNG.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
import numpy as np  # noqa: E402

from cxr_gan.runs import atomic_write_bytes  # noqa: E402


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
        grid[r * (height + 1):r * (height + 1) + height, c * (width + 1):c * (width + 1) + width] = image
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


def plot_gan_history(history: Sequence[Mapping[str, float]], provenance: str,
                     path: Path | str) -> None:
    """The paper's Fig. 6: discriminator and generator losses and accuracies per epoch."""
    epochs = [row["epoch"] for row in history]
    figure, (loss_axis, acc_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key in ("d_loss_real", "d_loss_fake", "g_loss"):
        loss_axis.plot(epochs, [row[key] for row in history], label=key)
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("binary cross-entropy")
    loss_axis.set_title("losses")
    loss_axis.legend()
    for key in ("d_acc_real", "d_acc_fake"):
        acc_axis.plot(epochs, [row[key] for row in history], label=key)
    acc_axis.set_ylim(-0.02, 1.02)
    acc_axis.set_xlabel("epoch")
    acc_axis.set_ylabel("discriminator accuracy")
    acc_axis.set_title("discriminator accuracy")
    acc_axis.legend()
    figure.suptitle("DCGAN training (cf. paper Fig. 6)")
    figure.text(0.5, -0.02, provenance, ha="center", fontsize=7, wrap=True)
    _save(figure, path)
