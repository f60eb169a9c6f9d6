"""The report: the paper's Table 1 from its Table 2 counts, and a report from run folders."""

import json

import numpy as np
import pandas as pd
import pytest

from cxr_gan.evaluation import paper
from cxr_gan.evaluation.metrics import classification_metrics
from cxr_gan.evaluation.report import (build_report, make_report, paper_table_1_from_counts,
                                       roc_curves)


def _within_last_digit(value, printed, decimals):
    # One unit of the last printed digit; the paper sometimes truncates (flip FPR 0.098 -> 0.09).
    return abs(value - printed) <= 10 ** -decimals + 1e-12


@pytest.mark.parametrize("method", ["gan", "flip"])
def test_paper_table_1_rows_follow_from_table_2_counts(method):
    ours = paper_table_1_from_counts(method)
    printed = paper.TABLE_1_PRINTED[method]
    for key, value in printed.items():
        if value is None:
            continue
        scale, decimals = (100, 1) if key not in ("fpr", "tpr") else (1, len(str(value)) - 2)
        assert _within_last_digit(ours[key] * scale, value, decimals), (method, key)
    assert sum(paper.TABLE_2_COUNTS[method][k] for k in ("tn", "fp", "fn", "tp")) == 1172


def _fake_run(path, method, seed, labels, probs, split="pooled"):
    from cxr_gan.evaluation.metrics import classification_metrics

    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({
        "method": method, "seed": seed, "split": split, "data": "somewhere", "synthetic": False,
        "image_size": 224, "epochs": 8, "test_images": len(labels),
        "generator": "g.keras" if method == "gan" else None}))
    pd.DataFrame({"path": [f"img{i}.jpeg" for i in range(len(labels))],
                  "label": np.where(labels == 1, "PNEUMONIA", "NORMAL"),
                  "prob_pneumonia": probs}).to_csv(path / "predictions.csv", index=False)
    (path / "metrics.json").write_text(json.dumps(classification_metrics(labels, probs)))


