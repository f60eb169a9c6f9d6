"""cxr_gan.data.kermany: layout checks, splits, duplicates, manifest; real-data counts."""

import csv
import io
import os

import numpy as np
import pytest
from PIL import Image

from cxr_gan.data import kermany


def _make_tree(root, counts, size=8):
    """Writes a Kermany-style tree; counts maps (folder, label) -> number of images."""
    for (folder, label), count in counts.items():
        target = root / folder / label
        target.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            name = f"IM-{i:04d}-0001.jpeg" if label == "NORMAL" else f"person{i}_virus_{i}.jpeg"
            pixels = np.zeros((32, 32), np.uint8)  # Unique content per file: no duplicates.
            pixels[0, :3] = (i, label == "PNEUMONIA", folder == "test")
            Image.fromarray(pixels).save(target / name, format="PNG")
    return root


FULL = {("train", "NORMAL"): 10, ("train", "PNEUMONIA"): 20, ("test", "NORMAL"): 5,
        ("test", "PNEUMONIA"): 5}


def test_patient_ids():
    assert kermany.patient_id("person1000_bacteria_2931.jpeg") == "person1000"
    assert kermany.patient_id("IM-0115-0001.jpeg") == "IM-0115"
    assert kermany.patient_id("NORMAL2-IM-1427-0001.jpeg") == "NORMAL2-IM-1427"
    assert kermany.patient_id("scan.png") == "scan"


def test_scan_is_sorted_and_complete(tmp_path):
    records = kermany.scan(_make_tree(tmp_path, FULL))
    assert len(records) == 40
    assert [r.path for r in records] == sorted(r.path for r in records)
    assert {r.folder for r in records} == {"train", "test"}


@pytest.mark.parametrize("remove,message", [
    ("train", "Missing folder"),
    ("test/PNEUMONIA", "Missing class folder"),
])
def test_wrong_layout_shows_expected_layout(tmp_path, remove, message):
    import shutil

    _make_tree(tmp_path, FULL)
    shutil.rmtree(tmp_path / remove)
    with pytest.raises(kermany.DataLayoutError, match=message) as info:
        kermany.scan(tmp_path)
    assert "Expected layout" in str(info.value)


def test_empty_class_and_missing_root(tmp_path):
    _make_tree(tmp_path, FULL)
    for f in (tmp_path / "test" / "NORMAL").iterdir():
        f.unlink()
    (tmp_path / "test" / "NORMAL" / "notes.txt").write_text("not an image")
    with pytest.raises(kermany.DataLayoutError, match="holds no .jpeg"):
        kermany.scan(tmp_path)
    with pytest.raises(kermany.DataLayoutError, match="not found"):
        kermany.scan(tmp_path / "nowhere")


def test_pooled_split_is_stratified_disjoint_and_seeded(tmp_path):
    records = kermany.scan(_make_tree(tmp_path, FULL))
    parts = kermany.split_records(records, "pooled", seed=1)
    test_labels = [r.label for r in parts["test"]]
    assert test_labels.count("NORMAL") == 3 and test_labels.count("PNEUMONIA") == 5
    assert not {r.path for r in parts["train"]} & {r.path for r in parts["test"]}
    assert len(parts["train"]) + len(parts["test"]) == 40
    again = kermany.split_records(records, "pooled", seed=1)
    other = kermany.split_records(records, "pooled", seed=2)
    assert again == parts and other != parts


def test_duplicates_across_splits_are_reported(tmp_path):
    root = _make_tree(tmp_path, FULL)
    # A byte-identical copy of a train image placed in test.
    data = (root / "train/NORMAL/IM-0000-0001.jpeg").read_bytes()
    (root / "test/NORMAL/IM-0999-0001.jpeg").write_bytes(data)
    records = kermany.scan(root)
    groups = kermany.duplicate_groups(root, records)
    assert ["test/NORMAL/IM-0999-0001.jpeg", "train/NORMAL/IM-0000-0001.jpeg"] in groups
    parts = kermany.split_records(records, "official")
    crossing = kermany.cross_split_duplicates(groups, parts)
    assert ["test/NORMAL/IM-0999-0001.jpeg", "train/NORMAL/IM-0000-0001.jpeg"] in crossing


