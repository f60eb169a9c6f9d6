"""cxr_gan.data.datasets and kermany: the three descriptions, layout checks, splits, duplicates,
manifest, errors; real-data counts."""

import csv
import io
import os

import numpy as np
import pytest
from PIL import Image

from cxr_gan.data import datasets, kermany


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
    records = datasets.scan(_make_tree(tmp_path, FULL))
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
    with pytest.raises(datasets.DataLayoutError, match=message) as info:
        datasets.scan(tmp_path)
    assert "Expected one of" in str(info.value)


def test_empty_class_and_missing_root(tmp_path):
    _make_tree(tmp_path, FULL)
    for f in (tmp_path / "test" / "NORMAL").iterdir():
        f.unlink()
    (tmp_path / "test" / "NORMAL" / "notes.txt").write_text("not an image")
    with pytest.raises(datasets.DataLayoutError, match="holds no .jpeg"):
        datasets.scan(tmp_path)
    with pytest.raises(datasets.DataLayoutError, match="not found"):
        datasets.scan(tmp_path / "nowhere")


def test_pooled_split_is_stratified_disjoint_and_seeded(tmp_path):
    records = datasets.scan(_make_tree(tmp_path, FULL))
    parts = datasets.split_records(records, "pooled", seed=1)
    test_labels = [r.label for r in parts["test"]]
    assert test_labels.count("NORMAL") == 3 and test_labels.count("PNEUMONIA") == 5
    assert not {r.path for r in parts["train"]} & {r.path for r in parts["test"]}
    assert len(parts["train"]) + len(parts["test"]) == 40
    again = datasets.split_records(records, "pooled", seed=1)
    other = datasets.split_records(records, "pooled", seed=2)
    assert again == parts and other != parts


def test_duplicates_across_splits_are_reported(tmp_path):
    root = _make_tree(tmp_path, FULL)
    # A byte-identical copy of a train image placed in test.
    data = (root / "train/NORMAL/IM-0000-0001.jpeg").read_bytes()
    (root / "test/NORMAL/IM-0999-0001.jpeg").write_bytes(data)
    records = datasets.scan(root)
    groups = datasets.duplicate_groups(root, records)
    assert ["test/NORMAL/IM-0999-0001.jpeg", "train/NORMAL/IM-0000-0001.jpeg"] in groups
    parts = datasets.split_records(records, "official")
    crossing = datasets.cross_split_duplicates(groups, parts)
    assert ["test/NORMAL/IM-0999-0001.jpeg", "train/NORMAL/IM-0000-0001.jpeg"] in crossing


def test_load_images_skips_bad_files_or_fails_in_strict_mode(tmp_path):
    root = _make_tree(tmp_path, FULL)
    (root / "train/NORMAL/IM-0003-0001.jpeg").write_bytes(b"")
    (root / "train/NORMAL/IM-0004-0001.jpeg").write_bytes(b"garbage")
    before = {p: p.read_bytes() for p in root.rglob("*.jpeg")}
    records = [r for r in datasets.scan(root) if r.folder == "train" and r.label == "NORMAL"]
    with pytest.warns(UserWarning, match="Skipping"):
        loaded = datasets.load_images(root, records, "train", 16)
    assert loaded.images.shape == (8, 16, 16, 1) and loaded.images.dtype == np.uint8
    assert loaded.n_skipped == 2
    rows = list(csv.DictReader(io.StringIO(datasets.manifest_csv_text(loaded.manifest_rows))))
    assert len(rows) == 10
    skipped = {r["path"]: r["reason"] for r in rows if r["status"] == "skipped"}
    assert skipped["train/NORMAL/IM-0003-0001.jpeg"].startswith("empty file")
    assert "not an image" in skipped["train/NORMAL/IM-0004-0001.jpeg"]
    with pytest.raises(Exception, match="IM-0003"):
        datasets.load_images(root, records, "train", 16, strict=True)
    # The data folder is only read.
    assert before == {p: p.read_bytes() for p in root.rglob("*.jpeg")}


