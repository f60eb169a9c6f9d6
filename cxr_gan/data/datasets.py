"""A data set as a description -> a file table, splits, duplicates and the manifest.

Three ways to describe a data set (``--data`` takes a folder or a CSV file, in every script):

    split folders   DATA/{train,val,test}/CLASS/*   (val/ optional; any class names; Kermany's
                    chest_xray/ folder is one)
    class folders   DATA/CLASS/*                    (no split folders: pooled splits only)
    CSV             a .csv file with columns path,label and optionally patient and split
                    (train, val or test); paths relative to the CSV's folder

Classes are the class folders of train/ (split folders), the class folders (class folders) or
the CSV's labels, in sorted order (Kermany: NORMAL, PNEUMONIA); index i of a class is its place
in that order everywhere (labels, the classifier's outputs, ``predictions.csv``).

Splits (``SPLITS``):
    official: the split folders (or the CSV's split column) as they are (train / val / test).
    pooled: every image pooled and split 80/20, stratified by class, seeded. With Kermany's
        full data this gives 4684 train / 1172 test (317 NORMAL + 855 PNEUMONIA), exactly the
        totals of the paper's Table 2.
    pooled-patient: as pooled, but whole patients go to one side, so no patient's images are
        on both sides. Counts are close to, not exactly, 80/20.

Patients: the CSV's ``patient`` column, else one group of a ``--patient-pattern`` regular
expression searched in the file name, else Kermany's file-name patterns
(``cxr_gan.data.kermany``), else the file's stem (each image its own patient). Patient ids are
not qualified by folder: Kermany's official test folder reuses ids of its train folder, and the
names cannot tell whether they are one patient. Grouping them is the cautious reading: the
grouped split may be stricter than needed, never leakier, and shared-patient counts are upper
bounds.

Training subsets (``--train-size N``, ``--cap CLASS=N``; ``training_subset``): a stratified,
seeded part of a split's training records, the test records unchanged. Each class's records
are put in a random order drawn from the split seed alone, and ranked together by the position
of each within its class (``(rank + 1/2) / class size``), so the first N records keep the
classes' shares to within one image and every subset holds each smaller one (250 within 500
within 1000). A cap takes only the first N of its class's order. The GAN and the classifier
take the same subset: a size's generator learns the NORMAL images its classifier runs train on.

The data is only ever read.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import re
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from cxr_gan.cli import UserError
from cxr_gan.data import kermany
from cxr_gan.data.images import ImageReadError, UnusualImageWarning, read_grayscale
from cxr_gan.io import csv_text, skip_reason

FOLDER_SPLITS = ("train", "val", "test")
SPLITS = ("official", "pooled", "pooled-patient")
KINDS = ("split-folders", "class-folders", "csv")
CSV_COLUMNS = ("path", "label", "patient", "split")
POOLED_TEST_FRACTION = 0.2
# The classifier's validation share of the training split (early stopping), stratified, seeded
# by the classifier run's seed; a generator meant for those runs leaves it out too.
VALIDATION_FRACTION = 0.1

EXPECTED_LAYOUT = """Expected one of:
    DATA/train/CLASS/*.png  DATA/test/CLASS/*.png  [DATA/val/CLASS/*.png]   (split folders)
    DATA/CLASS/*.png                                                          (class folders)
    DATA.csv with columns path,label[,patient][,split], paths relative to the CSV's folder
(two or more classes, any names; .jpeg, .jpg or .png. Kermany's "Chest X-Ray Images
(Pneumonia)" archive unpacks to split folders under chest_xray/.)"""

# Written into the root of a packed copy of one split's training images (an accelerator's data,
# ``tools/accelerator/gpu_prepare.py``): which split, seeds and files it holds.
PACK_MARKER = "SPLIT_PACK.json"


class DataLayoutError(UserError, ValueError):
    """The data is not described in one of the three ways; the message shows the fix."""


@dataclasses.dataclass(frozen=True)
class ImageRecord:
    """One image file of the data set.

    Attributes:
        path: Path relative to the data set's base folder, with forward slashes.
        folder: The split it was found in (train, val, test), or "" where the data set has none.
        label: Its class name.
        patient: Its patient id (see the module docstring).
    """

    path: str
    folder: str
    label: str
    patient: str


@dataclasses.dataclass(frozen=True)
class SkippedEntry:
    """An entry of the data set that is not read: ``path`` relative to the base, and why."""

    path: str
    folder: str
    label: str
    reason: str


@dataclasses.dataclass(frozen=True)
class DataSet:
    """A described data set: its kind, classes, image records and the entries not read.

    Attributes:
        source: ``--data`` as given (a folder or a CSV file).
        base: The folder record paths are relative to (the folder, or the CSV's folder).
        kind: One of ``KINDS``.
        classes: Class names, sorted.
        records: The image files, sorted by path.
        unread: Entries that are not image files, with the reason.
    """

    source: Path
    base: Path
    kind: str
    classes: tuple[str, ...]
    records: tuple[ImageRecord, ...]
    unread: tuple[SkippedEntry, ...]

    @property
    def has_official_split(self) -> bool:
        return all(r.folder for r in self.records)


def base_dir(data: Path | str) -> Path:
    """The folder a data set's record paths are relative to: ``data``, or a CSV's folder."""
    data = Path(data)
    return data.parent if data.suffix.lower() == ".csv" and not data.is_dir() else data


def patient_matcher(pattern: str | None):
    """File name -> patient id: one group of ``pattern`` (``re.search``), else Kermany's
    patterns, else the stem.

    Raises:
        DataLayoutError: ``pattern`` is no regular expression with exactly one group.
    """
    if pattern is None:
        return kermany.patient_id
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise DataLayoutError(f"--patient-pattern {pattern!r} is not a regular expression "
                              f"({error}). Example: '^(person\\d+)_'") from None
    if compiled.groups != 1:
        raise DataLayoutError(f"--patient-pattern {pattern!r} has {compiled.groups} groups; "
                              "it needs exactly one, the patient id: e.g. '^(P\\d+)_'")

    def patient(file_name: str) -> str:
        match = compiled.search(file_name)
        return match.group(1) if match else Path(file_name).stem

    return patient


def describe(data: Path | str, patient_pattern: str | None = None) -> DataSet:
    """Reads a data set's description (a folder or a CSV file); reads no image.

    Raises:
        DataLayoutError: Not one of the three descriptions, fewer than two classes, an empty
            class, a class of test/ (or val/) missing from train/, or a bad CSV. The message
            names the file or folder and the fix.
    """
    data = Path(data)
    patient = patient_matcher(patient_pattern)
    if data.is_file():
        if data.suffix.lower() != ".csv":
            raise DataLayoutError(f"--data {data} is a file but not a .csv\n{EXPECTED_LAYOUT}")
        return _describe_csv(data, patient)
    if not data.is_dir():
        raise DataLayoutError(f"Data folder not found: {data}\n{EXPECTED_LAYOUT}")
    if any((data / name).is_dir() for name in FOLDER_SPLITS):
        return _describe_split_folders(data, patient)
    return _describe_class_folders(data, patient)


def scan(data: Path | str, patient_pattern: str | None = None) -> list[ImageRecord]:
    """The image records of a data set (``describe``), sorted by path."""
    return list(describe(data, patient_pattern).records)


def classes_of(records: Iterable[ImageRecord]) -> tuple[str, ...]:
    """The sorted class names of ``records``."""
    return tuple(sorted({r.label for r in records}))


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _read_class_folder(base: Path, class_dir: Path, split: str, patient):
    """Records and unread entries of one class folder."""
    label = class_dir.name
    prefix = class_dir.relative_to(base).as_posix()
    records, unread = [], []
    for path in sorted(class_dir.iterdir()):
        reason = skip_reason(path)
        if reason is None:
            records.append(ImageRecord(f"{prefix}/{path.name}", split, label, patient(path.name)))
        else:
            unread.append(SkippedEntry(f"{prefix}/{path.name}", split, label, reason))
    if not records:
        raise DataLayoutError(f"Class folder {class_dir} holds no .jpeg, .jpg or .png file: "
                              f"add its images or remove the folder\n{EXPECTED_LAYOUT}")
    return records, unread


def _describe_split_folders(root: Path, patient) -> DataSet:
    for needed in ("train", "test"):
        if not (root / needed).is_dir():
            raise DataLayoutError(f"Missing folder {root / needed} (split folders need train/ "
                                  f"and test/; val/ is optional)\n{EXPECTED_LAYOUT}")
    classes = tuple(p.name for p in _class_dirs(root / "train"))
    records, unread = [], []
    for folder in FOLDER_SPLITS:
        if not (root / folder).is_dir():
            continue
        found = tuple(p.name for p in _class_dirs(root / folder))
        extra = sorted(set(found) - set(classes))
        if extra:
            raise DataLayoutError(f"{root / folder} has class folder(s) {extra} that "
                                  f"{root / 'train'} lacks (found there: {list(classes)}): a "
                                  "class must have training images. Add them or remove the "
                                  f"folder.\n{EXPECTED_LAYOUT}")
        if folder == "test" and set(found) != set(classes):
            missing = sorted(set(classes) - set(found))
            raise DataLayoutError(f"Missing class folder(s) {[str(root / folder / m) for m in missing]}"
                                  f" (found folders: {list(found) or 'none'}): every class "
                                  f"needs test images.\n{EXPECTED_LAYOUT}")
        for label in found:
            got, skipped = _read_class_folder(root, root / folder / label, folder, patient)
            records += got
            unread += skipped
    return _checked(DataSet(root, root, "split-folders", classes,
                            tuple(sorted(records, key=lambda r: r.path)), tuple(unread)))


def _describe_class_folders(root: Path, patient) -> DataSet:
    records, unread = [], []
    for class_dir in _class_dirs(root):
        got, skipped = _read_class_folder(root, class_dir, "", patient)
        records += got
        unread += skipped
    classes = classes_of(records)
    return _checked(DataSet(root, root, "class-folders", classes,
                            tuple(sorted(records, key=lambda r: r.path)), tuple(unread)))


def _checked(data_set: DataSet) -> DataSet:
    if len(data_set.classes) < 2:
        raise DataLayoutError(
            f"{data_set.source} describes {len(data_set.classes)} class(es) "
            f"({list(data_set.classes) or 'none'}); a classifier needs two or more.\n"
            f"{EXPECTED_LAYOUT}")
    return data_set


def _describe_csv(path: Path, patient) -> DataSet:
    """Records of a CSV data set; refuses unknown columns, empty labels, duplicate or missing
    paths, absolute paths and unknown split names, each with the row."""
    base = path.parent
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as error:
        raise DataLayoutError(f"{path} cannot be read as a UTF-8 CSV ({error}). Save it as "
                              "CSV, UTF-8, with columns path,label.") from None
    unknown = [c for c in columns if c not in CSV_COLUMNS]
    if unknown or not {"path", "label"} <= set(columns):
        raise DataLayoutError(
            f"{path}: columns {columns}; expected path,label and optionally patient and "
            f"split (unknown: {unknown or 'none'}). Rename or remove the columns.")
    records, unread, seen = [], [], set()
    for line, row in enumerate(rows, start=2):
        where = f"{path} row {line}"
        name = (row.get("path") or "").strip().replace("\\", "/")
        label = (row.get("label") or "").strip()
        split = (row.get("split") or "").strip() if "split" in columns else ""
        if not name or not label:
            raise DataLayoutError(f"{where}: empty {'path' if not name else 'label'}; every row "
                                  "needs a path and a label.")
        if Path(name).is_absolute():
            raise DataLayoutError(f"{where}: {name} is an absolute path; write paths relative "
                                  f"to the CSV's folder ({base}).")
        if name in seen:
            raise DataLayoutError(f"{where}: {name} is listed twice; each image once.")
        seen.add(name)
        if "split" in columns and split not in FOLDER_SPLITS:
            raise DataLayoutError(f"{where}: split {split!r}; expected one of "
                                  f"{', '.join(FOLDER_SPLITS)} (or drop the split column).")
        file = base / name
        if not file.exists() and not file.is_symlink():
            raise DataLayoutError(f"{where}: {file} not found. Fix the path (relative to "
                                  f"{base}) or remove the row.")
        reason = skip_reason(file)
        given = (row.get("patient") or "").strip() if "patient" in columns else ""
        if reason is None:
            records.append(ImageRecord(name, split, label, given or patient(Path(name).name)))
        else:
            unread.append(SkippedEntry(name, split, label, reason))
    if not records:
        raise DataLayoutError(f"{path} lists no readable image file.\n{EXPECTED_LAYOUT}")
    data_set = _checked(DataSet(path, base, "csv", classes_of(records),
                                tuple(sorted(records, key=lambda r: r.path)), tuple(unread)))
    if "split" in columns:
        _check_csv_splits(path, data_set)
    return data_set


def _check_csv_splits(path: Path, data_set: DataSet) -> None:
    for folder in ("train", "test"):
        if not any(r.folder == folder for r in data_set.records):
            raise DataLayoutError(f"{path}: no row has split {folder}; the split column needs "
                                  "train and test rows (or drop it and use --split pooled).")
    train_classes = classes_of(r for r in data_set.records if r.folder == "train")
    for folder in ("val", "test"):
        extra = sorted(set(classes_of(r for r in data_set.records if r.folder == folder))
                       - set(train_classes))
        if extra:
            raise DataLayoutError(f"{path}: class(es) {extra} have {folder} rows but no train "
                                  "row: a class must have training images.")
    missing = sorted(set(train_classes) - set(classes_of(
        r for r in data_set.records if r.folder == "test")))
    if missing:
        raise DataLayoutError(f"{path}: class(es) {missing} have no test row: every class "
                              "needs test images.")


def unread_entries(data: Path | str) -> list[SkippedEntry]:
    """Every entry of the data set that ``scan`` does not list (hidden files, other suffixes,
    subfolders, FIFOs, broken links), with the reason, sorted."""
    return sorted(describe(data).unread, key=lambda e: e.path)


def skipped_manifest_rows(data: Path | str, labels: Sequence[str] | None = None,
                          folders: Sequence[str] | None = None) -> tuple:
    """Manifest rows (split ``unread``) of the unread entries of these classes and folders
    (default: all)."""
    return tuple((e.path, "unread", e.label, "skipped", e.reason) for e in unread_entries(data)
                 if (labels is None or e.label in labels)
                 and (folders is None or e.folder in folders))


def files_digest(root: Path | str, paths: Iterable[str]) -> str:
    """sha256 over each file's relative path and contents, in order: the identity of a set of
    training images (a renamed, added, removed or altered file changes it)."""
    root = Path(root)
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.encode("utf-8") + b"\0")
        digest.update(hashlib.sha256((root / path).read_bytes()).digest())
    return digest.hexdigest()


def split_records(
    records: Sequence[ImageRecord], split: str, seed: int = 0
) -> dict[str, list[ImageRecord]]:
    """Assigns records to ``train`` / ``test`` (and ``val`` for the official split).

    Args:
        records: From ``scan``.
        split: One of ``SPLITS``.
        seed: Seeds the pooled splits; the official split ignores it.

    Returns:
        A dict from split name to its records, each list sorted by path.
    """
    if split not in SPLITS:
        raise ValueError(f"`split` must be one of {SPLITS}. Received: split={split!r}")
    if split == "official":
        if not all(r.folder for r in records):
            raise DataLayoutError(
                "The official split needs split folders (DATA/train/CLASS, DATA/test/CLASS) or a "
                "CSV split column; this data set has neither. Use --split pooled or "
                "pooled-patient.")
        parts: dict[str, list[ImageRecord]] = {name: [] for name in FOLDER_SPLITS}
        for record in records:
            parts[record.folder].append(record)
        return {name: sorted(part, key=lambda r: r.path) for name, part in parts.items() if part}
    test_paths: set[str] = set()
    rng = np.random.default_rng(seed)
    for label in classes_of(records):  # Sorted: Kermany's NORMAL, then PNEUMONIA.
        members = sorted((r for r in records if r.label == label), key=lambda r: r.path)
        n_test = int(round(POOLED_TEST_FRACTION * len(members)))
        if split == "pooled":
            order = rng.permutation(len(members))
            test_paths.update(members[i].path for i in order[:n_test])
        else:
            test_paths.update(_patient_grouped_test(members, n_test, rng))
    if split == "pooled-patient":
        # A patient with images of several classes: all of them go to test with the first
        # drawn (none of Kermany's patients has two classes, so its splits are unchanged).
        test_patients = {r.patient for r in records if r.path in test_paths}
        test_paths = {r.path for r in records if r.patient in test_patients}
    train = [r for r in records if r.path not in test_paths]
    test = [r for r in records if r.path in test_paths]
    return {
        "train": sorted(train, key=lambda r: r.path),
        "test": sorted(test, key=lambda r: r.path),
    }


# Second word of the subset's random stream (the first: the split seed).
SUBSET_STREAM = 202


@dataclasses.dataclass(frozen=True)
class TrainingSubset:
    """``--train-size`` (None: every training record) and ``--cap`` ((class, most) pairs)."""

    size: int | None = None
    caps: tuple[tuple[str, int], ...] = ()

    def __bool__(self) -> bool:
        return self.size is not None or bool(self.caps)

    def describe(self) -> str:
        words = [f"--train-size {self.size}"] if self.size is not None else []
        return " ".join(words + [f"--cap {name}={n}" for name, n in self.caps])


def subset_order(train: Sequence[ImageRecord], seed: int,
                 caps: dict[str, int] | None = None) -> list[ImageRecord]:
    """``train``'s records in the order a stratified subset takes them (module docstring):
    a seeded order within each class, the classes interleaved by relative rank; a class of
    ``caps`` keeps only the first records of its order."""
    caps = caps or {}
    rng = np.random.default_rng([seed, SUBSET_STREAM])
    keyed = []
    for j, name in enumerate(classes_of(train)):
        members = sorted((r for r in train if r.label == name), key=lambda r: r.path)
        order = rng.permutation(len(members))  # The whole class: a cap never changes it.
        n = min(len(members), caps.get(name, len(members)))
        keyed += [((rank + 0.5) / n, j, members[i]) for rank, i in enumerate(order[:n])]
    keyed.sort(key=lambda item: item[:2])
    return [record for _, _, record in keyed]


def training_subset(parts: dict[str, list[ImageRecord]], subset: TrainingSubset, seed: int,
                    data: Path | str = "") -> tuple[dict[str, list[ImageRecord]],
                                                     list[ImageRecord]]:
    """The split ``parts`` with its training records cut to ``subset`` (seeded by the split
    seed ``seed``); returns ``(parts, left_out)``, the records the subset leaves out.

    Raises:
        DataLayoutError: A cap names no class, or the size is more than the training records.
    """
    if not subset:
        return parts, []
    train = parts["train"]
    classes = classes_of(train)
    for name, _ in subset.caps:
        if name not in classes:
            raise DataLayoutError(f"--cap {name}=... names no class of {data}; its classes are "
                                  f"{', '.join(classes)}.")
    ordered = subset_order(train, seed, dict(subset.caps))
    if subset.size is not None and subset.size > len(ordered):
        raise DataLayoutError(
            f"--train-size {subset.size} is more than the {len(ordered)} training images of "
            f"{data} in this split{' after the caps' if subset.caps else ''}; give at most "
            f"{len(ordered)}, or 'all'.")
    kept = ordered if subset.size is None else ordered[:subset.size]
    kept_paths = {r.path for r in kept}
    left_out = [r for r in train if r.path not in kept_paths]
    return {**parts, "train": sorted(kept, key=lambda r: r.path)}, left_out


def split_for_run(records: Sequence[ImageRecord], split: str, split_seed: int = 0,
                  subset: TrainingSubset = TrainingSubset(),
                  data: Path | str = "") -> tuple[dict[str, list[ImageRecord]],
                                                   list[ImageRecord]]:
    """``split_records`` then ``training_subset``: the split one run trains and tests on, and
    the training records its subset leaves out."""
    return training_subset(split_records(records, split, seed=split_seed), subset, split_seed,
                           data)


def subset_manifest_rows(left_out: Sequence[ImageRecord], subset: TrainingSubset,
                         labels: Sequence[str] | None = None):
    """Manifest rows of the training records outside the run's subset (of ``labels`` only,
    when given)."""
    return tuple((r.path, "train", r.label, "left-out", f"outside the {subset.describe()} "
                  "subset") for r in left_out if labels is None or r.label in labels)


def validation_mask(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of the classifier's stratified, seeded validation share of a training
    split (``labels``: class indices in record order)."""
    rng = np.random.default_rng([seed, 101])
    mask = np.zeros(len(labels), bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        n_val = int(round(fraction * len(members)))
        mask[rng.permutation(members)[:n_val]] = True
    return mask


def validation_paths(train: Sequence[ImageRecord], seeds: Iterable[int],
                     fraction: float = VALIDATION_FRACTION) -> set[str]:
    """Paths of the classifier's validation shares of ``train`` (a split's training records,
    sorted by path) for each of ``seeds``, together: what a generator for classifier runs of
    those seeds must not learn from."""
    classes = classes_of(train)
    labels = np.array([classes.index(r.label) for r in train])
    paths: set[str] = set()
    for seed in seeds:
        paths.update(r.path for r, held in zip(train, validation_mask(labels, fraction, seed))
                     if held)
    return paths


def _patient_grouped_test(
    members: Sequence[ImageRecord], n_test: int, rng: np.random.Generator
) -> set[str]:
    """Draws whole patients in random order until at least ``n_test`` images are taken."""
    by_patient: dict[str, list[str]] = defaultdict(list)
    for record in members:
        by_patient[record.patient].append(record.path)
    patients = sorted(by_patient)
    taken: set[str] = set()
    for index in rng.permutation(len(patients)):
        if len(taken) >= n_test:
            break
        taken.update(by_patient[patients[index]])
    return taken


def file_digests(root: Path | str, records: Iterable[ImageRecord]) -> dict[str, str]:
    """Returns sha256 hex digests of the files, keyed by record path."""
    root = Path(root)
    return {r.path: hashlib.sha256((root / r.path).read_bytes()).hexdigest() for r in records}


def duplicate_groups(root: Path | str, records: Sequence[ImageRecord]) -> list[list[str]]:
    """Groups of byte-identical files (two or more paths with one sha256), sorted."""
    by_digest: dict[str, list[str]] = defaultdict(list)
    for path, digest in file_digests(root, records).items():
        by_digest[digest].append(path)
    return sorted(sorted(paths) for paths in by_digest.values() if len(paths) > 1)


def cross_split_duplicates(
    groups: Sequence[Sequence[str]], parts: dict[str, list[ImageRecord]]
) -> list[list[str]]:
    """The duplicate groups whose files fall in more than one split."""
    split_of = {r.path: name for name, part in parts.items() for r in part}
    return [list(g) for g in groups if len({split_of.get(p) for p in g} - {None}) > 1]


def patients_shared(parts: dict[str, list[ImageRecord]], a: str = "train", b: str = "test") -> int:
    """Number of images in split ``b`` whose patient also has an image in split ``a``."""
    patients_a = {r.patient for r in parts.get(a, [])}
    return sum(r.patient in patients_a for r in parts.get(b, []))


@dataclasses.dataclass(frozen=True)
class LoadedImages:
    """Decoded images of one split and class, and the manifest rows of what was read.

    Attributes:
        images: uint8 array ``(n, size, size, 1)``, in record order, skipped files left out.
        paths: The used records' paths, aligned with ``images``.
        manifest_rows: ``(path, split, label, status, reason)`` for every record read.
    """

    images: np.ndarray
    paths: tuple[str, ...]
    manifest_rows: tuple[tuple[str, str, str, str, str], ...]

    @property
    def n_skipped(self) -> int:
        return sum(row[3] == "skipped" for row in self.manifest_rows)


def load_images(
    root: Path | str,
    records: Sequence[ImageRecord],
    split_name: str,
    size: int,
    resize_filter: str = "bilinear",
    strict: bool = False,
) -> LoadedImages:
    """Decodes records to a uint8 array; bad files are skipped with a warning, or fatal.

    Args:
        root: The data root the record paths are relative to.
        records: The files to read.
        split_name: Written into the manifest's ``split`` column.
        size: Square output size in pixels.
        resize_filter: See ``cxr_gan.data.images.RESIZE_FILTERS``.
        strict: Raise on the first bad file instead of skipping it.

    Raises:
        ImageReadError: With ``strict``, on the first bad file.
        DataLayoutError: No file could be decoded.
    """
    root = Path(root)
    arrays, paths, rows = [], [], []
    for record in records:
        try:
            arrays.append(_read_checked(root / record.path, size, resize_filter, strict))
        except ImageReadError as error:
            if strict:
                raise
            warnings.warn(f"Skipping {error.path}: {error.reason}", stacklevel=2)
            rows.append((record.path, split_name, record.label, "skipped", error.reason))
            continue
        paths.append(record.path)
        rows.append((record.path, split_name, record.label, "used", ""))
    if not arrays:
        raise DataLayoutError(f"No readable image among {len(records)} files under {root}")
    images = np.stack(arrays)[..., np.newaxis]
    return LoadedImages(images=images, paths=tuple(paths), manifest_rows=tuple(rows))


def _read_checked(path: Path, size: int, resize_filter: str, strict: bool) -> np.ndarray:
    """``read_grayscale``; with ``strict`` an unusual image (``UnusualImageWarning``) is an
    error instead of a warning."""
    with warnings.catch_warnings():
        if strict:
            warnings.simplefilter("error", UnusualImageWarning)
        try:
            return read_grayscale(path, size, resize_filter)
        except UnusualImageWarning as warning:
            raise ImageReadError(path, f"{warning.reason} (unusual for a radiograph; "
                                       "refused by --strict)") from None


MANIFEST_COLUMNS = ("path", "split", "label", "status", "reason")


def manifest_csv_text(rows: Iterable[Sequence[str]]) -> str:
    """Renders manifest rows (``MANIFEST_COLUMNS``) as CSV text."""
    return csv_text(MANIFEST_COLUMNS, rows)


# Fewest training images of a class: one validation image (10 %) and four to train on.
MIN_TRAINING_IMAGES = 5


def check_class_sizes(parts: dict[str, list[ImageRecord]], data: Path | str) -> None:
    """Refuses a split in which a class has no test image or too few training images for its
    validation share (``MIN_TRAINING_IMAGES``).

    Raises:
        DataLayoutError: Names the class, its counts and the fix.
    """
    classes = classes_of(r for part in parts.values() for r in part)
    for name in classes:
        n_train = sum(r.label == name for r in parts.get("train", []))
        n_test = sum(r.label == name for r in parts.get("test", []))
        if n_test == 0 or n_train < MIN_TRAINING_IMAGES:
            raise DataLayoutError(
                f"{data}: class {name!r} has {n_train} training and {n_test} test images in this "
                f"split; each class needs at least one test image and {MIN_TRAINING_IMAGES} "
                "training images (one for the validation share). Add images of it, or remove "
                "the class from the data set.")


def chosen_class(records: Sequence[ImageRecord], split: str, split_seed: int,
                 label: str | None, flag: str = "--label",
                 subset: TrainingSubset = TrainingSubset()) -> str:
    """``label`` after checking it names a class; None: the smallest class of the split's
    training part (the first in sorted order on a tie), the minority class a top-up adds to.

    Raises:
        DataLayoutError: ``label`` names no class of the data set.
    """
    classes = classes_of(records)
    if label is not None:
        if label not in classes:
            raise DataLayoutError(f"{flag} {label!r} names no class of this data set; its "
                                  f"classes are {', '.join(classes)}.")
        return label
    return smallest_class(split_for_run(records, split, split_seed, subset)[0]["train"])


def smallest_class(train: Sequence[ImageRecord]) -> str:
    """The class with the fewest of ``train``'s records (the first in sorted order on a tie)."""
    classes = classes_of(train)
    counts = {name: sum(r.label == name for r in train) for name in classes}
    return min(classes, key=lambda name: (counts[name], name))


def select_training(records: Sequence[ImageRecord], split: str, split_seed: int, label: str,
                    validation_seeds: Sequence[int], subset: TrainingSubset = TrainingSubset(),
                    data: Path | str = ""):
    """A split's training records of ``label`` (within ``subset``) less the classifier's
    validation shares of ``validation_seeds``: what a GAN learns from.

    Returns:
        ``(parts, chosen, left_out)``: the split (its training part cut to the subset), the
        chosen records, and the records of ``label`` the validation shares took.
    """
    parts, _ = split_for_run(records, split, split_seed, subset, data)
    held = validation_paths(parts["train"], validation_seeds)
    chosen = [r for r in parts["train"] if r.label == label and r.path not in held]
    left_out = [r for r in parts["train"] if r.label == label and r.path in held]
    return parts, chosen, left_out


def left_out_manifest_rows(left_out: Sequence[ImageRecord], validation_seeds: Sequence[int]):
    """Manifest rows of the training images a GAN leaves out for the classifier's validation."""
    seeds = ", ".join(map(str, validation_seeds))
    return tuple((r.path, "train", r.label, "left-out",
                  f"validation share of classifier seed(s) {seeds}") for r in left_out)


def split_counts(parts: dict[str, list[ImageRecord]]) -> dict[str, dict[str, int]]:
    """Images of each class in each part of a split."""
    classes = classes_of(r for part in parts.values() for r in part)
    return {name: {label: sum(r.label == label for r in part) for label in classes}
            for name, part in parts.items()}


def read_pack(root: Path | str) -> dict | None:
    """The pack description of a packed data folder, or None for a full data set."""
    import json

    path = Path(root) / PACK_MARKER
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def packed_records(root: Path | str, pack: dict, split: str, split_seed: int, label: str,
                   validation_seeds: Sequence[int]) -> list[ImageRecord]:
    """The records of a packed data folder, after checking it holds what the run asks for.

    Raises:
        DataLayoutError: The pack holds another split, seed, class or validation share.
    """
    asked = {"split": split, "split_seed": split_seed, "label": label,
             "validation_seeds": list(validation_seeds)}
    held = {key: pack[key] for key in asked}
    if split == "official":
        asked.pop("split_seed")
        held.pop("split_seed")
    if asked != held:
        raise DataLayoutError(
            f"{root} is a packed copy of the training images of {held} only; this run asks "
            f"for {asked}. Prepare a pack for it (tools/accelerator/gpu_prepare.py) or give the full "
            "data folder.")
    return [ImageRecord(path, path.split("/")[0], label, kermany.patient_id(Path(path).name))
            for path in pack["files"]]