def test_report_tables_figure_and_mcnemar(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    good = np.clip(labels + rng.normal(0, 0.3, 200), 0, 1)
    poor = np.clip(labels + rng.normal(0, 0.6, 200), 0, 1)
    _fake_run(tmp_path / "gan-s0", "gan", 0, labels, good)
    _fake_run(tmp_path / "flip-s0", "flip", 0, labels, poor)
    _fake_run(tmp_path / "flip-s1", "flip", 1, labels, poor[::-1].copy())
    text = build_report([tmp_path / "gan-s0", tmp_path / "flip-s0", tmp_path / "flip-s1"],
                        tmp_path / "report")
    assert "| gan | 1 |" in text and "| flip | 2 |" in text and "[95.5]" in text
    assert "split: pooled" in text and "seeds: [0, 1]" in text and "GAN images: g.keras" in text
    table1 = pd.read_csv(tmp_path / "report" / "table1.csv", comment="#")
    flip = table1[table1.method == "flip"].iloc[0]
    runs = [json.loads((tmp_path / f"flip-s{s}" / "metrics.json").read_text()) for s in (0, 1)]
    assert flip["accuracy"] == pytest.approx(100 * np.mean([r["accuracy"] for r in runs]))
    mcnemar = pd.read_csv(tmp_path / "report" / "mcnemar.csv", comment="#")
    gan_right = (good >= 0.5) == labels
    for seed, flip in ((0, poor), (1, poor[::-1])):  # b, c counted by hand.
        row = mcnemar[mcnemar.seed == seed].iloc[0]
        flip_right = (flip >= 0.5) == labels
        assert row["gan_seed"] == 0 and row["method"] == "flip"
        assert row["b"] == np.sum(gan_right & ~flip_right)
        assert row["c"] == np.sum(~gan_right & flip_right)
    assert set(mcnemar.gan_method) == {"gan"}
    curves = roc_curves(make_report([tmp_path / "gan-s0"])).curves
    (label, fpr, tpr), = curves
    assert label.startswith("gan s0 (AUC ") and (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    from PIL import Image

    with Image.open(tmp_path / "report" / "roc.png") as image:
        assert image.format == "PNG" and min(image.size) > 300


def test_paper_values_only_beside_runs_on_the_pooled_split(tmp_path):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 50)
    _fake_run(tmp_path / "gan-s0", "gan", 0, labels, rng.uniform(0, 1, 50), split="official")
    text = build_report([tmp_path / "gan-s0"], tmp_path / "report")
    assert "[95.5]" not in text and "shown only for runs on `--split pooled`" in text


@pytest.mark.slow  # 10,000 bootstrap replicates per pair: half a minute.
def test_gan_and_gan_crop_are_each_tested_against_every_method_with_intervals(tmp_path):
    from cxr_gan.evaluation.metrics import bootstrap_intervals

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 150)
    runs = {"gan-s0": ("gan", 0.3), "gan+crop-s0": ("gan+crop", 0.4), "none-s0": ("none", 0.5)}
    probs = {}
    for name, (method, noise) in runs.items():
        probs[name] = np.clip(labels + rng.normal(0, noise, 150), 0, 1)
        _fake_run(tmp_path / name, method, 0, labels, probs[name])
        metrics = json.loads((tmp_path / name / "metrics.json").read_text())
        metrics["ci95"] = bootstrap_intervals(labels, probs[name], seed=0)
        (tmp_path / name / "metrics.json").write_text(json.dumps(metrics))
    text = build_report([tmp_path / name for name in runs], tmp_path / "report")
    mcnemar = pd.read_csv(tmp_path / "report" / "mcnemar.csv", comment="#")
    pairs = sorted(zip(mcnemar.gan_method, mcnemar.method))
    assert pairs == [("gan", "gan+crop"), ("gan", "none"), ("gan+crop", "none")]  # Each once.
    row = mcnemar[(mcnemar.gan_method == "gan+crop") & (mcnemar.method == "none")].iloc[0]
    right = {name: (p >= 0.5) == labels for name, p in probs.items()}
    assert row["b"] == np.sum(right["gan+crop-s0"] & ~right["none-s0"])
    intervals = pd.read_csv(tmp_path / "report" / "intervals.csv", comment="#")
    none = intervals[intervals.method == "none"].iloc[0]
    low, high = bootstrap_intervals(labels, probs["none-s0"], seed=0)["accuracy"]
    assert (none["accuracy_low"], none["accuracy_high"]) == pytest.approx((low, high))
    assert none["accuracy_low"] <= none["accuracy"] <= none["accuracy_high"]
    assert "| gan+crop | 0 | none | 0 |" in text and "95 % bootstrap interval" in text


def test_differences_over_seeds_pair_every_gan_method_with_every_method(tmp_path):
    from cxr_gan.evaluation.metrics import method_difference

    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 120)
    right = {}
    names = [("gan", 0), ("gan", 1), ("none", 0), ("none", 1), ("none", 2), ("flip", 0)]
    for method, seed in names:
        probs = np.clip(labels + rng.normal(0, 0.45, 120), 0, 1)
        right[method, seed] = (probs >= 0.5) == labels
        _fake_run(tmp_path / f"{method}-s{seed}", method, seed, labels, probs)
    text = build_report([tmp_path / f"{m}-s{s}" for m, s in names], tmp_path / "report")
    differences = pd.read_csv(tmp_path / "report" / "differences.csv", comment="#")
    assert sorted(zip(differences.gan_method, differences.method)) == [("gan", "flip"),
                                                                       ("gan", "none")]
    row = differences[differences.method == "none"].iloc[0]
    assert (row["gan_runs"], row["runs"]) == (2, 3)
    expected = method_difference([right["gan", 0], right["gan", 1]],
                                 [right["none", s] for s in (0, 1, 2)], labels)
    for key in ("accuracy", "auc_thresholded"):
        for name, value in expected[key].items():
            assert row[f"{key}_{name}"] == pytest.approx(value)
    accuracy_gap = np.mean([right["gan", s].mean() for s in (0, 1)]) - np.mean(
        [right["none", s].mean() for s in (0, 1, 2)])
    assert row["accuracy_difference"] == pytest.approx(accuracy_gap)
    assert f"| gan | 2 | none | 3 | {100 * accuracy_gap:+.1f} [" in text


