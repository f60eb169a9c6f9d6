"""Classification metrics, bootstrap intervals and McNemar's test (scikit-learn, SciPy).

Two classes (``classification_metrics``): label 1 is the positive class (``--positive``;
Kermany's PNEUMONIA, as in the paper's Table 2 (its GAN row: TN 284, FP 33,
FN 20, TP 835 gives accuracy 95.5, precision 96.2, recall 97.7, F1 97.0, FPR 0.10).

Two AUCs are reported and named apart:
- ``auc``: the area under the ROC curve of the predicted probabilities (the usual AUC);
- ``auc_thresholded``: the area under the ROC "curve" of hard 0/1 predictions at the
  threshold, which is ``(TPR + TNR) / 2`` (balanced accuracy). The paper's "AUC" column is
  this quantity: GAN (0.977 + 0.896) / 2 = 0.936 as printed.

k >= 2 classes (``multiclass_metrics``): accuracy, balanced accuracy (mean per-class recall),
macro F1, per-class precision and recall, one-vs-rest ROC AUC per class and their macro mean,
and the k x k confusion matrix (rows: true class, columns: predicted, the argmax).
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn import metrics as skm

METRIC_KEYS = ("accuracy", "precision", "recall", "specificity", "f1", "auc", "auc_thresholded",
               "fpr", "tpr", "tn", "fp", "fn", "tp")


def metrics_from_counts(tn: int, fp: int, fn: int, tp: int) -> dict[str, float]:
    """Threshold metrics from confusion counts (all rates as fractions)."""
    total = tn + fp + fn + tp
    recall = tp / (tp + fn) if tp + fn else float("nan")
    specificity = tn / (tn + fp) if tn + fp else float("nan")
    precision = tp / (tp + fp) if tp + fp else float("nan")
    # 2PR / (P + R) without its 0/0: 0 when no image is a true positive (scikit-learn's rule).
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return {
        "accuracy": (tp + tn) / total, "precision": precision, "recall": recall,
        "specificity": specificity, "f1": f1, "fpr": 1.0 - specificity, "tpr": recall,
        "auc_thresholded": (recall + specificity) / 2.0,
        "tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp),
    }


def classification_metrics(labels, probabilities, threshold: float = 0.5) -> dict[str, float]:
    """Every metric of ``METRIC_KEYS`` for labels (1 = PNEUMONIA) and P(PNEUMONIA)."""
    labels = np.asarray(labels).astype(int)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predicted = (probabilities >= threshold).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(labels, predicted, labels=[0, 1]).ravel()
    result = metrics_from_counts(tn, fp, fn, tp)  # One rule for ours and the paper's counts.
    both_classes = len(np.unique(labels)) == 2
    result["auc"] = skm.roc_auc_score(labels, probabilities) if both_classes else float("nan")
    return {key: float(result[key]) if key not in ("tn", "fp", "fn", "tp") else int(result[key])
            for key in METRIC_KEYS}


MULTICLASS_INTERVAL_KEYS = ("accuracy", "balanced_accuracy", "macro_f1", "macro_auc")


def probability_columns(classes) -> tuple[str, ...]:
    """``predictions.csv``'s probability columns: the positive class's for two classes, one
    per class for more (``prob_<class in lower case>``)."""
    shown = classes[1:] if len(classes) == 2 else classes
    return tuple(f"prob_{name.lower()}" for name in shown)


def multiclass_metrics(labels, probabilities, classes) -> dict:
    """Metrics of k-way predictions: ``labels`` (n,) class indices, ``probabilities`` (n, k)
    rows of class probabilities, ``classes`` the k names (index order).

    Returns:
        ``accuracy``, ``balanced_accuracy``, ``macro_f1``, ``macro_auc`` (NaN when a class has
        no image or every image), ``per_class`` {name: precision, recall, f1, auc, support}
        and ``confusion`` (k lists of k counts; rows true, columns predicted).
    """
    labels = np.asarray(labels).astype(int)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    k = len(classes)
    if probabilities.shape != (len(labels), k):
        raise ValueError(f"probabilities must be (n, {k}); got {probabilities.shape}")
    predicted = probabilities.argmax(1)
    everyone = list(range(k))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        labels, predicted, labels=everyone, zero_division=0.0)
    present = support > 0
    aucs = [skm.roc_auc_score(labels == j, probabilities[:, j])
            if 0 < support[j] < len(labels) else float("nan") for j in everyone]
    return {
        "accuracy": float(np.mean(predicted == labels)),
        "balanced_accuracy": float(np.mean(recall[present])) if present.any() else float("nan"),
        "macro_f1": float(np.mean(f1)),
        "macro_auc": float(np.mean(aucs)),
        "per_class": {name: {"precision": float(precision[j]), "recall": float(recall[j]),
                             "f1": float(f1[j]), "auc": float(aucs[j]),
                             "support": int(support[j])}
                      for j, name in enumerate(classes)},
        "confusion": skm.confusion_matrix(labels, predicted, labels=everyone).tolist(),
    }


def multiclass_bootstrap_intervals(labels, probabilities, classes, n_resamples: int = 1000,
                                   confidence: float = 0.95, seed: int = 0) -> dict:
    """Percentile bootstrap intervals of ``MULTICLASS_INTERVAL_KEYS``, resampling test images
    with replacement."""
    return _percentile_bootstrap(lambda y, p: _multiclass_summary(y, p, len(classes)), labels,
                                 probabilities, MULTICLASS_INTERVAL_KEYS, n_resamples,
                                 confidence, seed)


def rank_auc(is_positive, scores) -> float:
    """ROC AUC as the Mann-Whitney statistic on average ranks (ties count one half), equal to
    scikit-learn's trapezoidal ``roc_auc_score``; NaN without both classes."""
    is_positive = np.asarray(is_positive, bool)
    n_positive = int(is_positive.sum())
    n_negative = len(is_positive) - n_positive
    if n_positive == 0 or n_negative == 0:
        return float("nan")
    ranks = stats.rankdata(scores)
    return float((ranks[is_positive].sum() - n_positive * (n_positive + 1) / 2)
                 / (n_positive * n_negative))


