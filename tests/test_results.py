"""The committed classifier results are what their predictions say: every run's metrics equal a
recomputation from its predictions.csv (or the predictions.csv.gz it is committed as), and runs
of one split share one test set."""

import json
from collections import defaultdict

import pandas as pd
import pytest

from cxr_gan.evaluation.metrics import classification_metrics
from cxr_gan.io import stored_file
from tests.conftest import REPO

RUNS = sorted((REPO / "results").glob("cpu-classifier/*/*/metrics.json"))
EXPECTED_TEST_IMAGES = {"pooled": 1172, "pooled-patient": 1176, "official": 624}


@pytest.mark.parametrize("metrics_path", RUNS, ids=lambda p: f"{p.parent.parent.name}/"
                                                             f"{p.parent.name}")
def test_committed_metrics_equal_a_recomputation_from_the_predictions(metrics_path):
    stored = json.loads(metrics_path.read_text())
    predictions = pd.read_csv(stored_file(metrics_path.parent, "predictions.csv"))
    labels = (predictions["label"] == "PNEUMONIA").to_numpy().astype(int)
    recomputed = classification_metrics(labels, predictions["prob_pneumonia"].to_numpy())
    for key, value in recomputed.items():
        # The committed runs' predictions.csv round probabilities to 6 decimals (runs written
        # since hold every digit and reproduce their metrics exactly: test_classifier.py): ties
        # appear, the thresholded counts stay exact, the ROC AUC moves by up to 1.6e-5.
        tolerance = 0 if key in ("tn", "fp", "fn", "tp") else 1e-4
        assert stored[key] == pytest.approx(value, abs=tolerance), key
    config = json.loads((metrics_path.parent / "config.json").read_text())
    assert config["test_images"] == len(predictions)


def test_runs_of_one_split_share_one_test_set():
    by_split = defaultdict(set)
    for path in RUNS:
        paths = tuple(pd.read_csv(stored_file(path.parent, "predictions.csv"))["path"])
        by_split[path.parent.parent.name].add(paths)
    assert by_split, "no committed runs found"
    for split, sets in by_split.items():
        assert len(sets) == 1, split
        if split in EXPECTED_TEST_IMAGES:
            assert len(next(iter(sets))) == EXPECTED_TEST_IMAGES[split]


THREE_CLASS = REPO / "results" / "kermany-3class"


@pytest.mark.parametrize("method", ["none", "flip", "gan"])
def test_three_class_metrics_equal_a_recomputation_from_the_predictions(method):
    from cxr_gan.evaluation.metrics import multiclass_metrics

    run = THREE_CLASS / "classifier" / f"{method}-s0"
    stored = json.loads((run / "metrics.json").read_text())
    classes = tuple(json.loads((run / "config.json").read_text())["classes"])
    predictions = pd.read_csv(stored_file(run, "predictions.csv"))
    labels = predictions["label"].map(classes.index).to_numpy()
    probabilities = predictions[[f"prob_{c.lower()}" for c in classes]].to_numpy()
    recomputed = multiclass_metrics(labels, probabilities, classes)  # Every digit: exact.
    assert {k: v for k, v in stored.items() if k != "ci95"} == recomputed
    assert len(predictions) == 1172 and sum(map(sum, stored["confusion"])) == 1172


@pytest.mark.real_data
def test_three_class_test_set_is_the_pooled_split_of_the_committed_csv(real_data):
    from cxr_gan.data import datasets

    first = pd.read_csv(THREE_CLASS / "kermany3.csv", nrows=1)["path"][0]
    if not (THREE_CLASS / first).is_file():  # The CSV's paths lead to ../shared/data.
        pytest.skip(f"the CSV's images are not at {THREE_CLASS / first}")
    test = datasets.split_records(datasets.scan(THREE_CLASS / "kermany3.csv"), "pooled",
                                  seed=0)["test"]
    run = THREE_CLASS / "classifier" / "none-s0"
    predictions = pd.read_csv(stored_file(run, "predictions.csv"))
    assert list(zip(predictions["path"], predictions["label"])) == [(r.path, r.label)
                                                                     for r in test]


STUDY_RUNS = sorted((REPO / "results" / "study").glob("protocol-*/*/*/metrics.json"))


@pytest.mark.parametrize("metrics_path", STUDY_RUNS,
                         ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_the_studys_runs_are_their_predictions_on_the_papers_test_set(metrics_path):
    stored = json.loads(metrics_path.read_text())
    predictions = pd.read_csv(stored_file(metrics_path.parent, "predictions.csv"))
    labels = (predictions["label"] == "PNEUMONIA").to_numpy().astype(int)
    recomputed = classification_metrics(labels, predictions["prob_pneumonia"].to_numpy())
    for key, value in recomputed.items():  # Every digit is written since: exact.
        assert stored[key] == value or (value != value and stored[key] != stored[key]), key
    pooled_none = RUNS[0].parent.parent.parent / "pooled" / "none-s0"
    pooled = pd.read_csv(stored_file(pooled_none, "predictions.csv"))
    assert list(predictions["path"]) == list(pooled["path"])  # The fixed 1172 test images.
    config = json.loads((metrics_path.parent / "config.json").read_text())
    size = metrics_path.parent.parent.name
    if size.startswith("size-") and size != "size-all":
        kept = config["train_counts"]["NORMAL"] + config["train_counts"]["PNEUMONIA"]
        assert kept + config["validation_images"] == config["train_size"] == int(size[5:])


@pytest.mark.slow  # git ls-files
def test_the_committed_tree_leaves_room_for_the_accelerator_payload():
    """The device carries the working tree with the pack and the wheels, 64 MiB in all: the
    published generators (at most 16 MB each) are kept to the headline ones."""
    import subprocess

    from tools.accelerator.gpu_prepare import TREE_BUDGET_BYTES

    names = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                           check=True).stdout.decode().split("\0")
    sizes = {name: (REPO / name).stat().st_size for name in names if (REPO / name).is_file()}
    generators = {name: size for name, size in sizes.items() if name.endswith(".keras")}
    assert all(size <= 16 * 10**6 for size in generators.values()), generators
    assert sum(sizes.values()) <= TREE_BUDGET_BYTES, sorted(generators)


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_committed_result_files_name_no_folder_of_the_machine_that_made_them():
    """Paths are recorded relative to the repository (cxr_gan.io.recorded_path). Exempt: the
    accelerator's /tmp folders in results/gpu-h200, whose base is another machine's."""
    prefixes = ("/work/", "/home/", "/root/", str(REPO.parent) + "/")

    def exempt(path, text):  # Explicit, so that a clone under /tmp does not catch them.
        return path.parts[:2] == ("results", "gpu-h200") and text.startswith("/tmp/")

    found = [(str(path.relative_to(REPO)), text)
             for path in sorted((REPO / "results").rglob("*.json"))
             for text in _strings(json.loads(path.read_text()))
             if text.startswith(prefixes) and not exempt(path.relative_to(REPO), text)]
    assert found == []
