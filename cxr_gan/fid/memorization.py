"""Does the GAN hand out copies of training images? Nearest training image of each fake.

For every generated image we find its nearest training image twice:
- in FID-feature space (2048-d pool3 features, Euclidean distance), which sees content;
- in pixel space (64x64 gray, root-mean-square difference of values in [0, 1]), which sees
  near-identical pixels, the privacy-relevant kind of copy.

Threshold rule (``near-copy``): a generated image is flagged when its distance to the nearest
training image is below the ``percentile``-th percentile (default 1) of the same distance for
real *held-out* images of the class, in either space. Held-out images are genuinely new images
of the same population; a generated image closer to the training set than 99 % of them is
closer than a new radiograph would plausibly be, which is what copying looks like. The rule
adapts to the data (near-duplicate radiographs of one patient are common in Kermany's set) and
needs no hand-set constant. With no held-out folder, a seeded random 20 % of the training
images is held out and compared with the other 80 % (slightly larger distances, so slightly
more flags: conservative).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image
from sklearn.neighbors import NearestNeighbors

from cxr_gan.io import write_csv, write_json

PIXEL_SIZE = 64
HOLDOUT_FRACTION = 0.2


def nearest_neighbours(query: np.ndarray, reference: np.ndarray):
    """Index and Euclidean distance of each query row's nearest reference row (float64)."""
    index = NearestNeighbors(n_neighbors=1, algorithm="brute").fit(
        np.asarray(reference, np.float64))
    distances, indices = index.kneighbors(np.asarray(query, np.float64))
    return indices[:, 0], distances[:, 0]


def pixel_vectors(images: Sequence[Image.Image]) -> np.ndarray:
    """64x64 gray pixels in [0, 1], scaled so that Euclidean distance = RMS difference."""
    rows = [np.asarray(im.convert("L").resize((PIXEL_SIZE, PIXEL_SIZE),
                                              Image.Resampling.BILINEAR), np.float64).ravel()
            for im in images]
    return np.stack(rows) / 255.0 / PIXEL_SIZE


@dataclasses.dataclass(frozen=True)
class Points:
    """One image set in both spaces: FID features (2048-d) and pixel vectors."""

    features: np.ndarray
    pixels: np.ndarray

    def subset(self, rows: np.ndarray) -> "Points":
        return Points(self.features[rows], self.pixels[rows])


@dataclasses.dataclass(frozen=True)
class Distances:
    """Nearest-training-image distances of the fakes and of the held-out baseline."""

    nearest_train: np.ndarray
    fake_feature: np.ndarray
    fake_pixel: np.ndarray
    holdout_feature: np.ndarray
    holdout_pixel: np.ndarray
    feature_threshold: float
    pixel_threshold: float
    baseline: str

    @property
    def flags(self) -> np.ndarray:
        """Near-copy: closer than the threshold in either space."""
        return (self.fake_feature < self.feature_threshold) | \
            (self.fake_pixel < self.pixel_threshold)


def memorization_distances(train: Points, fake: Points, holdout: Points | None,
                           percentile: float, seed: int,
                           holdout_name: str = "held-out folder") -> Distances:
    """Distances and thresholds of the check (module docstring). Without ``holdout``, a seeded
    ``HOLDOUT_FRACTION`` of ``train`` is held out and compared with the rest."""
    if holdout is not None:
        base = train
        baseline = f"{holdout_name} vs all training images"
    else:
        order = np.random.default_rng(seed).permutation(len(train.features))
        n_hold = max(1, int(round(HOLDOUT_FRACTION * len(order))))
        holdout, base = train.subset(order[:n_hold]), train.subset(order[n_hold:])
        baseline = (f"random {n_hold} training images (seed {seed}) vs the other "
                    f"{len(order) - n_hold}")
    _, hold_feature = nearest_neighbours(holdout.features, base.features)
    _, hold_pixel = nearest_neighbours(holdout.pixels, base.pixels)
    nearest, fake_feature = nearest_neighbours(fake.features, train.features)
    _, fake_pixel = nearest_neighbours(fake.pixels, train.pixels)
    return Distances(
        nearest_train=nearest, fake_feature=fake_feature, fake_pixel=fake_pixel,
        holdout_feature=hold_feature, holdout_pixel=hold_pixel,
        feature_threshold=float(np.percentile(hold_feature, percentile)),
        pixel_threshold=float(np.percentile(hold_pixel, percentile)), baseline=baseline)


def _quantiles(values: np.ndarray) -> dict:
    return {q: float(np.percentile(values, q)) for q in (1, 5, 50)}