def _binary_summary(labels, probabilities, threshold: float) -> dict[str, float]:
    """``classification_metrics``'s rates in plain NumPy: the bootstrap calls it a thousand
    times, where scikit-learn's input checks cost more than the arithmetic."""
    predicted = probabilities >= threshold
    positive = labels == 1
    tp = int(np.sum(predicted & positive))
    fp = int(np.sum(predicted & ~positive))
    fn = int(np.sum(~predicted & positive))
    result = metrics_from_counts(len(labels) - tp - fp - fn, fp, fn, tp)
    result["auc"] = rank_auc(positive, probabilities)
    return result


def _multiclass_summary(labels, probabilities, k: int) -> dict[str, float]:
    """``multiclass_metrics``'s ``MULTICLASS_INTERVAL_KEYS`` in plain NumPy (as above)."""
    predicted = probabilities.argmax(1)
    confusion = np.bincount(labels * k + predicted, minlength=k * k).reshape(k, k)
    tp = np.diag(confusion).astype(float)
    support = confusion.sum(1)
    called = confusion.sum(0)
    present = support > 0
    recall = np.divide(tp, support, out=np.zeros(k), where=present)
    f1_denominator = support + called
    f1 = np.divide(2 * tp, f1_denominator, out=np.zeros(k), where=f1_denominator > 0)
    aucs = [rank_auc(labels == j, probabilities[:, j]) for j in range(k)]
    return {"accuracy": float(tp.sum() / len(labels)),
            "balanced_accuracy": float(recall[present].mean()) if present.any() else float("nan"),
            "macro_f1": float(f1.mean()), "macro_auc": float(np.mean(aucs))}


def _percentile_bootstrap(metric, labels, probabilities, keys, n_resamples: int,
                          confidence: float, seed: int) -> dict[str, tuple[float, float]]:
    """Percentile intervals of ``metric(labels, probabilities)[key]`` for each of ``keys``,
    resampling test images with replacement (one seeded draw of indices a replicate)."""
    labels = np.asarray(labels).astype(int)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    rng = np.random.default_rng(seed)
    samples = {key: [] for key in keys}
    for _ in range(n_resamples):
        index = rng.integers(0, len(labels), len(labels))
        values = metric(labels[index], probabilities[index])
        for key in keys:
            samples[key].append(values[key])
    alpha = (1.0 - confidence) / 2.0
    return {key: (float(np.nanquantile(v, alpha)), float(np.nanquantile(v, 1 - alpha)))
            for key, v in samples.items()}


