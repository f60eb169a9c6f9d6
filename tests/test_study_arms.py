"""The learning-curve study's pieces (#26): nested stratified training subsets, and the control
arms duplicate, class-weight, standard, mixup and gan+standard, each against a hand count."""

import dataclasses
import json

from pathlib import Path

import numpy as np
import pytest

from cxr_gan.data import datasets


def _records(counts, split="train"):
    return [datasets.ImageRecord(f"{split}/{name}/{name}{i:03d}.png", split, name, f"p{name}{i}")
            for name, n in counts.items() for i in range(n)]


def _counts(records):
    return {name: sum(r.label == name for r in records) for name in sorted({r.label for r in records})}


def test_the_subsets_are_stratified_to_one_image_and_nested():
    train = _records({"a": 30, "b": 70})
    order = datasets.subset_order(train, seed=0)
    assert sorted(r.path for r in order) == sorted(r.path for r in train)  # Every record once.
    # Hand counts: the 10 lowest keys (rank + 1/2) / size are a's ranks 0-2 (1/60 .. 5/60) and
    # b's ranks 0-6 (1/140 .. 13/140); at 1/20 the tie goes to a, the first class.
    assert _counts(order[:10]) == {"a": 3, "b": 7}
    assert _counts(order[:50]) == {"a": 15, "b": 35}
    three = _records({"a": 13, "b": 41, "c": 7})
    order = datasets.subset_order(three, seed=4)
    for n in range(1, len(three) + 1):  # Each class within one image of its share, any size.
        counts = _counts(order[:n])
        for name, size in (("a", 13), ("b", 41), ("c", 7)):
            assert abs(counts.get(name, 0) - n * size / 61) <= 1, (n, name)
    parts = {"train": train, "test": _records({"a": 5, "b": 5}, "test")}
    kept = [set(r.path for r in datasets.training_subset(
        parts, datasets.TrainingSubset(n), seed=0)[0]["train"]) for n in (10, 20, 50, 100)]
    assert kept[0] < kept[1] < kept[2] < kept[3]  # Nested.
    cut, left = datasets.training_subset(parts, datasets.TrainingSubset(20), seed=0)
    assert cut["test"] == parts["test"] and len(left) == 80
    assert {r.path for r in left} | {r.path for r in cut["train"]} == {r.path for r in train}
    other_seed = datasets.training_subset(parts, datasets.TrainingSubset(20), seed=1)[0]["train"]
    assert {r.path for r in other_seed} != kept[1]  # The split seed draws it.


def test_a_cap_keeps_the_first_of_its_class_and_the_others_whole():
    train = _records({"a": 30, "b": 70})
    parts = {"train": train, "test": []}
    five = datasets.training_subset(parts, datasets.TrainingSubset(None, (("a", 5),)), 0)[0]
    ten = datasets.training_subset(parts, datasets.TrainingSubset(None, (("a", 10),)), 0)[0]
    assert _counts(five["train"]) == {"a": 5, "b": 70} and _counts(ten["train"])["a"] == 10
    assert {r.path for r in five["train"]} < {r.path for r in ten["train"]}
    both = datasets.training_subset(parts, datasets.TrainingSubset(30, (("a", 10),)), 0)[0]
    assert _counts(both["train"]) == {"a": 4, "b": 26}  # 30 x 10/80 = 3.75 -> 4.
    with pytest.raises(datasets.DataLayoutError, match="--cap z=... names no class"):
        datasets.training_subset(parts, datasets.TrainingSubset(None, (("z", 5),)), 0, "D")
    with pytest.raises(datasets.DataLayoutError, match="--train-size 101 is more than the 100"):
        datasets.training_subset(parts, datasets.TrainingSubset(101), 0, "D")


def test_the_size_flags_read_all_counts_and_caps():
    import argparse

    from cxr_gan import cli

    assert cli.train_size("all") is None and cli.train_size("250") == 250
    with pytest.raises(argparse.ArgumentTypeError):
        cli.train_size("9")
    assert cli.class_cap("NORMAL=100") == ("NORMAL", 100)
    assert cli.class_cap("a=b=7") == ("a=b", 7)  # The count follows the last "=".
    with pytest.raises(argparse.ArgumentTypeError):
        cli.class_cap("NORMAL")
    with pytest.raises(cli.OptionError, match="twice"):
        cli.class_caps([("a", 5), ("a", 6)])
    assert cli.class_caps([("b", 5), ("a", 6)]) == (("a", 6), ("b", 5))


