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

import csv
import io
import json
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

PIXEL_SIZE = 64
HOLDOUT_FRACTION = 0.2


def nearest_neighbours(query: np.ndarray, reference: np.ndarray, chunk: int = 512):
    """Index and Euclidean distance of each query row's nearest reference row (float64)."""
    query = np.asarray(query, np.float64)
    reference = np.asarray(reference, np.float64)
    ref_sq = np.einsum("ij,ij->i", reference, reference)
    indices, distances = [], []
    for first in range(0, len(query), chunk):
        q = query[first:first + chunk]
        # |q - r|^2 = |q|^2 - 2 q.r + |r|^2, clipped at 0 against round-off.
        d2 = np.einsum("ij,ij->i", q, q)[:, None] - 2.0 * q @ reference.T + ref_sq[None, :]
        best = np.argmin(d2, axis=1)
        indices.append(best)
        distances.append(np.sqrt(np.clip(d2[np.arange(len(q)), best], 0.0, None)))
    return np.concatenate(indices), np.concatenate(distances)


def pixel_vectors(images: Sequence[Image.Image]) -> np.ndarray:
    """64x64 gray pixels in [0, 1], scaled so that Euclidean distance = RMS difference."""
    rows = [np.asarray(im.convert("L").resize((PIXEL_SIZE, PIXEL_SIZE),
                                              Image.Resampling.BILINEAR), np.float64).ravel()
            for im in images]
    return np.stack(rows) / 255.0 / PIXEL_SIZE


def _load(paths: Sequence[Path]) -> list[Image.Image]:
    images = []
    for path in paths:
        with Image.open(path) as image:
            image.load()
            images.append(image.copy())
    return images


def memorization_check(train_dir: Path | str, fake_dir: Path | str, out_dir: Path | str,
                       holdout_dir: Path | str | None = None, percentile: float = 1.0,
                       seed: int = 0, extractor=None) -> dict:
    """Writes ``memorization.csv``, a summary, a distance plot and a closest-pairs grid.

    Returns:
        The summary dict (thresholds, counts, baseline quantiles, provenance).
    """
    from cxr_gan.fid.features import FeatureExtractor
    from cxr_gan.runs import atomic_write_text

    extractor = extractor or FeatureExtractor()
    out_dir = Path(out_dir)
    def features_and_images(folder):
        # Features come from the statistics cache when the folder was seen before; the
        # paths are those actually read (unreadable files are skipped there, with a warning).
        features, meta = extractor.folder_statistics(folder)
        paths = [Path(p) for p in meta["paths"]]
        return features["f2048"], paths, _load(paths)

    train_feat, train_paths, train_images = features_and_images(train_dir)
    fake_feat, fake_paths, fake_images = features_and_images(fake_dir)
    train_pix, fake_pix = pixel_vectors(train_images), pixel_vectors(fake_images)

    if holdout_dir:
        hold_feat, _, holdout_images = features_and_images(holdout_dir)
        hold_pix = pixel_vectors(holdout_images)
        base_feat, base_pix = train_feat, train_pix
        baseline = f"held-out folder {holdout_dir} vs all training images"
    else:
        order = np.random.default_rng(seed).permutation(len(train_paths))
        n_hold = max(1, int(round(HOLDOUT_FRACTION * len(order))))
        hold, rest = order[:n_hold], order[n_hold:]
        hold_feat, hold_pix = train_feat[hold], train_pix[hold]
        base_feat, base_pix = train_feat[rest], train_pix[rest]
        baseline = f"random {n_hold} training images (seed {seed}) vs the other {len(rest)}"

    _, hold_feat_d = nearest_neighbours(hold_feat, base_feat)
    _, hold_pix_d = nearest_neighbours(hold_pix, base_pix)
    feat_idx, feat_d = nearest_neighbours(fake_feat, train_feat)
    _, pix_d = nearest_neighbours(fake_pix, train_pix)
    feat_threshold = float(np.percentile(hold_feat_d, percentile))
    pix_threshold = float(np.percentile(hold_pix_d, percentile))
    flags = (feat_d < feat_threshold) | (pix_d < pix_threshold)

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["fake", "nearest_train", "feature_distance", "pixel_distance", "flag"])
    for i, path in enumerate(fake_paths):
        writer.writerow([str(path), str(train_paths[feat_idx[i]]), f"{feat_d[i]:.6g}",
                         f"{pix_d[i]:.6g}", "near-copy" if flags[i] else ""])
    atomic_write_text(out_dir / "memorization.csv", buffer.getvalue())

    quantiles = lambda d: {q: float(np.percentile(d, q)) for q in (1, 5, 50)}  # noqa: E731
    summary = {
        "train": str(train_dir), "fake": str(fake_dir), "n_train": len(train_paths),
        "n_fake": len(fake_paths), "baseline": baseline, "percentile": percentile,
        "feature_threshold": feat_threshold, "pixel_threshold": pix_threshold,
        "near_copies": int(flags.sum()),
        "fake_feature_distance_quantiles": quantiles(feat_d),
        "holdout_feature_distance_quantiles": quantiles(hold_feat_d),
        "fake_pixel_distance_quantiles": quantiles(pix_d),
        "holdout_pixel_distance_quantiles": quantiles(hold_pix_d),
        "features": "inception-2015-12-05 pool3 (2048-d), Euclidean",
        "pixels": f"{PIXEL_SIZE}x{PIXEL_SIZE} gray, RMS difference in [0, 1]",
        "weights_sha256": extractor.weights_sha256,
    }
    atomic_write_text(out_dir / "memorization_summary.json", json.dumps(summary, indent=2) + "\n")
    _plot(out_dir, summary, feat_d, hold_feat_d, pix_d, hold_pix_d, feat_threshold,
          pix_threshold, fake_images, train_images, feat_idx)
    return summary


def _plot(out_dir, summary, feat_d, hold_feat_d, pix_d, hold_pix_d, feat_t, pix_t,
          fake_images, train_images, feat_idx):
    from cxr_gan.plots import plot_memorization

    closest = np.argsort(feat_d)[:8]
    pairs = [(np.asarray(fake_images[i].convert("L").resize((96, 96))),
              np.asarray(train_images[feat_idx[i]].convert("L").resize((96, 96))), feat_d[i])
             for i in closest]
    provenance = (f"train: {summary['train']} (n={summary['n_train']}) | fake: {summary['fake']} "
                  f"(n={summary['n_fake']}) | baseline: {summary['baseline']}")
    plot_memorization(feat_d, hold_feat_d, pix_d, hold_pix_d, feat_t, pix_t, pairs, provenance,
                      out_dir / "memorization_distances.png", out_dir / "closest_pairs.png")
