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
    assert all(layer.momentum == 0.9 for layer in model.layers
               if type(layer).__name__ == "BatchNormalization")
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
    for key in METRIC_KEYS:  # The written probabilities reproduce every metric exactly.
        assert on_disk[key] == recomputed[key] == metrics[key] or \
            np.isnan(on_disk[key]) and np.isnan(recomputed[key]), key
    assert on_disk["tn"] + on_disk["fp"] + on_disk["fn"] + on_disk["tp"] == 10
    expected_extra = 0 if method == "none" else saved["train_counts"]["PNEUMONIA"] - \
        saved["train_counts"]["NORMAL"]
    assert saved["train_counts"]["NORMAL_added"] == expected_extra
    model = keras.models.load_model(run / "classifier.keras")
    assert model.output_shape == (None, 2)


@pytest.mark.slow
def test_on_the_fly_augmentation_changes_batches_reproducibly(tiny_phantoms, tmp_path):
    from cxr_gan.classifier.augment import AugmentConfig, on_the_fly_transform
    from cxr_gan.classifier.train import ClassifierRunConfig, ImageBatches, train_classifier

    images = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 1), dtype=np.uint8)
    labels = np.zeros(16, int)
    plain = ImageBatches(images, labels, 8, seed=1)
    flipped = ImageBatches(images, labels, 8, seed=1,
                           transform=on_the_fly_transform("flip", AugmentConfig()))
    again = ImageBatches(images, labels, 8, seed=1,
                         transform=on_the_fly_transform("flip", AugmentConfig()))
    x_plain, x_flip, x_again = plain[0][0], flipped[0][0], again[0][0]
    np.testing.assert_array_equal(x_flip, x_again)
    mirrored = [np.array_equal(f, p[:, ::-1]) for f, p in zip(x_flip, x_plain)]
    unchanged = [np.array_equal(f, p) for f, p in zip(x_flip, x_plain)]
    assert all(m or u for m, u in zip(mirrored, unchanged)) and any(mirrored)
    config = ClassifierRunConfig(data=str(tiny_phantoms), synthetic=True, method="contrast",
                                 image_size=32, epochs=1, batch_size=8, on_the_fly=True)
    train_classifier(config, tmp_path / "run", verbose=0)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["on_the_fly"] is True and saved["train_counts"]["NORMAL_added"] == 0
    with pytest.raises(ValueError, match="on-the-fly"):
        ClassifierRunConfig(data="x", synthetic=True, method="gan", on_the_fly=True)


@pytest.mark.slow
@pytest.mark.real_data
def test_one_epoch_on_real_data_writes_consistent_files(real_data, tmp_path):
    from cxr_gan.classifier.train import ClassifierRunConfig, train_classifier

    # 32 px (the model's smallest input): the files and counts are what is tested.
    config = ClassifierRunConfig(data=str(real_data), synthetic=False, method="flip",
                                 split="pooled", image_size=32, epochs=1)
    metrics = train_classifier(config, tmp_path / "run", verbose=0)
    rows = list(csv.DictReader(open(tmp_path / "run" / "predictions.csv")))
    assert len(rows) == 1172
    assert sum(r["label"] == "NORMAL" for r in rows) == 317
    assert metrics["tn"] + metrics["fp"] == 317 and metrics["fn"] + metrics["tp"] == 855
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["train_counts"]["NORMAL_added"] == \
        saved["train_counts"]["PNEUMONIA"] - saved["train_counts"]["NORMAL"] == 3076 - 1139
    assert saved["test_images_with_patient_in_train"] > 0


