"""Metrics against hand values on the paper's Table 2 counts; bootstrap; McNemar."""

import numpy as np
import pytest

from cxr_gan.evaluation.metrics import (bootstrap_intervals, classification_metrics,
                                        mcnemar_exact, method_difference, metrics_from_counts,
                                        rates_by_group)

GAN_ROW = dict(tn=284, fp=33, fn=20, tp=835)  # The paper's Table 2, GAN.


def test_paper_gan_row_from_its_counts():
    m = metrics_from_counts(**GAN_ROW)
    assert m["accuracy"] == pytest.approx(1119 / 1172)          # 95.5
    assert m["precision"] == pytest.approx(835 / 868)           # 96.2
    assert m["recall"] == pytest.approx(835 / 855)              # 97.7
    assert m["fpr"] == pytest.approx(33 / 317)                  # 0.10
    assert m["f1"] == pytest.approx(2 * 835 / (2 * 835 + 33 + 20))  # 97.0
    assert m["auc_thresholded"] == pytest.approx((835 / 855 + 284 / 317) / 2)
    assert round(100 * m["accuracy"], 1) == 95.5 and round(100 * m["auc_thresholded"], 1) == 93.6


def _arrays_for(tn, fp, fn, tp):
    labels = np.array([0] * (tn + fp) + [1] * (fn + tp))
    probs = np.array([0.1] * tn + [0.9] * fp + [0.2] * fn + [0.8] * tp)
    return labels, probs


def test_probability_metrics_agree_with_counts():
    labels, probs = _arrays_for(**GAN_ROW)
    m = classification_metrics(labels, probs)
    expected = metrics_from_counts(**GAN_ROW)
    for key in ("accuracy", "precision", "recall", "specificity", "f1", "fpr", "tpr",
                "auc_thresholded", "tn", "fp", "fn", "tp"):
        assert m[key] == pytest.approx(expected[key])
    # ROC AUC by hand: P(score of a positive > score of a negative), ties count 1/2.
    pos, neg = probs[labels == 1], probs[labels == 0]
    by_hand = np.mean((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :]))
    assert m["auc"] == pytest.approx(by_hand)


def test_bootstrap_interval_contains_the_estimate():
    labels, probs = _arrays_for(**GAN_ROW)
    intervals = bootstrap_intervals(labels, probs, n_resamples=200, seed=1)
    point = classification_metrics(labels, probs)
    for key, (low, high) in intervals.items():
        assert low <= point[key] <= high
    assert 0.01 < intervals["accuracy"][1] - intervals["accuracy"][0] < 0.05


def test_mcnemar_exact():
    a = np.array([True] * 10 + [False] * 2 + [True] * 50)
    b = np.array([False] * 10 + [True] * 2 + [True] * 50)
    result = mcnemar_exact(a, b)
    assert (result["b"], result["c"]) == (10, 2)
    # Two-sided exact binomial: 2 * P(X <= 2 | n=12, p=1/2) = 2 * 79 / 4096.
    assert result["p_value"] == pytest.approx(2 * 79 / 4096)
    assert mcnemar_exact(a, a)["p_value"] == 1.0


def test_method_difference_of_a_method_with_itself_is_exactly_zero():
    labels, probs = _arrays_for(**GAN_ROW)
    right = (probs >= 0.5) == labels
    result = method_difference([right, right], [right, right], labels, n_resamples=200)
    for key in ("accuracy", "auc_thresholded"):
        assert (result[key]["difference"], result[key]["low"], result[key]["high"]) == (0, 0, 0)
        assert result[key]["share_above_zero"] == 0


