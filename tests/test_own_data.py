"""Your own data, end to end: a data set of each of the three kinds (split folders, class
folders, a CSV), with two and three classes, trains a GAN on a chosen class, generates, scores
and runs the classifier comparison with its report; bad data sets are one message."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

import evaluate
import train_classifier
import train_gan
from cxr_gan import cli

# Images per class: (train, test). The smallest class, "rare", is the GAN's default.
SIZES = {"big": (16, 4), "mid": (12, 4), "rare": (10, 4)}


def _image(rng, j):
    """A 32x32 gray image whose brightness tells its class (so the arms can learn it)."""
    return np.clip(rng.normal(60 + 60 * j, 25, (32, 32)), 0, 255).astype(np.uint8)


def _make(kind, root, classes):
    """Writes a data set of ``kind``; returns what ``--data`` takes."""
    rng = np.random.default_rng(0)
    rows = []
    for j, name in enumerate(classes):
        n_train, n_test = SIZES[name]
        for i in range(n_train + n_test):
            split = "train" if i < n_train else "test"
            relative = {"split-folders": f"{split}/{name}/{name}{i}.png",
                        "class-folders": f"{name}/{name}{i}.png",
                        "csv": f"images/{name}{i}.png"}[kind]
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(_image(rng, j)).save(root / relative)
            rows.append((relative, name, f"patient{i // 2}-{name}", split))
    if kind != "csv":
        return root
    with open(root / "labels.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([("path", "label", "patient", "split"), *rows])
    return root / "labels.csv"


KINDS = [("split-folders", ("big", "mid", "rare"), "official"),
         ("class-folders", ("big", "rare"), "pooled"),
         ("csv", ("big", "mid", "rare"), "pooled-patient")]


@pytest.mark.parametrize("kind, classes, split", KINDS)
def test_each_kind_gives_the_gan_its_class_and_the_classifier_every_class(tmp_path, kind,
                                                                         classes, split):
    from cxr_gan.classifier.train import ClassifierRunConfig, prepare_training_set
    from cxr_gan.gan.train import make_run_config, prepare_training_images, resolve_label

    data = str(_make(kind, tmp_path / "data", classes))
    gan_config = make_run_config(data, "demo", 1, split=split, validation_seeds=(0,))
    assert resolve_label(gan_config) == "rare"  # The smallest class of the training part.
    loaded, report = prepare_training_images(gan_config)
    assert {row[2] for row in loaded.manifest_rows} == {"rare"}
    assert report["training_images"]["used"] + report["training_images"]["left_out_validation"] \
        == report["counts"]["train"]["rare"]
    fake = tmp_path / "fake"
    fake.mkdir()
    rng = np.random.default_rng(1)
    for i in range(20):
        Image.fromarray(_image(rng, 2)).save(fake / f"gen-s0-{i:06d}.png")
    sets = {method: prepare_training_set(ClassifierRunConfig(
        data=data, synthetic=False, method=method, split=split, image_size=32,
        gan_images=str(fake) if method == "gan" else None)) for method in ("none", "flip", "gan")}
    kept = {c: sets["none"].counts[c] for c in classes}
    largest = max(kept.values())
    flip = sets["flip"]
    assert all(kept[c] + flip.counts.get(f"{c}_added", 0) == largest for c in classes)
    assert np.bincount(flip.y_train).tolist() == [largest] * len(classes)
    gan = sets["gan"].counts  # No provenance: the smallest class is topped up, no other.
    assert kept["rare"] + gan["rare_added"] == largest
    assert gan["left_as_is"] == (["mid"] if "mid" in classes else [])
    assert sets["none"].x_test.shape[1:] == (32, 32, 1)


# Two classes from split folders, three from a CSV with a chosen label; class folders read
# through the same path (the quick test above checks what each kind gives the GAN and the
# classifier).
END_TO_END = [("split-folders", ("big", "rare"), "official", "rare"),
              ("csv", ("big", "mid", "rare"), "pooled-patient", "mid")]


@pytest.mark.slow
@pytest.mark.parametrize("kind, classes, split, label", END_TO_END)
def test_each_kind_trains_a_gan_scores_it_and_runs_the_comparison(tmp_path, kind, classes,
                                                                  split, label):
    data = str(_make(kind, tmp_path / "data", classes))
    gan = tmp_path / "gan"
    chosen = ["--label", label] if label != "rare" else []  # "rare": the default, the smallest.
    assert train_gan.main(["--data", data, "--split", split, "--preset", "demo", "--epochs", "1",
                           "--batch-size", "4", *chosen, "--out", str(gan),
                           "--verbose", "0"]) == 0
    assert json.loads((gan / "config.json").read_text())["label"] == label
    assert train_gan.main(["generate", "--generator", str(gan / "generator.keras"),
                           "--num-images", "12", "--seed", "0", "--out", str(tmp_path / "fake")]) == 0
    assert evaluate.main(["score", "--run", str(gan), "--fake", str(tmp_path / "fake"),
                          "--out", str(tmp_path / "scores")]) == 0
    scores = json.loads((tmp_path / "scores" / "fid.json").read_text())
    assert np.isfinite(scores["fid_768"])
    from PIL import Image  # The first 12 of 12 generated images, shown with their source.
    assert Image.open(tmp_path / "scores" / "generated-first16.png").size[0] > 0
    used = json.loads((gan / "data_report.json").read_text())["training_images"]["used"]
    assert 0 < used <= SIZES[label][0]
    assert scores["n_real"] == used  # Scored against the run's own training files.
    assert train_classifier.main(["--data", data, "--split", split, "--augment", "none,gan",
                                  "--generator", str(gan / "generator.keras"),
                                  "--image-size", "32", "--epochs", "1", "--out",
                                  str(tmp_path / "cls"), "--verbose", "0"]) == 0
    run = json.loads((tmp_path / "cls" / "gan-s0" / "config.json").read_text())
    assert run["classes"] == list(classes)
    # The generator's class (its provenance) is topped up to the largest; any other is left.
    counts = run["train_counts"]
    assert counts[label] + counts[f"{label}_added"] == counts["big"]
    assert counts["left_as_is"] == [c for c in classes if c not in ("big", label)]
    with open(tmp_path / "cls" / "none-s0" / "predictions.csv") as handle:
        header = next(csv.reader(handle))
    assert header == ["path", "label", *(f"prob_{c}" for c in classes[1 if len(classes) == 2
                                                                       else 0:])]
    metrics = json.loads((tmp_path / "cls" / "none-s0" / "metrics.json").read_text())
    if len(classes) == 2:
        assert metrics["tn"] + metrics["fp"] + metrics["fn"] + metrics["tp"] == \
            run["test_images"]
    else:
        assert sum(map(sum, metrics["confusion"])) == run["test_images"]
    assert evaluate.main(["report", "--runs", str(tmp_path / "cls"), "--out",
                          str(tmp_path / "report")]) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    if len(classes) == 2:
        assert "classes: big, rare (positive: rare)" in report
        assert "Table 3 context" not in report  # The paper's Kermany figures are not shown.
    else:
        assert f"{len(classes)} classes ({', '.join(classes)})" in report


@pytest.mark.slow
def test_label_and_positive_name_a_class_or_are_one_message(tmp_path, capsys):
    data = str(_make("class-folders", tmp_path / "data", ("big", "rare")))
    code = cli.run_script(train_gan.main, ["--data", data, "--split", "pooled", "--label", "x",
                                           "--out", str(tmp_path / "gan")])
    assert code == cli.EXIT_USER_ERROR
    assert "--label 'x' names no class of this data set; its classes are big, rare" in \
        capsys.readouterr().err
    assert not (tmp_path / "gan").exists()
    code = cli.run_script(train_classifier.main, ["--data", data, "--split", "pooled",
                                                  "--positive", "x", "--out", str(tmp_path / "c")])
    assert code == cli.EXIT_USER_ERROR
    assert "--positive 'x' names no class" in capsys.readouterr().err
    code = cli.run_script(train_classifier.main, ["--data", data, "--out", str(tmp_path / "c")])
    assert code == cli.EXIT_USER_ERROR  # Class folders have no official split.
    assert "Use --split pooled or pooled-patient" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
