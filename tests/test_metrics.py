"""Metrics against hand values on the paper's Table 2 counts; bootstrap; McNemar."""

import numpy as np
import pytest

from cxr_gan.evaluation.metrics import (bootstrap_intervals, classification_metrics,
                                        mcnemar_exact, metrics_from_counts)

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