def _false_positives_script():
    from experiments import false_positives  # The repository root is on pytest's path.

    return false_positives


def test_false_positives_by_folder_hand_counts(tmp_path):
    from PIL import Image

    false_positives = _false_positives_script()
    data = tmp_path / "data"
    checker = (np.indices((16, 16)).sum(axis=0) % 2 * 255).astype(np.uint8)
    for folder in ("train", "test"):
        for label, pixels in (("NORMAL", checker), ("PNEUMONIA", np.full((16, 16), 90, np.uint8))):
            (data / folder / label).mkdir(parents=True)
            for i in range(2):
                Image.fromarray(pixels).save(data / folder / label / f"{i}.png")
    paths = [f"{f}/{c}/{i}.png" for f in ("train", "test") for c in ("NORMAL", "PNEUMONIA")
             for i in range(2)]
    # train/ NORMAL: 0 of 2 called PNEUMONIA; test/ NORMAL: 1 of 2 (seed 0), 2 of 2 (seed 1).
    probs = {0: [0.1, 0.2, 0.9, 0.8, 0.7, 0.3, 0.9, 0.9],
             1: [0.1, 0.2, 0.9, 0.8, 0.7, 0.9, 0.9, 0.9]}
    for seed, p in probs.items():
        run = tmp_path / "runs" / f"none-s{seed}"
        run.mkdir(parents=True)
        (run / "config.json").write_text(json.dumps(
            {"method": "none", "seed": seed, "split": "pooled", "epochs": 8, "data": str(data),
             "synthetic": False, "image_size": 16, "test_images": len(paths)}))
        labels = [int("PNEUMONIA" in path) for path in paths]
        (run / "metrics.json").write_text(json.dumps(classification_metrics(labels, p)))
        pd.DataFrame({"path": paths, "label": [p.split("/")[1] for p in paths],
                      "prob_pneumonia": p}).to_csv(run / "predictions.csv", index=False)
    out = tmp_path / "fp.md"
    assert false_positives.main(["--data", str(data), "--runs", str(tmp_path / "runs"),
                                 "--out", str(out)]) == 0
    row = next(line for line in out.read_text().splitlines() if line.startswith("| pooled |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # split, method, epochs, seeds, ROC AUC, train n, FPR, median P, test n, FPR, range, median P
    assert cells[:4] == ["pooled", "none", "8", "0, 1"]
    assert cells[5:7] == ["2", "0.0"] and cells[8:11] == ["2", "75.0", "50.0-100.0"]
    assert cells[7] == "0.15" and cells[11] == "0.65"  # medians (0.1, 0.2) and mean of 0.5, 0.8
    assert "ROC AUC 1.000" in out.read_text()  # constant PNEUMONIA images have no detail
    # Table 2: a constant image of gray 90 has no detail, mean 90 and no spread.
    for folder in ("train", "test"):
        assert f"| {folder}/ | PNEUMONIA | 2 | 0.00 | 0.00-0.00 | 90.0 | 0.0 |" in out.read_text()


def test_recalibrated_threshold_on_separable_scores_is_perfect_on_the_other_half():
    recalibrated = _false_positives_script().recalibrated
    # Every NORMAL image above 0.5 (all called PNEUMONIA at 0.5), yet ranked below every
    # PNEUMONIA image (all at 0.95): Youden's threshold on any half is 0.95, and it separates
    # the other half exactly.
    labels = np.array([0] * 20 + [1] * 30)
    probs = np.concatenate([np.linspace(0.6, 0.8, 20), np.full(30, 0.95)])
    assert recalibrated(labels, probs, repeats=20) == {
        "accuracy": 1.0, "fpr": 0.0, "tpr": 1.0, "threshold": 0.95}


def test_mean_abs_laplacian_known_answers():
    detail = _false_positives_script().mean_abs_laplacian
    rows, cols = np.mgrid[0:6, 0:7]
    assert detail(np.full((5, 5), 17.0)) == 0.0
    assert detail(3.0 * rows - 2.0 * cols + 5) == 0.0  # a linear ramp
    assert detail((rows + cols) % 2) == 4.0  # 0/1 checkerboard
    with pytest.raises(ValueError, match="2-D image"):
        detail(np.zeros((2, 5)))


# -- damaged, repeated and mixed runs (issue: reliability, third pass) -------------------------
def _two_runs(tmp_path, n=40):
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, n)
    for method in ("flip", "gan"):
        _fake_run(tmp_path / "runs" / f"{method}-s0", method, 0, labels, rng.uniform(0, 1, n))
    return tmp_path / "runs"


def test_a_run_named_twice_counts_once(tmp_path):
    from cxr_gan.evaluation.report import find_runs

    runs = _two_runs(tmp_path)
    flip = runs / "flip-s0"
    found = find_runs([flip, flip, runs, runs / ".." / "runs" / "flip-s0"])
    assert [p.name for p in found] == ["flip-s0", "gan-s0"]
    table = make_report(found).table1
    assert dict(zip(table.method, table.runs)) == {"flip": 1, "gan": 1}


@pytest.mark.parametrize("key, value", [("image_size", 96), ("epochs", 3), ("split", "official"),
                                        ("data", "elsewhere")])
def test_runs_of_two_protocols_are_refused_together(tmp_path, key, value):
    from cxr_gan.cli import UserError

    runs = _two_runs(tmp_path)
    config = json.loads((runs / "gan-s0" / "config.json").read_text())
    (runs / "gan-s0" / "config.json").write_text(json.dumps({**config, key: value}))
    with pytest.raises(UserError, match=f"The runs differ in {key}"):
        make_report([runs / "flip-s0", runs / "gan-s0"])


def _damage(run, name, change):
    path = run / name
    if name == "predictions.csv":
        frame = pd.read_csv(path)
        change(frame).to_csv(path, index=False)
    else:
        path.write_text(json.dumps(change(json.loads(path.read_text()))))


@pytest.mark.parametrize("name, change, message", [
    ("predictions.csv", lambda f: f.iloc[:10], "holds 10 rows; the run tested 40 images"),
    ("predictions.csv", lambda f: f.assign(prob_pneumonia=["x"] + list(f.prob_pneumonia[1:])),
     "row 2: prob_pneumonia 'x' is not a probability"),
    ("predictions.csv", lambda f: f.drop(columns=["label"]), "has no column label"),
    ("predictions.csv", lambda f: f.assign(prob_pneumonia=f.prob_pneumonia + 2),
     "is not a probability"),
    ("metrics.json", lambda m: ["a", "list"], "holds a list, not an object"),
    ("metrics.json", lambda m: {k: v for k, v in m.items() if k != "tp"}, "has no tp"),
    ("metrics.json", lambda m: {**m, "accuracy": "high"}, "accuracy = 'high', not a number"),
    ("metrics.json", lambda m: {**m, "accuracy": float("nan")}, "not a number in [0, 1]"),
    ("metrics.json", lambda m: {**m, "fp": -3}, "fp = -3, not a count"),
    ("config.json", lambda c: {k: v for k, v in c.items() if k != "method"}, "has no method"),
])
def test_a_damaged_run_is_one_message_naming_its_file(tmp_path, name, change, message):
    from cxr_gan.cli import BadFileError

    runs = _two_runs(tmp_path)
    _damage(runs / "gan-s0", name, change)
    with pytest.raises(BadFileError, match="gan-s0") as refused:
        make_report([runs / "flip-s0", runs / "gan-s0"])
    assert message in str(refused.value) and name in str(refused.value)


def test_a_truncated_predictions_file_is_named(tmp_path):
    from cxr_gan.cli import BadFileError

    runs = _two_runs(tmp_path)
    path = runs / "gan-s0" / "predictions.csv"
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])  # Cut mid-file.
    with pytest.raises(BadFileError, match="predictions.csv"):
        make_report([runs / "gan-s0"])