def test_duplicate_tops_up_with_unaltered_copies_drawn_from_its_stream():
    from cxr_gan.classifier.augment import AugmentConfig, get_method, top_up

    images = np.arange(5 * 4 * 4, dtype=np.uint8).reshape(5, 4, 4, 1)
    made = top_up(images, 7, "duplicate", AugmentConfig(), seed=3)
    drawn = np.random.default_rng([3, get_method("duplicate").stream_id]).integers(0, 5, 7)
    np.testing.assert_array_equal(made, images[drawn])  # Exact copies, in the drawn order.
    for method in ("none", "class-weight", "standard", "mixup"):
        with pytest.raises(ValueError, match="must be one of"):
            top_up(images, 7, method, AugmentConfig(), seed=3)


def test_which_arms_add_images_and_the_class_weights_closed_form():
    from cxr_gan.classifier.train import ClassifierRunConfig, class_weights, top_up_counts

    y = np.array([0] * 3 + [1] * 9)
    adds = {m: top_up_counts(ClassifierRunConfig(data="d", synthetic=False, method=m,
                                                 classes=("a", "b")), y, None)
            for m in ("duplicate", "class-weight", "standard", "mixup", "gan+standard")}
    assert adds == {"duplicate": {"a": 6}, "class-weight": {"a": 0}, "standard": {"a": 0},
                    "mixup": {"a": 0}, "gan+standard": {"a": 6}}
    # n / (k n_j): 12 / (2 x 3) and 12 / (2 x 9).
    assert class_weights(y, 2) == pytest.approx({0: 2.0, 1: 2 / 3})


def test_online_augmentation_is_seeded_per_batch_and_stays_in_range():
    from cxr_gan.classifier.online import OnlineAugmentation

    rng = np.random.default_rng(0)
    x = rng.random((6, 32, 32, 1)).astype(np.float32)
    labels = np.array([0, 1, 0, 1, 1, 0])
    standard = OnlineAugmentation("standard")
    a, ya = standard(x, labels, 0, 0, 0)
    b, _ = OnlineAugmentation("standard")(x, labels, 0, 0, 0)  # A new pipeline, same seed.
    c, _ = standard(x, labels, 0, 0, 1)  # The next batch.
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, x)
    assert a.shape == x.shape and a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(ya, labels)
    one_hot = np.eye(2, dtype=np.float32)[labels]
    mixed, soft = OnlineAugmentation("mixup")(x, one_hot, 0, 2, 3)
    np.testing.assert_allclose(soft.sum(1), 1.0, atol=1e-6)
    # Each image is w x_i + (1 - w) x_j for the weight w its label row shows: recover j.
    for i in range(len(x)):
        matches = []
        for j in range(len(x)):
            if labels[i] == labels[j]:
                continue
            w = soft[i, labels[i]]
            if np.allclose(mixed[i], np.clip(w * x[i] + (1 - w) * x[j], 0, 1), atol=1e-5):
                matches.append(j)
        if not np.allclose(soft[i], one_hot[i]):
            assert matches, i


@pytest.mark.slow
def test_the_control_arms_train_on_a_subset_and_record_what_they_did(tiny_phantoms, tmp_path):
    from cxr_gan.classifier.train import run_many

    run_many(str(tiny_phantoms), ["duplicate", "class-weight", "standard", "mixup"], [0],
             str(tmp_path / "runs"), verbose=0, image_size=32, epochs=1, batch_size=8,
             train_size=40)
    configs = {m: json.loads((tmp_path / "runs" / f"{m}-s0" / "config.json").read_text())
               for m in ("duplicate", "class-weight", "standard", "mixup")}
    counts = configs["duplicate"]["train_counts"]
    # 40 of the 54 training images (24 NORMAL, 30 PNEUMONIA): 18 / 22; less 10 % validation.
    assert counts["NORMAL"] + counts["PNEUMONIA"] + configs["duplicate"]["validation_images"] \
        == 40
    assert counts["NORMAL"] + counts["NORMAL_added"] == counts["PNEUMONIA"]
    assert configs["class-weight"]["class_weights"]["0"] == pytest.approx(
        (counts["NORMAL"] + counts["PNEUMONIA"]) / (2 * counts["NORMAL"]))
    assert configs["standard"]["online_augmentation"]["rotation_degrees"] == 10.0
    assert configs["mixup"]["online_augmentation"]["alpha"] == 0.2
    assert all(c["train_size"] == 40 and c["train_counts"]["NORMAL_added"] == 0
               for m, c in configs.items() if m != "duplicate")
    manifest = (tmp_path / "runs" / "duplicate-s0" / "manifest.csv").read_text()
    assert manifest.count("outside the --train-size 40 subset") == 14


