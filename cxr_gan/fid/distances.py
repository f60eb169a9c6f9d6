"""Fréchet distance and KID: pure numpy, float64.

Fréchet distance between N(mu1, S1) and N(mu2, S2) (Dowson & Landau 1982; Heusel et al. 2017)::

    d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))

``tr((S1 S2)^(1/2))`` equals ``tr((A S2 A)^(1/2))`` with ``A = S1^(1/2)``: ``S1 S2`` is similar
to ``A S2 A``, which is symmetric positive semi-definite, so its square root's trace is the sum
of the square roots of its eigenvalues. Two symmetric eigendecompositions replace
``scipy.linalg.sqrtm`` of a non-symmetric matrix: no complex parts, no NaN, and exact for
rank-deficient covariances (fewer images than feature dimensions), where round-off can make
tiny eigenvalues negative; those are clipped to zero.

KID (Binkowski et al. 2018): the unbiased estimate of the squared MMD with the kernel
``k(x, y) = (x.y / d + 1)^3``, averaged over random subsets; unbiased at any set size >= 2.

Fidelity and diversity apart, by k-nearest-neighbour balls (Euclidean, in feature space); a
point's radius is the distance to its k-th nearest neighbour in its own set, the point itself
excluded, and "inside" is strict (``<``), as the ``prdc`` package defines them:

- precision (Kynkäänniemi et al. 2019): share of fakes inside some real ball;
- recall: share of reals inside some fake ball;
- density (Naeem et al. 2020): mean over fakes of the number of real balls holding it, / k;
- coverage: share of reals whose ball holds at least one fake.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import pairwise_distances
from sklearn.neighbors import NearestNeighbors

_BLOCK = 1024  # Fakes per block of real-fake distances: memory ~ n_real * _BLOCK * 8 bytes.


def _symmetric_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray) -> float:
    """Fréchet distance between two Gaussians, real, finite and >= 0.

    Args:
        mu1, mu2: Means, shape ``(d,)``.
        sigma1, sigma2: Covariances, shape ``(d, d)``, symmetric positive semi-definite.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(
            "Expected mu (d,) and sigma (d, d) of one d. Received: "
            f"{mu1.shape}, {sigma1.shape}, {mu2.shape}, {sigma2.shape}"
        )
    root1 = _symmetric_sqrt(sigma1)
    inner = root1 @ sigma2 @ root1
    eigenvalues = np.linalg.eigvalsh((inner + inner.T) / 2.0)
    trace_sqrt = np.sqrt(np.clip(eigenvalues, 0.0, None)).sum()
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt
    return float(max(value, 0.0))


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (N - 1)-normalised covariance of ``(N, d)`` features, in float64."""
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"Need (N >= 2, d) features. Received: shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


# Kernel entries (float64) a KID may hold at once: up to this, each set's kernel matrices are
# computed once for all subsets; beyond it (sets of several thousand), each subset's own.
KID_KERNEL_ELEMENTS = 2 ** 25  # 256 MiB


def _cubic_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def kid(features_x: np.ndarray, features_y: np.ndarray, num_subsets: int = 100,
        subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance: mean and std of the unbiased MMD^2 over random subsets.

    The subset size is capped by the smaller set; with both sets at or below it, every subset
    is the whole of both sets and the std is 0. The subsets are the same whichever way the sums
    are formed: from the sets' kernel matrices, computed once (``KID_KERNEL_ELEMENTS``), or from
    each subset's own; the two agree to round-off.
    """
    x = np.asarray(features_x, np.float64)
    y = np.asarray(features_y, np.float64)
    m = min(subset_size, len(x), len(y))
    if m < 2:
        raise ValueError(f"KID needs at least 2 features a set. Received: {len(x)}, {len(y)}")
    rng = np.random.default_rng(seed)
    draws = [(rng.choice(len(x), m, replace=False), rng.choice(len(y), m, replace=False))
             for _ in range(num_subsets)]
    if len(x) ** 2 + len(y) ** 2 + len(x) * len(y) <= KID_KERNEL_ELEMENTS:
        values = _subset_mmd_from_kernels(x, y, draws, m)
    else:
        values = [_unbiased_mmd(_cubic_kernel(x[i], x[i]), _cubic_kernel(y[j], y[j]),
                                _cubic_kernel(x[i], y[j])) for i, j in draws]
    return float(np.mean(values)), float(np.std(values))