@pytest.mark.real_data
def test_real_official_counts(real_data):
    records = datasets.scan(real_data)
    parts = datasets.split_records(records, "official")
    counts = {(name, label): sum(r.label == label for r in part)
              for name, part in parts.items() for label in kermany.LABELS}
    assert counts == {("train", "NORMAL"): 1341, ("train", "PNEUMONIA"): 3875,
                      ("val", "NORMAL"): 8, ("val", "PNEUMONIA"): 8,
                      ("test", "NORMAL"): 234, ("test", "PNEUMONIA"): 390}


@pytest.mark.real_data
def test_real_pooled_split_matches_paper_table_2(real_data):
    records = datasets.scan(real_data)
    parts = datasets.split_records(records, "pooled", seed=0)
    assert len(parts["train"]) == 4684 and len(parts["test"]) == 1172
    labels = [r.label for r in parts["test"]]
    assert labels.count("NORMAL") == 317 and labels.count("PNEUMONIA") == 855
    assert not {r.path for r in parts["train"]} & {r.path for r in parts["test"]}
    # A plain pooled split leaks patients; the grouped one does not.
    assert datasets.patients_shared(parts) > 0
    grouped = datasets.split_records(records, "pooled-patient", seed=0)
    assert datasets.patients_shared(grouped) == 0
    assert abs(len(grouped["test"]) - 1172) < 60


@pytest.mark.real_data
def test_real_duplicate_groups(real_data):
    records = [r for r in datasets.scan(real_data) if r.folder != "val"]
    assert len(datasets.duplicate_groups(real_data, records)) == 30


@pytest.mark.real_data
def test_real_pooled_test_set_is_the_one_the_committed_results_used(real_data):
    import csv

    from tests.conftest import REPO

    test = datasets.split_records(datasets.scan(real_data), "pooled", seed=0)["test"]
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


# -- the three descriptions, patients, classes, errors ----------------------------------------
def _images(folder, names, value=0):
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        pixels = np.zeros((32, 32), np.uint8)
        pixels[0, :2] = (value, i)  # Unique contents: no duplicates.
        Image.fromarray(pixels).save(folder / name, format="PNG")


def _class_folders(root, counts):
    for j, (label, n) in enumerate(sorted(counts.items())):
        _images(root / label, [f"P{i % 4}_{label}_{i}.png" for i in range(n)], value=j)
    return root


def test_split_folders_take_any_class_names_and_the_classes_of_train(tmp_path):
    for folder, n in (("train", 6), ("test", 2)):
        for j, label in enumerate(("mel", "nev", "bcc")):
            _images(tmp_path / folder / label, [f"{label}{i}.png" for i in range(n)], j)
    data_set = datasets.describe(tmp_path)
    assert data_set.kind == "split-folders" and data_set.classes == ("bcc", "mel", "nev")
    assert len(data_set.records) == 24 and data_set.has_official_split
    parts = datasets.split_records(list(data_set.records), "official")
    assert datasets.split_counts(parts) == {"train": {"bcc": 6, "mel": 6, "nev": 6},
                                            "test": {"bcc": 2, "mel": 2, "nev": 2}}


def test_class_folders_have_pooled_splits_only(tmp_path):
    root = _class_folders(tmp_path / "data", {"a": 10, "b": 20, "c": 5})
    data_set = datasets.describe(root)
    assert data_set.kind == "class-folders" and data_set.classes == ("a", "b", "c")
    assert {r.folder for r in data_set.records} == {""}
    parts = datasets.split_records(list(data_set.records), "pooled", seed=0)
    # round(0.2 n) of each class in test: 2, 4 and 1.
    assert datasets.split_counts(parts)["test"] == {"a": 2, "b": 4, "c": 1}
    with pytest.raises(datasets.DataLayoutError, match="--split pooled"):
        datasets.split_records(list(data_set.records), "official")


