"""The Kermany folder layout -> a file table, the study's splits, duplicates and the manifest.

Layout expected under the data root (the Kaggle / Mendeley "chest_xray" folder)::

    ROOT/train/NORMAL/*.jpeg   ROOT/train/PNEUMONIA/*.jpeg
    ROOT/val/NORMAL/*.jpeg     ROOT/val/PNEUMONIA/*.jpeg      (optional)
    ROOT/test/NORMAL/*.jpeg    ROOT/test/PNEUMONIA/*.jpeg

Splits (``SPLITS``):
    official: the folders as they are (train / val / test).
    pooled: every image pooled and split 80/20, stratified by class, seeded. With the full
        data this gives 4684 train / 1172 test (317 NORMAL + 855 PNEUMONIA), exactly the
        totals of the paper's Table 2.
    pooled-patient: as pooled, but whole patients go to one side (patient id from the file
        name), so no patient's images are on both sides. Counts are close to, not exactly, 80/20.

Patient ids are read from file names and are not qualified by folder: the official test
folder reuses ids of the train folder (320 test PNEUMONIA images share a ``personN`` with a
train image, e.g. test ``person100_bacteria_475`` and train ``person100_virus_184``), and the
names cannot tell whether they are one patient. Grouping them is the cautious reading: the
grouped split may be stricter than needed, never leakier, and shared-patient counts are upper
bounds.

The data folder is only ever read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from cxr_gan.cli import UserError
from cxr_gan.data.images import ImageReadError, UnusualImageWarning, read_grayscale
from cxr_gan.io import csv_text, is_image_file, skip_reason

LABELS = ("NORMAL", "PNEUMONIA")
FOLDER_SPLITS = ("train", "val", "test")
SPLITS = ("official", "pooled", "pooled-patient")
POOLED_TEST_FRACTION = 0.2
# The classifier's validation share of the training split (early stopping), stratified, seeded
# by the classifier run's seed; a generator meant for those runs leaves it out too.
VALIDATION_FRACTION = 0.1

EXPECTED_LAYOUT = """Expected layout:
    DATA/train/NORMAL/*.jpeg      DATA/train/PNEUMONIA/*.jpeg
    DATA/val/NORMAL/*.jpeg        DATA/val/PNEUMONIA/*.jpeg       (val/ is optional)
    DATA/test/NORMAL/*.jpeg       DATA/test/PNEUMONIA/*.jpeg
(.jpeg, .jpg or .png; the Kaggle "Chest X-Ray Images (Pneumonia)" archive unpacks to this
under chest_xray/)."""

# Patient ids in Kermany's file names: "person1234_bacteria_5678.jpeg" (PNEUMONIA),
# "IM-0115-0001.jpeg" and "NORMAL2-IM-1427-0001.jpeg" (NORMAL).
_PATIENT_PATTERNS = (
    re.compile(r"^(person\d+)_"),
    re.compile(r"^(NORMAL2-IM-\d+)-"),
    re.compile(r"^(IM-\d+)-"),
)


# Written into the root of a packed copy of one split's training images (an accelerator's data,
# ``tools/accelerator/gpu_prepare.py``): which split, seeds and files it holds.
PACK_MARKER = "SPLIT_PACK.json"


class DataLayoutError(UserError, ValueError):
    """The data folder does not have the Kermany layout; the message shows the fix."""


@dataclasses.dataclass(frozen=True)
class ImageRecord:
    """One image file of the data set.

    Attributes:
        path: Path relative to the data root, with forward slashes.
        folder: The folder split it was found in (train, val, test).
        label: NORMAL or PNEUMONIA.
        patient: Patient id parsed from the file name (the file stem when none matches).
    """

    path: str
    folder: str
    label: str
    patient: str


def patient_id(file_name: str) -> str:
    """Returns the patient id encoded in a Kermany file name, else the file's stem."""
    for pattern in _PATIENT_PATTERNS:
        match = pattern.match(file_name)
        if match:
            return match.group(1)
    return Path(file_name).stem


def scan(root: Path | str) -> list[ImageRecord]:
    """Lists the image files under ``root`` in a sorted, deterministic order.

    Raises:
        DataLayoutError: ``root`` is missing, lacks ``train/`` or ``test/``, lacks a class
            folder, or a class folder holds no image file. The message shows the expected layout.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataLayoutError(f"Data folder not found: {root}\n{EXPECTED_LAYOUT}")
    records = []
    for folder in FOLDER_SPLITS:
        folder_dir = root / folder
        if not folder_dir.is_dir():
            if folder == "val":
                continue
            raise DataLayoutError(f"Missing folder {folder_dir}\n{EXPECTED_LAYOUT}")
        for label in LABELS:
            class_dir = folder_dir / label
            if not class_dir.is_dir():
                found = sorted(p.name for p in folder_dir.iterdir() if p.is_dir())
                raise DataLayoutError(
                    f"Missing class folder {class_dir} (found folders: {found or 'none'})\n"
                    f"{EXPECTED_LAYOUT}"
                )
            files = sorted(p for p in class_dir.iterdir() if is_image_file(p))
            if not files:
                raise DataLayoutError(
                    f"Class folder {class_dir} holds no .jpeg, .jpg or .png file\n{EXPECTED_LAYOUT}"
                )
            records.extend(
                ImageRecord(f"{folder}/{label}/{p.name}", folder, label, patient_id(p.name))
                for p in files
            )
    return sorted(records, key=lambda r: r.path)


@dataclasses.dataclass(frozen=True)
class SkippedEntry:
    """A class folder entry that is not read: ``path`` relative to the root, and why."""

    path: str
    folder: str
    label: str
    reason: str


def unread_entries(root: Path | str) -> list[SkippedEntry]:
    """Every entry of the class folders that ``scan`` does not list (hidden files, other
    suffixes, subfolders, FIFOs, broken links), with the reason, sorted."""
    root = Path(root)
    found = []
    for folder in FOLDER_SPLITS:
        for label in LABELS:
            class_dir = root / folder / label
            if not class_dir.is_dir():
                continue
            for path in sorted(class_dir.iterdir()):
                reason = skip_reason(path)
                if reason is not None:
                    found.append(SkippedEntry(f"{folder}/{label}/{path.name}", folder, label,
                                              reason))
    return found


def skipped_manifest_rows(root: Path | str, labels: Sequence[str] = LABELS,
                          folders: Sequence[str] = FOLDER_SPLITS) -> tuple:
    """Manifest rows (split ``unread``) of the unread entries of these class folders."""
    return tuple((e.path, "unread", e.label, "skipped", e.reason) for e in unread_entries(root)
                 if e.label in labels and e.folder in folders)


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
        parts: dict[str, list[ImageRecord]] = {name: [] for name in FOLDER_SPLITS}
        for record in records:
            parts[record.folder].append(record)
        return {name: sorted(part, key=lambda r: r.path) for name, part in parts.items() if part}
    test_paths: set[str] = set()
    rng = np.random.default_rng(seed)
    for label in LABELS:
        members = sorted((r for r in records if r.label == label), key=lambda r: r.path)
        n_test = int(round(POOLED_TEST_FRACTION * len(members)))
        if split == "pooled":
            order = rng.permutation(len(members))
            test_paths.update(members[i].path for i in order[:n_test])
        else:
            test_paths.update(_patient_grouped_test(members, n_test, rng))
    train = [r for r in records if r.path not in test_paths]
    test = [r for r in records if r.path in test_paths]
    return {
        "train": sorted(train, key=lambda r: r.path),
        "test": sorted(test, key=lambda r: r.path),
    }


def validation_mask(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of the classifier's stratified, seeded validation share of a training
    split (``labels``: 0 NORMAL, 1 PNEUMONIA, in record order)."""
    rng = np.random.default_rng([seed, 101])
    mask = np.zeros(len(labels), bool)
    for label in (0, 1):
        members = np.flatnonzero(labels == label)
        n_val = int(round(fraction * len(members)))
        mask[rng.permutation(members)[:n_val]] = True
    return mask


def validation_paths(train: Sequence[ImageRecord], seeds: Iterable[int],
                     fraction: float = VALIDATION_FRACTION) -> set[str]:
    """Paths of the classifier's validation shares of ``train`` (a split's training records,
    sorted by path) for each of ``seeds``, together: what a generator for classifier runs of
    those seeds must not learn from."""
    labels = np.array([LABELS.index(r.label) for r in train])
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


def select_training(records: Sequence[ImageRecord], split: str, split_seed: int, label: str,
                    validation_seeds: Sequence[int]):
    """A split's training records of ``label`` less the classifier's validation shares of
    ``validation_seeds``: what a GAN learns from.

    Returns:
        ``(parts, chosen, left_out)``: the split, the chosen records, and the records of
        ``label`` the validation shares took.
    """
    parts = split_records(records, split, seed=split_seed)
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
    return {name: {label: sum(r.label == label for r in part) for label in LABELS}
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
    return [ImageRecord(path, path.split("/")[0], label, patient_id(Path(path).name))
            for path in pack["files"]]
