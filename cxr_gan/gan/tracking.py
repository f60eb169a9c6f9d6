"""Quality while training: FID-768 and KID of a fixed generated set, and TensorBoard logs.

``FIDTracker`` scores the same noise vectors at every evaluation (image ``i`` from noise seeded
with ``(seed, i)``, as ``train_gan.py generate`` does), so the curve shows the generator
changing, not the sample. Real statistics are those of the files the GAN trains on, at their
stored resolution (the standard FID protocol), cached by ``cxr_gan.fid.features``. Generated
images take the path of a written PNG (uint8 gray -> the FID preprocessing).
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from cxr_gan.cli import OptionError


class FIDTracker:
    """FID-768 and KID of ``n_images`` generated images against the training images.

    Args:
        real_paths: The training image files.
        n_images: Generated images a score uses.
        seed: Seeds the fixed noise.
        cache_dir: Cache of the FID weights and real statistics.
    """

    def __init__(self, real_paths: Sequence[Path], n_images: int, seed: int,
                 cache_dir: Path | str):
        from cxr_gan.fid.features import FeatureExtractor

        self.n_images = n_images
        self.seed = seed
        self.extractor = FeatureExtractor(cache_dir=cache_dir)
        print(f"FID tracking: features of the {len(real_paths)} training images (cached after "
              "the first run)...", file=sys.stderr, flush=True)
        self.real_features, _ = self.extractor.files_statistics(real_paths, "training images")

    def score(self, generator) -> dict[str, float]:
        """The tracked metrics' ``history.csv`` columns (``cxr_gan.fid.metrics.tracked``) and
        ``fid_seconds`` of ``generator`` on the fixed noise."""
        from PIL import Image

        from cxr_gan.fid.metrics import compute_all, tracked
        from cxr_gan.gan.generate import generate_uint8

        start = time.perf_counter()
        images = generate_uint8(generator, self.n_images, self.seed)
        print(f"FID tracking: features of {self.n_images} generated images...",
              file=sys.stderr, flush=True)
        features = self.extractor.from_images([Image.fromarray(im, mode="L") for im in images],
                                              verbose=0)
        metrics = tracked()
        result = compute_all(self.real_features, features, [m.name for m in metrics])
        row = {column: result[key] for metric in metrics for key, column in metric.history}
        return {**row, "fid_seconds": time.perf_counter() - start}


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # An import hook that hides the package.
        return False


def check_tensorboard_available() -> None:
    """Raises ``OptionError`` where TensorFlow, which writes the event files, is absent."""
    missing = [name for name in ("tensorflow", "tensorboard") if not _installed(name)]
    if missing:
        raise OptionError(
            f"--tensorboard writes TensorFlow event files and {' and '.join(missing)} is not "
            "installed here (under KERAS_BACKEND=jax TensorFlow is optional): install "
            "tensorflow-cpu and tensorboard (requirements.txt), or leave out --tensorboard "
            "(history.csv and figures/ hold the same numbers).")


class TensorBoardWriter:
    """Epoch scalars (losses, accuracies, ADA's p, FID, KID) and sample grids for TensorBoard,
    in ``RUN/tensorboard``. Works under either Keras backend where TensorFlow is installed."""

    def __init__(self, run_dir: Path):
        check_tensorboard_available()
        import tensorflow as tf

        self._tf = tf
        self._writer = tf.summary.create_file_writer(str(run_dir / "tensorboard"))

    def scalars(self, row: Mapping[str, float], step: int) -> None:
        with self._writer.as_default():
            for name, value in row.items():
                if name not in ("epoch", "steps") and value is not None:
                    self._tf.summary.scalar(name, float(value), step=step)
        self._writer.flush()

    def image_grid(self, name: str, grid: np.ndarray, step: int) -> None:
        """``grid``: uint8 ``(h, w)``."""
        with self._writer.as_default():
            self._tf.summary.image(name, grid[None, :, :, None], step=step)
        self._writer.flush()