def _unbiased_mmd(k_xx: np.ndarray, k_yy: np.ndarray, k_xy: np.ndarray) -> float:
    m = len(k_xx)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return within - 2.0 * k_xy.mean()


def _subset_mmd_from_kernels(x: np.ndarray, y: np.ndarray, draws, m: int) -> np.ndarray:
    """Each subset's unbiased MMD^2 from the whole sets' kernels: a subset's kernel sum is
    ``s' K s`` with ``s`` its 0/1 indicator (indices drawn without replacement), all subsets
    at once as rows of an indicator matrix."""
    s_x = np.zeros((len(draws), len(x)))
    s_y = np.zeros((len(draws), len(y)))
    for row, (i, j) in enumerate(draws):
        s_x[row, i] = 1.0
        s_y[row, j] = 1.0
    k_xx, k_yy = _cubic_kernel(x, x), _cubic_kernel(y, y)
    xx = np.einsum("sn,sn->s", s_x @ k_xx, s_x) - s_x @ np.diag(k_xx)
    yy = np.einsum("sn,sn->s", s_y @ k_yy, s_y) - s_y @ np.diag(k_yy)
    xy = np.einsum("sn,sn->s", s_x @ _cubic_kernel(x, y), s_y)
    return (xx + yy) / (m * (m - 1)) - 2.0 * xy / (m * m)


def neighbour_radii(features: np.ndarray, k: int) -> np.ndarray:
    """Distance from each point to its k-th nearest neighbour in ``features``, itself excluded."""
    features = np.asarray(features, np.float64)
    if not 1 <= k < len(features):
        raise ValueError(f"Need 1 <= k < number of points. Received: k={k}, n={len(features)}")
    distances, _ = NearestNeighbors(n_neighbors=k + 1).fit(features).kneighbors(features)
    return distances[:, k]  # Column 0 is the point itself (distance 0).


def _ball_counts(real: np.ndarray, fake: np.ndarray, real_radii: np.ndarray,
                 fake_radii: np.ndarray | None = None):
    """Per fake: how many real balls hold it; per real: whether it lies in some fake ball and
    its nearest fake's distance. Computed a block of fakes at a time."""
    held_by = np.zeros(len(fake), np.int64)
    in_fake_ball = np.zeros(len(real), bool)
    nearest_fake = np.full(len(real), np.inf)
    for first in range(0, len(fake), _BLOCK):
        block = slice(first, first + _BLOCK)
        distances = pairwise_distances(real, fake[block])  # (n_real, block)
        held_by[block] = (distances < real_radii[:, None]).sum(axis=0)
        nearest_fake = np.minimum(nearest_fake, distances.min(axis=1))
        if fake_radii is not None:
            in_fake_ball |= (distances < fake_radii[None, block]).any(axis=1)
    return held_by, in_fake_ball, nearest_fake


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k nearest neighbours."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    held_by, in_fake_ball, _ = _ball_counts(real, fake, neighbour_radii(real, k),
                                            neighbour_radii(fake, k))
    return float(np.mean(held_by > 0)), float(np.mean(in_fake_ball))


def density_coverage(real: np.ndarray, fake: np.ndarray, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020) with k nearest neighbours."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    radii = neighbour_radii(real, k)
    held_by, _, nearest_fake = _ball_counts(real, fake, radii)
    return float(held_by.mean() / k), float(np.mean(nearest_fake < radii))


def prdc(real: np.ndarray, fake: np.ndarray, k_pr: int = 3, k_dc: int = 5) -> dict[str, float]:
    """``precision``, ``recall`` (k = 3) and ``density``, ``coverage`` (k = 5)."""
    precision, recall = precision_recall(real, fake, k_pr)
    density, coverage = density_coverage(real, fake, k_dc)
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}
