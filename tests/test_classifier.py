"""The Fig. 7 classifier: shapes, the 7x7x256 stage; a run writes consistent files."""

import csv
import json

import keras
import numpy as np
import pytest

from cxr_gan.classifier.model import build_classifier
from cxr_gan.evaluation.metrics import METRIC_KEYS, classification_metrics


def test_figure_7_shapes():
    model = build_classifier()
    assert model.input_shape == (None, 224, 224, 3) and model.output_shape == (None, 2)
    assert model.get_layer("stem_pool").output.shape == (None, 112, 112, 16)
    assert model.get_layer("block256_dropout").output.shape == (None, 7, 7, 256)
    assert model.get_layer("flatten").output.shape == (None, 7 * 7 * 256)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("SeparableConv2D") == 8 and kinds.count("Dropout") == 5
    out = np.asarray(model(np.zeros((2, 224, 224, 3), "float32")))
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_bad_input_size():
    with pytest.raises(ValueError, match="multiple of 32"):
        build_classifier(100)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["none", "flip"])
def test_a_run_writes_consistent_files(tiny_phantoms, tmp_path, method):
    from cxr_gan.classifier.train import ClassifierRunConfig, train_classifier

    config = ClassifierRunConfig(data=str(tiny_phantoms), synthetic=True, method=method,
                                 image_size=32, epochs=1, batch_size=8)
    metrics = train_classifier(config, tmp_path / "run", verbose=0)
    run = tmp_path / "run"
    saved = json.loads((run / "config.json").read_text())
    assert saved["synthetic"] is True and saved["method"] == method
    rows = list(csv.DictReader(open(run / "predictions.csv")))
    assert len(rows) == 10 and set(rows[0]) == {"path", "label", "prob_pneumonia"}
    labels = np.array([r["label"] == "PNEUMONIA" for r in rows], int)
    probs = np.array([float(r["prob_pneumonia"]) for r in rows])
    assert labels.sum() == 6
    recomputed = classification_metrics(labels, probs)
    on_disk = json.loads((run / "metrics.json").read_text())
    assert set(METRIC_KEYS) <= set(on_disk)
    for key in ("tn", "fp", "fn", "tp"):
        assert on_disk[key] == recomputed[key] == metrics[key]
    assert on_disk["tn"] + on_disk["fp"] + on_disk["fn"] + on_disk["tp"] == 10
    expected_extra = 0 if method == "none" else saved["train_counts"]["PNEUMONIA"] - \
        saved["train_counts"]["NORMAL"]
    assert saved["train_counts"]["NORMAL_added"] == expected_extra
    model = keras.models.load_model(run / "classifier.keras")
    assert model.output_shape == (None, 2)