def test_load_images_skips_bad_files_or_fails_in_strict_mode(tmp_path):
    root = _make_tree(tmp_path, FULL)
    (root / "train/NORMAL/IM-0003-0001.jpeg").write_bytes(b"")
    (root / "train/NORMAL/IM-0004-0001.jpeg").write_bytes(b"garbage")
    before = {p: p.read_bytes() for p in root.rglob("*.jpeg")}
    records = [r for r in kermany.scan(root) if r.folder == "train" and r.label == "NORMAL"]
    with pytest.warns(UserWarning, match="Skipping"):
        loaded = kermany.load_images(root, records, "train", 16)
    assert loaded.images.shape == (8, 16, 16, 1) and loaded.images.dtype == np.uint8
    assert loaded.n_skipped == 2
    rows = list(csv.DictReader(io.StringIO(kermany.manifest_csv_text(loaded.manifest_rows))))
    assert len(rows) == 10
    skipped = {r["path"]: r["reason"] for r in rows if r["status"] == "skipped"}
    assert skipped["train/NORMAL/IM-0003-0001.jpeg"].startswith("empty file")
    assert "not an image" in skipped["train/NORMAL/IM-0004-0001.jpeg"]
    with pytest.raises(Exception, match="IM-0003"):
        kermany.load_images(root, records, "train", 16, strict=True)
    # The data folder is only read.
    assert before == {p: p.read_bytes() for p in root.rglob("*.jpeg")}


@pytest.mark.real_data
def test_real_official_counts(real_data):
    records = kermany.scan(real_data)
    parts = kermany.split_records(records, "official")
    counts = {(name, label): sum(r.label == label for r in part)
              for name, part in parts.items() for label in kermany.LABELS}
    assert counts == {("train", "NORMAL"): 1341, ("train", "PNEUMONIA"): 3875,
                      ("val", "NORMAL"): 8, ("val", "PNEUMONIA"): 8,
                      ("test", "NORMAL"): 234, ("test", "PNEUMONIA"): 390}


@pytest.mark.real_data
def test_real_pooled_split_matches_paper_table_2(real_data):
    records = kermany.scan(real_data)
    parts = kermany.split_records(records, "pooled", seed=0)
    assert len(parts["train"]) == 4684 and len(parts["test"]) == 1172
    labels = [r.label for r in parts["test"]]
    assert labels.count("NORMAL") == 317 and labels.count("PNEUMONIA") == 855
    assert not {r.path for r in parts["train"]} & {r.path for r in parts["test"]}
    # A plain pooled split leaks patients; the grouped one does not.
    assert kermany.patients_shared(parts) > 0
    grouped = kermany.split_records(records, "pooled-patient", seed=0)
    assert kermany.patients_shared(grouped) == 0
    assert abs(len(grouped["test"]) - 1172) < 60


@pytest.mark.real_data
def test_real_duplicate_groups(real_data):
    records = [r for r in kermany.scan(real_data) if r.folder != "val"]
    assert len(kermany.duplicate_groups(real_data, records)) == 30


@pytest.mark.real_data
def test_real_pooled_test_set_is_the_one_the_committed_results_used(real_data):
    import csv

    from tests.conftest import REPO

    test = kermany.split_records(kermany.scan(real_data), "pooled", seed=0)["test"]
    for run in sorted((REPO / "results" / "cpu-classifier" / "pooled").glob("*-s*")):
        with open(run / "predictions.csv") as handle:
            committed = [(row["path"], row["label"]) for row in csv.DictReader(handle)]
        assert committed == [(r.path, r.label) for r in test], run.name


def test_every_class_folder_entry_is_in_the_manifest_used_or_skipped_with_its_reason(
        tiny_phantoms, tmp_path):
    import dataclasses
    import shutil

    from cxr_gan.gan.train import make_run_config, prepare_training_images
    from tests.conftest import TINY_PAPER

    data = tmp_path / "data"
    shutil.copytree(tiny_phantoms, data)
    normal = data / "train" / "NORMAL"
    os.symlink(normal / "gone.png", normal / "dangling.png")
    os.mkfifo(normal / "zz.png")
    (normal / "notes.txt").write_text("a note")
    (normal / ".hidden.png").write_bytes(b"")
    (normal / "sub.png").mkdir()
    config = dataclasses.replace(make_run_config(str(data), None, 1), preset=TINY_PAPER)
    loaded, report = prepare_training_images(config)
    skipped = {row[0]: row[4] for row in loaded.manifest_rows if row[3] == "skipped"}
    assert skipped == {
        "train/NORMAL/.hidden.png": "hidden file",
        "train/NORMAL/dangling.png": "broken symbolic link",
        "train/NORMAL/notes.txt": "not an image file name (suffix .txt)",
        "train/NORMAL/sub.png": "a folder",
        "train/NORMAL/zz.png": "not a regular file (FIFO)",
    }
    assert len(loaded.paths) == 24 and report["training_images"]["used"] == 24
