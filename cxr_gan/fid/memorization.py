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

Small sets: a ``p``-th percentile of ``n`` held-out distances means something only when at
least one held-out image lies below it, i.e. ``n >= 100 / p`` (100 images for the default 1 %).
With fewer, the near-copy rule is not applied (the summary says why) and only the rule that
needs no baseline is: a *copy*, a generated image within ``COPY_RMS`` (two grey levels RMS at
64x64) of a training image, is flagged whatever the set sizes.
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
COPY_RMS = 2.0 / 255.0
THUMBNAIL_SIZE = 96


def minimum_holdout(percentile: float) -> int:
    """Held-out images a ``percentile``-th percentile threshold needs: ceil(100 / p)."""
    return int(np.ceil(100.0 / percentile - 1e-9))


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
    near_copy_rule: str = "applied"  # Or why it was not: the hold-out is too small.

    @property
    def copies(self) -> np.ndarray:
        """Copy: within ``COPY_RMS`` of a training image in pixels (needs no baseline)."""
        return self.fake_pixel <= COPY_RMS

    @property
    def near_copies(self) -> np.ndarray:
        """Near-copy: closer than the threshold in either space (False when not applied)."""
        if self.near_copy_rule != "applied":
            return np.zeros(len(self.fake_pixel), bool)
        return (self.fake_feature < self.feature_threshold) | \
            (self.fake_pixel < self.pixel_threshold)

    @property
    def flags(self) -> np.ndarray:
        return self.copies | self.near_copies

    def flag_names(self) -> list[str]:
        return ["copy" if c else "near-copy" if n else ""
                for c, n in zip(self.copies, self.near_copies)]


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
    needed = minimum_holdout(percentile)
    rule = "applied" if len(hold_feature) >= needed else (
        f"not applied: the hold-out has {len(hold_feature)} images, a {percentile:g}th-"
        f"percentile threshold needs at least {needed} (give --holdout with more images or a "
        f"larger --percentile); only copies (within {COPY_RMS:.4f} RMS) are flagged")
    return Distances(
        nearest_train=nearest, fake_feature=fake_feature, fake_pixel=fake_pixel,
        holdout_feature=hold_feature, holdout_pixel=hold_pixel,
        feature_threshold=float(np.percentile(hold_feature, percentile)),
        pixel_threshold=float(np.percentile(hold_pixel, percentile)), baseline=baseline,
        near_copy_rule=rule)


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
        "near_copy_rule": distances.near_copy_rule,
        "minimum_holdout": minimum_holdout(percentile),
        "n_holdout": len(distances.holdout_feature),
        "copies": int(distances.copies.sum()),
        "near_copies": int(distances.near_copies.sum()),
        "flagged": int(distances.flags.sum()),
        "copy_rms": COPY_RMS,
        "fake_feature_distance_quantiles": _quantiles(distances.fake_feature),
        "holdout_feature_distance_quantiles": _quantiles(distances.holdout_feature),
        "fake_pixel_distance_quantiles": _quantiles(distances.fake_pixel),
        "holdout_pixel_distance_quantiles": _quantiles(distances.holdout_pixel),
        "features": "inception-2015-12-05 pool3 (2048-d), Euclidean",
        "pixels": f"{PIXEL_SIZE}x{PIXEL_SIZE} gray, RMS difference in [0, 1]",
        "weights_sha256": weights_sha256,
    }


def _read_set(extractor, source) -> tuple[Points, list[Path], np.ndarray]:
    """Features (from the statistics cache when the set was seen before), pixel vectors and
    small thumbnails of a folder's images (or of a list of image files), decoded one at a time
    by the project's reader (the paths are those FID read: unreadable files were skipped there,
    with a warning)."""
    from cxr_gan.data.images import open_image

    if isinstance(source, (list, tuple)):
        features, meta = extractor.files_statistics(source, f"{len(source)} listed files")
    else:
        features, meta = extractor.folder_statistics(source)
    paths = [Path(p) for p in meta["paths"]]
    pixels, thumbnails = [], []
    for path in paths:
        gray = open_image(path).convert("L")
        pixels.append(pixel_vectors([gray])[0])
        thumbnails.append(np.asarray(gray.resize((THUMBNAIL_SIZE, THUMBNAIL_SIZE))))
    return Points(features["f2048"], np.stack(pixels)), paths, np.stack(thumbnails)


def _figure_data(distances: Distances, fake_images, train_images, summary: dict):
    from cxr_gan.plots import MemorizationPlot

    closest = np.argsort(distances.fake_feature)[:8]
    pairs = [(fake_images[i], train_images[distances.nearest_train[i]],
              distances.fake_feature[i]) for i in closest]
    provenance = (f"train: {summary['train']} (n={summary['n_train']}) | fake: {summary['fake']} "
                  f"(n={summary['n_fake']}) | baseline: {summary['baseline']} | near-copy rule "
                  f"{summary['near_copy_rule']}")
    applied = distances.near_copy_rule == "applied"
    return MemorizationPlot(distances.fake_feature, distances.holdout_feature,
                            distances.fake_pixel, distances.holdout_pixel,
                            distances.feature_threshold if applied else None,
                            distances.pixel_threshold if applied else None, pairs,
                            provenance)


def memorization_check(train_dir: Path | str | Sequence[Path], fake_dir: Path | str,
                       out_dir: Path | str,
                       holdout_dir: Path | str | Sequence[Path] | None = None,
                       percentile: float = 1.0, seed: int = 0, extractor=None) -> dict:
    """Writes ``memorization.csv``, a summary, a distance plot and a closest-pairs grid.

    ``train_dir`` is a folder, or the list of the GAN's training files (a run's manifest).

    Returns:
        The summary dict (thresholds, counts, baseline quantiles, provenance).
    """
    from cxr_gan.fid.features import FeatureExtractor
    from cxr_gan.plots import plot_closest_pairs, plot_memorization_distances

    extractor = extractor or FeatureExtractor()
    out_dir = Path(out_dir)
    train, train_paths, train_images = _read_set(extractor, train_dir)
    fake, fake_paths, fake_images = _read_set(extractor, fake_dir)
    holdout = _read_set(extractor, holdout_dir)[0] if holdout_dir is not None else None
    holdout_name = (f"{len(holdout_dir)} held-out files" if isinstance(holdout_dir, (list, tuple))
                    else f"held-out folder {holdout_dir}")
    distances = memorization_distances(train, fake, holdout, percentile, seed,
                                       holdout_name=holdout_name)
    flags = distances.flag_names()
    write_csv(out_dir / "memorization.csv",
              ("fake", "nearest_train", "feature_distance", "pixel_distance", "flag"),
              ((str(path), str(train_paths[distances.nearest_train[i]]),
                f"{distances.fake_feature[i]:.6g}", f"{distances.fake_pixel[i]:.6g}",
                flags[i]) for i, path in enumerate(fake_paths)))
    train_name = train_dir if not isinstance(train_dir, (list, tuple)) else \
        f"{len(train_dir)} training files of a run's manifest"
    summary = summarize(distances, train_name, fake_dir, len(train_paths), len(fake_paths),
                        percentile, extractor.weights_sha256)
    write_json(out_dir / "memorization_summary.json", summary)
    figure = _figure_data(distances, fake_images, train_images, summary)
    plot_memorization_distances(figure, out_dir / "memorization_distances.png")
    plot_closest_pairs(figure, out_dir / "closest_pairs.png")
    return summary