def test_a_gzipped_predictions_file_reports_as_the_plain_one_and_a_cut_one_is_named(tmp_path):
    from cxr_gan.cli import BadFileError
    from cxr_gan.evaluation.report import load_run
    from cxr_gan.io import gzip_file

    runs = _two_runs(tmp_path)
    plain = load_run(runs / "gan-s0")
    packed = gzip_file(runs / "gan-s0" / "predictions.csv")
    assert packed.name == "predictions.csv.gz"
    assert not (runs / "gan-s0" / "predictions.csv").exists()
    pd.testing.assert_frame_equal(load_run(runs / "gan-s0")["predictions"], plain["predictions"])
    packed.write_bytes(packed.read_bytes()[:-20])  # Cut before the end of the stream.
    with pytest.raises(BadFileError, match="predictions.csv.gz"):
        make_report([runs / "gan-s0"])


def _fake_three_class_run(path, method, seed, labels, probabilities, classes=("A", "B", "C"),
                          train_counts=None):
    from cxr_gan.evaluation.metrics import multiclass_metrics

    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({
        "method": method, "seed": seed, "split": "pooled", "data": "d.csv", "synthetic": False,
        "image_size": 64, "epochs": 8, "test_images": len(labels), "classes": list(classes),
        "generator": "g.keras" if method == "gan" else None, "train_counts": train_counts}))
    table = {"path": [f"img{i}.png" for i in range(len(labels))],
             "label": [classes[j] for j in labels]}
    table.update({f"prob_{c.lower()}": probabilities[:, j] for j, c in enumerate(classes)})
    pd.DataFrame(table).to_csv(path / "predictions.csv", index=False)
    (path / "metrics.json").write_text(json.dumps(multiclass_metrics(labels, probabilities,
                                                                     classes)))