@pytest.mark.slow
@pytest.mark.backends
def test_classifier_trains_under_jax_with_tensorflow_absent(tiny_phantoms, tmp_path):
    from tests.conftest import run_under_jax_without_tensorflow

    done = run_under_jax_without_tensorflow(f"""
        from cxr_gan.classifier.train import ClassifierRunConfig, train_classifier
        config = ClassifierRunConfig(data={str(tiny_phantoms)!r}, synthetic=True,
                                     method='flip', image_size=32, epochs=1, batch_size=8)
        m = train_classifier(config, {str(tmp_path / 'jax')!r}, verbose=0)
        assert m['tn'] + m['fp'] + m['fn'] + m['tp'] == 10
        print('ok')
    """)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")


def test_a_finished_run_of_another_protocol_is_refused_not_kept(tmp_path):
    from cxr_gan.classifier.train import ClassifierRunConfig, check_same_run
    from cxr_gan.cli import UserError
    from cxr_gan.io import to_jsonable, write_json

    made = ClassifierRunConfig(data="d", synthetic=True, method="flip", image_size=96, epochs=6)
    write_json(tmp_path / "config.json", to_jsonable(made))
    check_same_run(tmp_path, made)  # The same options: kept.
    for change in ({"image_size": 64}, {"epochs": 3}, {"data": "other"}):
        import dataclasses

        with pytest.raises(UserError, match=f"{next(iter(change))} = "):
            check_same_run(tmp_path, dataclasses.replace(made, **change))


def test_class_order_puts_the_positive_class_last_for_two_classes():
    from cxr_gan.classifier.train import class_order, probability_columns
    from cxr_gan.cli import OptionError

    assert class_order(("PNEUMONIA", "NORMAL")) == ("NORMAL", "PNEUMONIA")
    assert class_order(("NORMAL", "PNEUMONIA"), "NORMAL") == ("PNEUMONIA", "NORMAL")
    assert class_order(("sick", "healthy")) == ("healthy", "sick")
    assert class_order(("c", "a", "b")) == ("a", "b", "c")
    assert probability_columns(("NORMAL", "PNEUMONIA")) == ("prob_pneumonia",)
    assert probability_columns(("A", "b", "C")) == ("prob_a", "prob_b", "prob_c")
    with pytest.raises(OptionError, match="names no class"):
        class_order(("a", "b"), "c")
    with pytest.raises(OptionError, match="two-class task"):
        class_order(("a", "b", "c"), "a")


def test_every_class_below_the_largest_is_topped_up_to_its_count():
    from cxr_gan.classifier.train import ClassifierRunConfig, top_up_counts

    y = np.array([0] * 3 + [1] * 7 + [2] * 5)
    config = ClassifierRunConfig(data="d", synthetic=False, method="flip", classes=("a", "b", "c"))
    assert top_up_counts(config, y, None) == {"a": 4, "c": 2}
    assert top_up_counts(config, y, "c") == {"c": 2}  # A GAN of c: a is left as it is.
    none = ClassifierRunConfig(data="d", synthetic=False, method="none", classes=("a", "b", "c"))
    assert top_up_counts(none, y, None) == {"a": 0, "c": 0}


def test_a_second_topped_up_class_draws_its_own_stream():
    from cxr_gan.classifier.augment import AugmentConfig, top_up

    images = np.arange(4 * 8 * 8, dtype=np.uint8).reshape(4, 8, 8, 1)
    first = top_up(images, 6, "crop", AugmentConfig(), seed=0)
    assert np.array_equal(first, top_up(images, 6, "crop", AugmentConfig(), seed=0, stream=0))
    assert not np.array_equal(first, top_up(images, 6, "crop", AugmentConfig(), seed=0,
                                            stream=1))


def test_a_three_class_head_and_its_two_class_twin():
    from cxr_gan.classifier.model import build_classifier

    two, three = build_classifier(32, seed=0), build_classifier(32, seed=0, n_classes=3)
    assert two.output_shape == (None, 2) and three.output_shape == (None, 3)
    # Every layer but the head is initialised alike.
    for a, b in zip(two.layers[:-1], three.layers[:-1]):
        for wa, wb in zip(a.get_weights(), b.get_weights()):
            np.testing.assert_array_equal(wa, wb)