def test_method_difference_of_one_run_each_is_the_paired_difference_with_its_standard_error():
    # One run a method: only the images vary. A right and B wrong on b = 60 images, the reverse
    # on c = 20, of n = 1000: difference (b - c) / n, standard error
    # sqrt(((b + c) / n - ((b - c) / n) ** 2) / n) (the paired difference of proportions).
    n, b, c = 1000, 60, 20
    a_right = np.array([True] * b + [False] * c + [True] * 700 + [False] * 220)
    b_right = np.array([False] * b + [True] * c + [True] * 700 + [False] * 220)
    labels = np.tile([0, 1], n // 2)
    result = method_difference(a_right, b_right, labels, n_resamples=20000, seed=3)
    accuracy = result["accuracy"]
    assert accuracy["difference"] == pytest.approx((b - c) / n)
    standard_error = np.sqrt(((b + c) / n - ((b - c) / n) ** 2) / n)
    assert accuracy["high"] - accuracy["low"] == pytest.approx(2 * 1.96 * standard_error,
                                                               rel=0.08)
    assert accuracy["share_above_zero"] > 0.999
    # The balanced accuracy's observed difference is the difference of the two runs' own.
    by_run = [classification_metrics(labels, np.where(r, labels, 1 - labels))["auc_thresholded"]
              for r in (a_right, b_right)]
    assert result["auc_thresholded"]["difference"] == pytest.approx(by_run[0] - by_run[1])


def test_method_difference_draws_seeds_too():
    # A: one run, always right. B: two seeds, one always right and one always wrong; images
    # cannot change either. Drawing B's two runs with replacement gives B a mean of 1, 1/2, 1/2
    # or 0, so A - B is 0, 1/2 or 1 with chances 1/4, 1/2, 1/4: A ahead in 3 of 4 replicates.
    labels = np.tile([0, 1], 50)
    always, never = np.ones(100, bool), np.zeros(100, bool)
    result = method_difference([always], [always, never], labels, n_resamples=20000, seed=0)
    accuracy = result["accuracy"]
    assert accuracy["difference"] == pytest.approx(0.5)
    assert (accuracy["low"], accuracy["high"]) == (0.0, 1.0)
    assert accuracy["share_above_zero"] == pytest.approx(0.75, abs=0.01)
    with pytest.raises(ValueError, match="same test images"):
        method_difference([always], [always[:50]], labels)


def test_rates_by_group_hand_counts():
    # Group "a": NORMAL called 1 of 2 PNEUMONIA, PNEUMONIA 1 of 1 right; "b": no PNEUMONIA.
    labels = [0, 0, 1, 0, 0, 0]
    predicted = [True, False, True, True, True, False]
    groups = ["a", "a", "a", "b", "b", "b"]
    rates = rates_by_group(labels, predicted, groups)
    assert rates["a"] == {"normal": 2, "pneumonia": 1, "fpr": 0.5, "tpr": 1.0}
    assert rates["b"]["normal"] == 3 and rates["b"]["fpr"] == pytest.approx(2 / 3)
    assert rates["b"]["pneumonia"] == 0 and np.isnan(rates["b"]["tpr"])
    with pytest.raises(ValueError, match="one entry per image"):
        rates_by_group(labels, predicted[:-1], groups)


# -- k classes ---------------------------------------------------------------------------------
def test_multiclass_metrics_hand_counts():
    from cxr_gan.evaluation.metrics import multiclass_metrics

    # True classes 0 0 0 1 1 2; predicted (argmax) 0 0 1 1 2 2.
    labels = np.array([0, 0, 0, 1, 1, 2])
    probabilities = np.array([[.8, .1, .1], [.6, .3, .1], [.3, .6, .1],
                              [.1, .7, .2], [.1, .3, .6], [.2, .2, .6]])
    m = multiclass_metrics(labels, probabilities, ("a", "b", "c"))
    assert m["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert m["accuracy"] == pytest.approx(4 / 6)
    # Recalls 2/3, 1/2, 1: balanced accuracy their mean.
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    # Precisions 1, 1/2, 1/2; F1 = 2PR/(P+R): 0.8, 0.5, 2/3.
    assert [m["per_class"][c]["precision"] for c in "abc"] == pytest.approx([1, .5, .5])
    assert m["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    # One-vs-rest AUC of class c: its image (0.6) ties one other (0.6) and beats four: 4.5 / 5.
    assert m["per_class"]["c"]["auc"] == pytest.approx(4.5 / 5)
    assert m["per_class"]["a"]["support"] == 3


def test_multiclass_metrics_of_two_classes_agree_with_the_binary_ones():
    from cxr_gan.evaluation.metrics import classification_metrics, multiclass_metrics

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 50)
    p = rng.uniform(0.01, 0.99, 50)
    binary = classification_metrics(labels, p)
    multi = multiclass_metrics(labels, np.stack([1 - p, p], 1), ("n", "p"))
    assert multi["accuracy"] == pytest.approx(binary["accuracy"])
    assert multi["balanced_accuracy"] == pytest.approx(binary["auc_thresholded"])
    assert multi["per_class"]["p"]["auc"] == pytest.approx(binary["auc"])


def test_multiclass_intervals_hold_the_estimate_and_a_perfect_model_is_certain():
    from cxr_gan.evaluation.metrics import multiclass_bootstrap_intervals

    labels = np.repeat([0, 1, 2], 10)
    perfect = np.eye(3)[labels] * 0.9 + 0.1 / 3
    intervals = multiclass_bootstrap_intervals(labels, perfect, "abc", n_resamples=50)
    assert intervals["accuracy"] == (1.0, 1.0) and intervals["macro_auc"] == (1.0, 1.0)


def test_balanced_accuracy_difference_of_three_classes_is_the_mean_recall_difference():
    from cxr_gan.evaluation.metrics import method_difference

    labels = np.array([0, 0, 1, 1, 2, 2])
    a = np.array([[1, 1, 1, 1, 1, 0]], bool)  # Recalls 1, 1, 1/2.
    b = np.array([[1, 0, 1, 0, 1, 0]], bool)  # Recalls 1/2 each.
    result = method_difference(a, b, labels, n_resamples=20)
    assert result["auc_thresholded"]["difference"] == pytest.approx((2.5 - 1.5) / 3)
    assert result["accuracy"]["difference"] == pytest.approx(2 / 6)


def test_the_bootstraps_numpy_metrics_equal_scikit_learns_on_every_resample():
    from cxr_gan.evaluation.metrics import (_binary_summary, _multiclass_summary,
                                            multiclass_metrics, rank_auc)

    rng = np.random.default_rng(3)
    for trial in range(40):
        n = int(rng.integers(5, 60))
        labels = rng.integers(0, 3, n)
        # Rounded scores: ties, which the ranks must count one half as the trapezoid does.
        probs = rng.dirichlet([1, 1, 1], n).round(1)
        probs[:, 2] = 1 - probs[:, :2].sum(1)
        if trial == 0:
            labels[:] = 1  # One class only: the AUCs are NaN in both.
        ours = _multiclass_summary(labels, probs, 3)
        theirs = multiclass_metrics(labels, probs, "abc")
        for key, value in ours.items():
            assert value == pytest.approx(theirs[key], abs=1e-12, nan_ok=True), (trial, key)
        binary = (labels == 2).astype(int)
        ours = _binary_summary(binary, probs[:, 2], 0.5)
        theirs = classification_metrics(binary, probs[:, 2])
        for key in ("accuracy", "precision", "recall", "specificity", "f1", "auc",
                    "auc_thresholded", "fpr", "tpr"):
            assert ours[key] == pytest.approx(theirs[key], abs=1e-12, nan_ok=True), (trial, key)
    assert rank_auc([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.9]) == 0.875  # 3.5 of 4 pairs by hand.