def test_the_gan_learns_the_minority_images_of_the_classifiers_subset(tiny_phantoms):
    from cxr_gan.classifier.train import ClassifierRunConfig, prepare_training_set
    from cxr_gan.gan.train import make_run_config, prepare_training_images

    gan = make_run_config(str(tiny_phantoms), "demo", 1, validation_seeds=(0, 1),
                          train_size=40)
    loaded, report = prepare_training_images(gan)
    classifier = prepare_training_set(ClassifierRunConfig(
        data=str(tiny_phantoms), synthetic=True, train_size=40, image_size=32))
    subset_normal = {row[0] for row in classifier.manifest_rows
                     if row[1] == "train" and row[2] == "NORMAL" and row[3] != "left-out"}
    assert report["counts"]["train"]["NORMAL"] == 18  # 40 x 24/54 = 17.8.
    assert set(loaded.paths) < subset_normal  # Within the subset, less two validation shares.
    assert len(loaded.paths) + report["training_images"]["left_out_validation"] == 18
    assert report["training_subset"] == "--train-size 40"
    outside = [row for row in loaded.manifest_rows if "outside the --train-size 40" in row[4]]
    assert len(outside) == 24 - 18 and all(row[2] == "NORMAL" for row in outside)


@pytest.mark.parametrize("n_train, expected", [
    (225, (132, 33, 12)),    # 250 images less 25 validation: 8 batches an epoch
    (4216, (8, 5, 0)),       # the pooled split's training images: the committed protocol
    (6152, (8, 5, 0)),       # topped up to 2 x 3076 PNEUMONIA: --epochs is the larger floor
    (3200, (11, 5, 0)),      # 100 batches: the warm-up ends with the first epoch
])
def test_the_epoch_budget_gives_small_sets_the_updates_of_large_ones(n_train, expected):
    from cxr_gan.classifier.train import ClassifierRunConfig, EpochBudget, epoch_budget

    config = ClassifierRunConfig(data="d", synthetic=False, epochs=8, min_updates=1056)
    assert epoch_budget(config, n_train) == EpochBudget(*expected)
    few = dataclasses.replace(config, epochs=1, min_updates=4)  # 100 updates not reached:
    assert epoch_budget(few, 108) == EpochBudget(1, 5, 0)  # the last epoch is judged
    unset = dataclasses.replace(config, min_updates=None)
    assert epoch_budget(unset, n_train) == EpochBudget(8, 5, 0)  # at most 8, judged from 0


COMMITTED_FULL_SIZE = Path(__file__).resolve().parents[1] / "results/cpu-classifier/pooled"


def _v2_config(**changes):
    from cxr_gan.classifier.train import ClassifierRunConfig

    return ClassifierRunConfig(**{
        "data": "../shared/data/chest_xray", "synthetic": False, "method": "none",
        "split": "pooled", "seed": 0, "epochs": 8, "min_updates": 1056,
        "classes": ("NORMAL", "PNEUMONIA"), **changes})


def test_a_committed_full_size_run_is_the_run_protocol_v2_makes_and_no_smaller_one():
    from cxr_gan.classifier.train import reuse_mismatch
    from cxr_gan.io import read_json

    for method in ("none", "flip"):  # 4215 and 6152 training images: budget (8, 5, 0) both.
        stored = read_json(f"{COMMITTED_FULL_SIZE}/{method}-s1/config.json")
        assert "min_updates" not in stored  # Made before --min-updates existed.
        assert reuse_mismatch(stored, _v2_config(method=method, seed=1)) is None
    stored = read_json(f"{COMMITTED_FULL_SIZE}/none-s0/config.json")
    assert reuse_mismatch(stored, _v2_config(seed=1)) == "seed = 0, not 1"
    assert reuse_mismatch(stored, _v2_config(train_size=250)) == "train_size = None, not 250"
    assert reuse_mismatch(stored, _v2_config(min_updates=2000)) == (
        "it had 8 epochs, patience 5 from epoch 0; --min-updates 2000 gives 16, patience 5 "
        "from epoch 0")  # ceil(2000 / 132) = 16 epochs; ceil(500 / 132) = 4 < 5.