def test_a_three_class_report_has_its_tables_panels_and_paired_tests(tmp_path):
    labels = np.repeat([0, 1, 2], 4)
    right = np.eye(3)[labels] * 0.8 + 0.1
    wrong = np.eye(3)[(labels + 1) % 3] * 0.8 + 0.1
    mixed = np.where((np.arange(12) % 2 == 0)[:, None], right, wrong)
    _fake_three_class_run(tmp_path / "gan-s0", "gan", 0, labels, right,
                          train_counts={"A": 9, "B": 5, "C": 6, "B_added": 4, "left_as_is": ["C"]})
    _fake_three_class_run(tmp_path / "none-s0", "none", 0, labels, mixed)
    text = build_report([tmp_path / "gan-s0", tmp_path / "none-s0"], tmp_path / "report")
    assert text.startswith("# Augmentation comparison, 3 classes (A, B, C)")
    table1 = pd.read_csv(tmp_path / "report" / "table1.csv", comment="#").set_index("method")
    assert table1.loc["gan", "accuracy"] == 100.0 and table1.loc["none", "accuracy"] == 50.0
    assert table1.loc["none", "recall_A"] == 50.0
    table2 = pd.read_csv(tmp_path / "report" / "table2.csv", comment="#")
    none_a = table2[(table2.method == "none") & (table2.true == "A")].iloc[0]
    # Images 0 and 2 of A right, 1 and 3 called B.
    assert (none_a.called_A, none_a.called_B, none_a.called_C) == (2, 2, 0)
    mcnemar = pd.read_csv(tmp_path / "report" / "mcnemar.csv", comment="#").iloc[0]
    assert (mcnemar.b, mcnemar.c) == (6, 0)
    assert "balanced accuracy" in text and "[95.5]" not in text
    assert "left as they are: C" in text
    assert (tmp_path / "report" / "roc.png").stat().st_size > 0