def test_a_csv_gives_paths_relative_to_it_patients_and_splits(tmp_path):
    _images(tmp_path / "img", [f"{i}.png" for i in range(8)])
    rows = ["path,label,patient,split"] + [
        f"img/{i}.png,{'sick' if i % 2 else 'well'},p{i // 2},{'test' if i >= 6 else 'train'}"
        for i in range(8)]
    (tmp_path / "sets").mkdir()
    csv_path = tmp_path / "sets" / "data.csv"
    csv_path.write_text("\n".join(r.replace("img/", "../img/") for r in rows) + "\n")
    data_set = datasets.describe(csv_path)
    assert data_set.kind == "csv" and data_set.classes == ("sick", "well")
    assert data_set.base == tmp_path / "sets"
    first = data_set.records[0]
    assert (first.path, first.label, first.patient, first.folder) == (
        "../img/0.png", "well", "p0", "train")
    parts = datasets.split_records(list(data_set.records), "official")
    assert len(parts["train"]) == 6 and len(parts["test"]) == 2
    assert datasets.patients_shared(parts) == 0  # Images 6 and 7 are patient p3 alone.
    loaded = datasets.load_images(datasets.base_dir(csv_path), parts["test"], "test", 16)
    assert loaded.images.shape == (2, 16, 16, 1)


def test_csv_without_split_or_patient_uses_the_name_patterns(tmp_path):
    _images(tmp_path, ["person7_virus_1.png", "person7_virus_2.png", "IM-0001-0001.png"])
    (tmp_path / "d.csv").write_text("path,label\nperson7_virus_1.png,V\nperson7_virus_2.png,V\n"
                                    "IM-0001-0001.png,N\n")
    records = datasets.scan(tmp_path / "d.csv")
    assert [r.patient for r in records] == ["IM-0001", "person7", "person7"]
    assert {r.folder for r in records} == {""}


def test_a_patient_pattern_groups_any_names(tmp_path):
    root = _class_folders(tmp_path / "data", {"a": 8, "b": 8})
    records = datasets.scan(root, patient_pattern=r"^(P\d)_")
    assert sorted({r.patient for r in records}) == ["P0", "P1", "P2", "P3"]
    grouped = datasets.split_records(records, "pooled-patient", seed=0)
    assert datasets.patients_shared(grouped) == 0
    # Without a pattern each file is its own patient (no Kermany pattern matches).
    assert len({r.patient for r in datasets.scan(root)}) == 16
    with pytest.raises(datasets.DataLayoutError, match="exactly one"):
        datasets.scan(root, patient_pattern=r"^P\d_")
    with pytest.raises(datasets.DataLayoutError, match="not a regular expression"):
        datasets.scan(root, patient_pattern=r"^(P")


@pytest.mark.parametrize("text, message", [
    ("path,label,site\na.png,x\n", r"unknown: \['site'\]"),
    ("path\na.png\n", "expected path,label"),
    ("path,label\na.png,\n", "row 2: empty label"),
    ("path,label\na.png,x\na.png,y\n", "row 3: a.png is listed twice"),
    ("path,label\nmissing.png,x\n", "row 2: .*missing.png not found"),
    ("path,label\n/etc/a.png,x\n", "absolute path"),
    ("path,label,split\na.png,x,training\n", "split 'training'"),
    ("path,label\na.png,x\nb.png,x\n", r"1 class\(es\)"),
    ("path,label,split\na.png,x,train\nb.png,y,train\nc.png,x,test\n",
     r"class\(es\) \['y'\] have no test row"),
    ("path,label,split\na.png,x,train\nb.png,y,test\nc.png,x,test\n",
     r"class\(es\) \['y'\] have test rows but no train row"),
])
def test_a_bad_csv_is_one_message_naming_the_row(tmp_path, text, message):
    _images(tmp_path, ["a.png", "b.png", "c.png"])
    (tmp_path / "d.csv").write_text(text)
    with pytest.raises(datasets.DataLayoutError, match=message) as info:
        datasets.describe(tmp_path / "d.csv")
    assert str(tmp_path / "d.csv") in str(info.value)