def summarize(distances: Distances, train_dir, fake_dir, n_train: int, n_fake: int,
              percentile: float, weights_sha256: str) -> dict:
    """``memorization_summary.json``: thresholds, counts, quantiles, provenance."""
    return {
        "train": str(train_dir), "fake": str(fake_dir), "n_train": n_train,
        "n_fake": n_fake, "baseline": distances.baseline, "percentile": percentile,
        "feature_threshold": distances.feature_threshold,
        "pixel_threshold": distances.pixel_threshold,
        "near_copies": int(distances.flags.sum()),
        "fake_feature_distance_quantiles": _quantiles(distances.fake_feature),
        "holdout_feature_distance_quantiles": _quantiles(distances.holdout_feature),
        "fake_pixel_distance_quantiles": _quantiles(distances.fake_pixel),
        "holdout_pixel_distance_quantiles": _quantiles(distances.holdout_pixel),
        "features": "inception-2015-12-05 pool3 (2048-d), Euclidean",
        "pixels": f"{PIXEL_SIZE}x{PIXEL_SIZE} gray, RMS difference in [0, 1]",
        "weights_sha256": weights_sha256,
    }


def _load(paths: Sequence[Path]) -> list[Image.Image]:
    images = []
    for path in paths:
        with Image.open(path) as image:
            image.load()
            images.append(image.copy())
    return images


def _read_set(extractor, folder) -> tuple[Points, list[Path], list[Image.Image]]:
    # Features come from the statistics cache when the folder was seen before; the paths are
    # those actually read (unreadable files are skipped there, with a warning).
    features, meta = extractor.folder_statistics(folder)
    paths = [Path(p) for p in meta["paths"]]
    images = _load(paths)
    return Points(features["f2048"], pixel_vectors(images)), paths, images


def _figure_data(distances: Distances, fake_images, train_images, summary: dict):
    from cxr_gan.plots import MemorizationPlot

    closest = np.argsort(distances.fake_feature)[:8]
    pairs = [(np.asarray(fake_images[i].convert("L").resize((96, 96))),
              np.asarray(train_images[distances.nearest_train[i]].convert("L").resize((96, 96))),
              distances.fake_feature[i]) for i in closest]
    provenance = (f"train: {summary['train']} (n={summary['n_train']}) | fake: {summary['fake']} "
                  f"(n={summary['n_fake']}) | baseline: {summary['baseline']}")
    return MemorizationPlot(distances.fake_feature, distances.holdout_feature,
                            distances.fake_pixel, distances.holdout_pixel,
                            distances.feature_threshold, distances.pixel_threshold, pairs,
                            provenance)


def memorization_check(train_dir: Path | str, fake_dir: Path | str, out_dir: Path | str,
                       holdout_dir: Path | str | None = None, percentile: float = 1.0,
                       seed: int = 0, extractor=None) -> dict:
    """Writes ``memorization.csv``, a summary, a distance plot and a closest-pairs grid.

    Returns:
        The summary dict (thresholds, counts, baseline quantiles, provenance).
    """
    from cxr_gan.fid.features import FeatureExtractor
    from cxr_gan.plots import plot_closest_pairs, plot_memorization_distances

    extractor = extractor or FeatureExtractor()
    out_dir = Path(out_dir)
    train, train_paths, train_images = _read_set(extractor, train_dir)
    fake, fake_paths, fake_images = _read_set(extractor, fake_dir)
    holdout = _read_set(extractor, holdout_dir)[0] if holdout_dir else None
    distances = memorization_distances(train, fake, holdout, percentile, seed,
                                       holdout_name=f"held-out folder {holdout_dir}")
    flags = distances.flags
    write_csv(out_dir / "memorization.csv",
              ("fake", "nearest_train", "feature_distance", "pixel_distance", "flag"),
              ((str(path), str(train_paths[distances.nearest_train[i]]),
                f"{distances.fake_feature[i]:.6g}", f"{distances.fake_pixel[i]:.6g}",
                "near-copy" if flags[i] else "") for i, path in enumerate(fake_paths)))
    summary = summarize(distances, train_dir, fake_dir, len(train_paths), len(fake_paths),
                        percentile, extractor.weights_sha256)
    write_json(out_dir / "memorization_summary.json", summary)
    figure = _figure_data(distances, fake_images, train_images, summary)
    plot_memorization_distances(figure, out_dir / "memorization_distances.png")
    plot_closest_pairs(figure, out_dir / "closest_pairs.png")
    return summary