def rates_by_group(labels, predicted_positive, groups) -> dict[str, dict[str, float]]:
    """Per group: how many NORMAL (0) and PNEUMONIA (1) images, the share of NORMAL called
    PNEUMONIA (``fpr``) and of PNEUMONIA called PNEUMONIA (``tpr``; NaN for an empty class)."""
    labels = np.asarray(labels).astype(int)
    predicted_positive = np.asarray(predicted_positive, bool)
    groups = np.asarray(groups)
    if not labels.shape == predicted_positive.shape == groups.shape:
        raise ValueError("labels, predictions and groups must have one entry per image.")
    result = {}
    for group in sorted(set(groups.tolist())):
        normal = (groups == group) & (labels == 0)
        pneumonia = (groups == group) & (labels == 1)
        result[str(group)] = {
            "normal": int(normal.sum()), "pneumonia": int(pneumonia.sum()),
            "fpr": float(predicted_positive[normal].mean()) if normal.any() else float("nan"),
            "tpr": float(predicted_positive[pneumonia].mean()) if pneumonia.any() else float("nan"),
        }
    return result


def bootstrap_intervals(labels, probabilities, threshold: float = 0.5, n_resamples: int = 1000,
                        confidence: float = 0.95, seed: int = 0) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of each rate, resampling test images with replacement."""
    keys = ("accuracy", "precision", "recall", "specificity", "f1", "auc", "auc_thresholded",
            "fpr", "tpr")
    return _percentile_bootstrap(lambda y, p: _binary_summary(y, p, threshold), labels,
                                 probabilities, keys, n_resamples, confidence, seed)


def mcnemar_exact(correct_a, correct_b) -> dict[str, float]:
    """McNemar's exact test of two classifiers on the same images.

    Args:
        correct_a, correct_b: Booleans, whether each classifier got each image right.

    Returns:
        ``b`` (A right, B wrong), ``c`` (A wrong, B right) and the two-sided exact p-value
        (binomial test of b against b + c at 1/2).
    """
    correct_a = np.asarray(correct_a, bool)
    correct_b = np.asarray(correct_b, bool)
    if correct_a.shape != correct_b.shape:
        raise ValueError("Both classifiers must be scored on the same images.")
    b = int(np.sum(correct_a & ~correct_b))
    c = int(np.sum(~correct_a & correct_b))
    p_value = 1.0 if b + c == 0 else float(stats.binomtest(b, b + c, 0.5).pvalue)
    return {"b": b, "c": c, "p_value": p_value}


def method_difference(correct_a, correct_b, labels, n_resamples: int = 10000,
                      confidence: float = 0.95, seed: int = 0) -> dict[str, float]:
    """How much method A beats method B over seeds and test images (two-level bootstrap).

    Seeds and test images are both sources of variation (flip's accuracy moves a full point
    between seeds alone), so each replicate draws the runs of each method with replacement from
    its seeds and the test images with replacement (the same images for both methods: the
    comparison stays paired), then takes the difference of the mean over the drawn runs. With
    k seeds the draw holds (k - 1) / k of the seed variance (2/3 with three): read the interval
    as a lower bound on the uncertainty that new seeds would add.

    Args:
        correct_a, correct_b: Booleans of shape (runs, images): whether each run of a method
            got each test image right (its seeds; the two may have different run counts).
        labels: The test images' class indices, for the balanced accuracy.

    Returns:
        For ``accuracy`` and ``auc_thresholded`` ((TPR + TNR) / 2, the paper's "AUC"): the
        observed difference of the means over runs (A - B, a fraction), the percentile
        interval's ``low`` and ``high``, and ``share_above_zero``, the share of replicates in
        which A is ahead (an estimate of how often A beats B on a new draw of seeds and images).
    """
    correct_a = np.atleast_2d(np.asarray(correct_a, bool)).astype(np.float64)
    correct_b = np.atleast_2d(np.asarray(correct_b, bool)).astype(np.float64)
    labels = np.asarray(labels).astype(int)
    if correct_a.shape[1] != correct_b.shape[1] or correct_a.shape[1] != len(labels):
        raise ValueError("Both methods must be scored on the same test images.")
    rng = np.random.default_rng(seed)
    n = len(labels)
    # Image weights of each replicate: how often each test image was drawn.
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=n_resamples).astype(np.float64)
    runs_a = rng.integers(0, len(correct_a), (n_resamples, len(correct_a)))
    runs_b = rng.integers(0, len(correct_b), (n_resamples, len(correct_b)))
    result = {}
    for key in ("accuracy", "auc_thresholded"):
        observed = _mean_score(correct_a, labels, key) - _mean_score(correct_b, labels, key)
        per_run_a = _weighted_scores(correct_a, labels, weights, key)  # (replicates, runs)
        per_run_b = _weighted_scores(correct_b, labels, weights, key)
        rows = np.arange(n_resamples)[:, None]
        replicates = per_run_a[rows, runs_a].mean(1) - per_run_b[rows, runs_b].mean(1)
        alpha = (1.0 - confidence) / 2.0
        result[key] = {"difference": float(observed),
                       "low": float(np.nanquantile(replicates, alpha)),
                       "high": float(np.nanquantile(replicates, 1 - alpha)),
                       "share_above_zero": float(np.mean(replicates > 0))}
    return result


def _mean_score(correct, labels, key) -> float:
    """The mean over runs of accuracy or balanced accuracy."""
    return float(_weighted_scores(correct, labels, np.ones((1, len(labels))), key).mean())


def _weighted_scores(correct, labels, weights, key):
    """Each run's score under each row of image weights: shape (rows of weights, runs)."""
    if key == "accuracy":
        return weights @ correct.T / weights.sum(1, keepdims=True)
    rates = []
    for label in np.unique(labels):  # Balanced accuracy: the mean of the per-class recalls.
        mask = labels == label
        drawn = weights[:, mask].sum(1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            rates.append(weights[:, mask] @ correct[:, mask].T / drawn)
    return sum(rates[1:], rates[0]) / len(rates)


def weighted_auc(is_positive, scores, weights) -> np.ndarray:
    """ROC AUC of one run's ``scores`` under each row of image ``weights`` (how often each
    test image was drawn), ties counting one half: ``(replicates,)``. With weights of ones it
    is ``rank_auc``."""
    is_positive = np.asarray(is_positive, bool)
    order = np.argsort(scores, kind="stable")
    ordered = np.asarray(scores)[order]
    w = np.atleast_2d(np.asarray(weights, np.float64))[:, order]
    negative = np.where(~is_positive[order], w, 0.0)
    positive = np.where(is_positive[order], w, 0.0)
    # Negatives strictly below each score, plus half of those tied with it.
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    group = np.cumsum(np.r_[True, ordered[1:] != ordered[:-1]]) - 1
    tied = np.add.reduceat(negative, starts, axis=1)  # (replicates, groups)
    below = np.cumsum(tied, axis=1) - tied
    credit = below[:, group] + tied[:, group] / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return (positive * credit).sum(1) / (positive.sum(1) * negative.sum(1))


def arm_interval(correct, labels, scores=None, n_resamples: int = 2000,
                 confidence: float = 0.95, seed: int = 0) -> dict[str, dict[str, float]]:
    """One arm's mean over its runs with a 95 % interval over seeds and test images: each
    replicate draws the runs with replacement and the test images with replacement (as
    ``method_difference`` does for a difference).

    Args:
        correct: Booleans (runs, images): whether each run got each image right.
        labels: The images' class indices.
        scores: Optional (runs, images) positive-class probabilities (two classes): adds the
            ROC AUC.

    Returns:
        ``accuracy``, ``balanced_accuracy`` (and ``auc``): ``mean``, ``low``, ``high``.
    """
    correct = np.atleast_2d(np.asarray(correct, bool)).astype(np.float64)
    labels = np.asarray(labels).astype(int)
    rng = np.random.default_rng(seed)
    n = len(labels)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=n_resamples).astype(np.float64)
    runs = rng.integers(0, len(correct), (n_resamples, len(correct)))
    rows = np.arange(n_resamples)[:, None]
    alpha = (1.0 - confidence) / 2.0
    per_run = {"accuracy": _weighted_scores(correct, labels, weights, "accuracy"),
               "balanced_accuracy": _weighted_scores(correct, labels, weights, "balanced")}
    observed = {key: _mean_score(correct, labels, "accuracy" if key == "accuracy" else
                                 "balanced") for key in per_run}
    if scores is not None:
        scores = np.atleast_2d(np.asarray(scores, np.float64))
        positive = labels == 1
        per_run["auc"] = np.stack([weighted_auc(positive, s, weights) for s in scores], 1)
        observed["auc"] = float(np.mean([rank_auc(positive, s) for s in scores]))
    result = {}
    for key, values in per_run.items():
        replicates = values[rows, runs].mean(1)
        result[key] = {"mean": observed[key],
                       "low": float(np.nanquantile(replicates, alpha)),
                       "high": float(np.nanquantile(replicates, 1 - alpha))}
    return result