def test_a_class_of_test_missing_from_train_and_a_lone_class_are_refused(tmp_path):
    for folder in ("train", "test"):
        _images(tmp_path / folder / "a", ["1.png"])
    _images(tmp_path / "test" / "b", ["2.png"])
    with pytest.raises(datasets.DataLayoutError, match=r"class folder\(s\) \['b'\]"):
        datasets.describe(tmp_path)
    (tmp_path / "test" / "b" / "2.png").unlink()
    (tmp_path / "test" / "b").rmdir()
    with pytest.raises(datasets.DataLayoutError, match="a classifier needs two or more"):
        datasets.describe(tmp_path)
    with pytest.raises(datasets.DataLayoutError, match="not a .csv"):
        datasets.describe(tmp_path / "train" / "a" / "1.png")


def test_class_sizes_and_the_chosen_class(tmp_path):
    root = _class_folders(tmp_path / "data", {"a": 10, "b": 20, "rare": 4})
    records = datasets.scan(root)
    assert datasets.chosen_class(records, "pooled", 0, None) == "rare"
    assert datasets.chosen_class(records, "pooled", 0, "b") == "b"
    with pytest.raises(datasets.DataLayoutError, match="--label 'c' names no class"):
        datasets.chosen_class(records, "pooled", 0, "c")
    parts = datasets.split_records(records, "pooled", seed=0)
    # 'rare': round(0.8) = 1 test image, 3 training images: too few for a validation share.
    with pytest.raises(datasets.DataLayoutError, match="class 'rare' has 3 training and 1 test"):
        datasets.check_class_sizes(parts, root)


def test_unread_entries_of_class_folders_and_csv_rows_are_listed(tmp_path):
    root = _class_folders(tmp_path / "data", {"a": 2, "b": 2})
    (root / "a" / "notes.txt").write_text("x")
    assert datasets.skipped_manifest_rows(root) == (
        ("a/notes.txt", "unread", "a", "skipped", "not an image file name (suffix .txt)"),)
    (root / "d.csv").write_text("path,label\na/notes.txt,a\n" + "".join(
        f"{p.relative_to(root).as_posix()},{p.parent.name}\n" for p in sorted(root.glob("*/*.png"))))
    assert [e.path for e in datasets.unread_entries(root / "d.csv")] == ["a/notes.txt"]


def test_kermany_three_class_rows_from_file_names():
    records = [datasets.ImageRecord("train/NORMAL/IM-0001-0001.jpeg", "train", "NORMAL", "IM-0001"),
               datasets.ImageRecord("train/PNEUMONIA/person1_bacteria_1.jpeg", "train",
                                    "PNEUMONIA", "person1"),
               datasets.ImageRecord("test/PNEUMONIA/person2_virus_3.jpeg", "test", "PNEUMONIA",
                                    "person2"),
               datasets.ImageRecord("train/PNEUMONIA/odd.jpeg", "train", "PNEUMONIA", "odd")]
    rows, skipped = kermany.three_class_rows(records)
    assert [row[1] for row in rows] == ["NORMAL", "BACTERIA", "VIRUS"]
    assert rows[2] == ("test/PNEUMONIA/person2_virus_3.jpeg", "VIRUS", "person2", "test")
    assert skipped[0][0] == "train/PNEUMONIA/odd.jpeg" and "neither" in skipped[0][1]


@pytest.mark.real_data
def test_real_kermany_three_class_counts(real_data):
    rows, skipped = kermany.three_class_rows(datasets.scan(real_data))
    train = [row[1] for row in rows if row[3] == "train"]
    assert (train.count("NORMAL"), train.count("BACTERIA"), train.count("VIRUS")) == (
        1341, 2530, 1345)
    assert skipped == []


def test_a_csv_that_is_not_utf8_text_is_one_message(tmp_path):
    (tmp_path / "d.csv").write_bytes(b"path,label\n\xff\xfe\x00a.png,x\n")
    with pytest.raises(datasets.DataLayoutError, match="cannot be read as a UTF-8 CSV"):
        datasets.describe(tmp_path / "d.csv")