def test_a_run_that_left_a_class_as_is_is_judged_by_its_images_not_its_class_names():
    from cxr_gan.classifier.train import images_per_epoch, reuse_mismatch
    from cxr_gan.io import read_json

    stored = read_json(f"{COMMITTED_FULL_SIZE}/none-s1/config.json")
    # A GAN run's counts also name the classes it left as is (a list, not a count).
    stored["train_counts"] = {**stored["train_counts"], "left_as_is": ["PNEUMONIA"]}
    assert images_per_epoch(stored["train_counts"]) == 1139 + 3076  # 0 added.
    assert images_per_epoch({"NORMAL": 2, "PNEUMONIA": 3, "NORMAL_added": 1,
                             "left_as_is": ["PNEUMONIA"]}) == 6
    assert reuse_mismatch(stored, _v2_config(seed=1)) is None


def test_a_reused_run_is_copied_with_where_it_came_from_and_a_different_one_refused(
        tmp_path, capsys):
    from cxr_gan.classifier.train import REUSED_FILES, reuse_finished_run
    from cxr_gan.io import read_json

    source = tmp_path / "done"
    (source / "none-s0").mkdir(parents=True)
    stored = {"data": "D", "method": "none", "seed": 0, "split": "pooled", "epochs": 8,
              "patience": 5, "train_counts": {"NORMAL": 1000, "PNEUMONIA": 2000}}
    (source / "none-s0" / "config.json").write_text(json.dumps(stored))
    for name in ("history.csv", "predictions.csv", "metrics.json"):
        (source / "none-s0" / name).write_text(f"{name} as it was\n")
    asked = _v2_config(data="D")  # 3000 images: 94 batches, 12 epochs for 1056 updates.
    assert reuse_finished_run(asked, tmp_path / "study" / "none-s0", [str(source)]) is None
    assert "it had 8 epochs, patience 5 from epoch 0; --min-updates 1056 gives 12" in \
        capsys.readouterr().out
    assert not (tmp_path / "study" / "none-s0" / "metrics.json").exists()
    same = dataclasses.replace(asked, min_updates=None)
    run_dir = tmp_path / "study" / "none-s0"
    missing = tmp_path / "nothing-here"
    unfinished = tmp_path / "unfinished"  # metrics.json without the rest: not a finished run.
    (unfinished / "none-s0").mkdir(parents=True)
    (unfinished / "none-s0" / "metrics.json").write_text("{}")
    assert reuse_finished_run(same, run_dir, [str(missing), str(unfinished), str(source)]) == \
        source / "none-s0"
    copied = read_json(run_dir / "config.json")
    reused_from = copied.pop("reused_from")  # Recorded relative: no machine's folders.
    assert copied == stored and not Path(reused_from).is_absolute()
    assert Path(reused_from).resolve() == (source / "none-s0").resolve()
    for name in REUSED_FILES[1:]:
        assert (run_dir / name).read_text() == f"{name} as it was\n"
    assert sorted(p.name for p in run_dir.iterdir()) == sorted((".lock", *REUSED_FILES))


def test_a_reused_run_with_gzipped_tables_is_copied_as_it_is_stored(tmp_path):
    from cxr_gan.classifier.train import reuse_finished_run
    from cxr_gan.io import gzip_file, read_json

    found = tmp_path / "done" / "none-s0"
    found.mkdir(parents=True)
    stored = {"data": "D", "method": "none", "seed": 0, "split": "pooled", "epochs": 8,
              "patience": 5, "train_counts": {"NORMAL": 1000, "PNEUMONIA": 2000}}
    (found / "config.json").write_text(json.dumps(stored))
    for name in ("history.csv", "predictions.csv", "metrics.json"):
        (found / name).write_text(f"{name} as it was\n")
    packed = gzip_file(found / "predictions.csv")
    run_dir = tmp_path / "study" / "none-s0"
    asked = _v2_config(data="D", min_updates=None)
    assert reuse_finished_run(asked, run_dir, [str(tmp_path / "done")]) == found
    assert (run_dir / "predictions.csv.gz").read_bytes() == packed.read_bytes()
    assert not (run_dir / "predictions.csv").exists()
    assert read_json(run_dir / "config.json")["seed"] == 0