def test_a_run_of_other_classes_is_refused_beside_kermany_runs(tmp_path):
    labels = np.repeat([0, 1, 2], 4)
    _fake_three_class_run(tmp_path / "a-s0", "none", 0, labels, np.eye(3)[labels])
    _fake_three_class_run(tmp_path / "b-s0", "flip", 0, labels, np.eye(3)[labels],
                          classes=("A", "B", "D"))
    from cxr_gan.cli import UserError

    with pytest.raises(UserError, match="differ in classes"):
        make_report([tmp_path / "a-s0", tmp_path / "b-s0"])


def _gan_fastgan_script():
    from experiments import gan_fastgan  # The repository root is on pytest's path.

    return gan_fastgan


FASTGAN_CANDIDATE = "1/4 widths, batch 8"


def test_gan_fastgan_plan_hand_counts(tmp_path):
    gan_fastgan = _gan_fastgan_script()
    speeds = tmp_path / "speeds.jsonl"
    speeds.write_text("\n".join(json.dumps(r) for r in [
        {"section": "fastgan-preset", "candidate": FASTGAN_CANDIDATE, "seconds_per_update": 2.0},
        {"section": "fastgan-preset", "candidate": FASTGAN_CANDIDATE, "seconds_per_update": 1.0},
        {"section": "efficient-preset", "candidate": "1/4 widths, k5, batch 32",
         "options": "diffaugment+ema", "seconds_per_update": 1.551}]) + "\n")
    # 30 min at 1.0 s (the newest record) = 1800 updates; 1341 // 8 = 167 an epoch -> 11 epochs.
    assert gan_fastgan.plan("fastgan", 30, speeds) == {
        "preset": "fastgan", "flags": [], "seconds_per_update": 1.0, "updates": 1837,
        "epochs": 11, "fid_every": 3}
    # int(1800 / 1.551) = 1160, twice = 2320; 1341 // 32 = 41 an epoch -> 57 epochs = 2337.
    planned = gan_fastgan.plan("efficient-2x", 30, speeds)
    assert (planned["updates"], planned["epochs"], planned["fid_every"]) == (2337, 57, 15)


def _scored_folder(folder, fid_768, fid_at):
    folder.mkdir(parents=True)
    scores = {"fid_768": fid_768, "fid_2048": 100.0, "kid_mean": 0.1, "precision": 0.01,
              "recall": 0.0, "copies": 0, "near_copies": 2}
    (folder / "fid-generator.json").write_text(json.dumps(scores))
    (folder / "ceiling-generator.json").write_text(json.dumps(
        [{"candidate": "671 generated", "scores": {"precision": 0.02, "recall": 0.0}}]))
    (folder / "config.json").write_text(json.dumps({"versions": {"machine": "CPU X, 2 CPUs"}}))
    rows = ["epoch,steps,seconds,fid_768"] + [
        f"{e},10,30,{fid_at.get(e, '')}" for e in (1, 2, 3)]
    (folder / "history.csv").write_text("\n".join(rows) + "\n")


def test_gan_fastgan_comparison_lists_scored_folders_in_the_arms_order(tmp_path):
    gan_fastgan = _gan_fastgan_script()
    _scored_folder(tmp_path / "fastgan-lecam-s1", 0.8, {2: 0.9, 3: 0.8})
    _scored_folder(tmp_path / "efficient-s0", 1.2, {3: 1.2})
    (tmp_path / "fastgan-s0").mkdir()  # trained, not scored: no row
    gan_fastgan.write_comparison(tmp_path)
    text = (tmp_path / "comparison.md").read_text()
    assert "| efficient | 0 | 30 | 2 | CPU X | 1.200 | 100.0 | 0.100 | 0.010 | 0.000 | 0.020 " \
           "| 0.000 | 0 | 2 |" in text
    assert text.index("| efficient | 0 |") < text.index("| fastgan-lecam | 1 |")
    assert "| fastgan-lecam, seed 1 | 0.900, 0.800 | 20, 30 |" in text
    assert "| efficient, seed 0 | 1.200 | 30 |" in text
    assert "fastgan, seed 0" not in text and "| fastgan | 0 |" not in text
