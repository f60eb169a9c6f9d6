"""Kermany's chest X-ray data set: what its file names say (patient, pneumonia type).

The data set itself is read as any split-folder data set (``cxr_gan.data.datasets``); this
module holds only the facts of its names:

- Patient ids: ``person1234_bacteria_5678.jpeg`` (PNEUMONIA), ``IM-0115-0001.jpeg`` and
  ``NORMAL2-IM-1427-0001.jpeg`` (NORMAL). These are every data set's default patient patterns
  (a name that matches none is its own patient).
- Pneumonia type: ``_bacteria_`` or ``_virus_`` in a PNEUMONIA file's name, from which
  ``three_class_rows`` makes the NORMAL / BACTERIA / VIRUS task as a CSV data set.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

LABELS = ("NORMAL", "PNEUMONIA")
POSITIVE = "PNEUMONIA"

_PATIENT_PATTERNS = (
    re.compile(r"^(person\d+)_"),
    re.compile(r"^(NORMAL2-IM-\d+)-"),
    re.compile(r"^(IM-\d+)-"),
)
_PNEUMONIA_TYPE = re.compile(r"^person\d+_(bacteria|virus)_")


def patient_id(file_name: str) -> str:
    """The patient id encoded in a Kermany file name, else the file's stem."""
    for pattern in _PATIENT_PATTERNS:
        match = pattern.match(file_name)
        if match:
            return match.group(1)
    return Path(file_name).stem


def three_class_label(path: str, label: str) -> tuple[str | None, str]:
    """``(class, reason)`` of one Kermany image in the three-class task: NORMAL stays NORMAL, a
    PNEUMONIA image becomes BACTERIA or VIRUS by its name; ``(None, why)`` when the name says
    neither."""
    if label == "NORMAL":
        return "NORMAL", ""
    match = _PNEUMONIA_TYPE.match(Path(path).name)
    if label == "PNEUMONIA" and match:
        return match.group(1).upper(), ""
    return None, (f"{label} image whose name says neither bacteria nor virus "
                  "(expected personN_bacteria_M or personN_virus_M)")


def three_class_rows(records) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str]]]:
    """CSV rows ``(path, label, patient, split)`` of the three-class task from Kermany's records
    (``datasets.scan``), and ``(path, reason)`` of each image left out."""
    rows, skipped = [], []
    for record in records:
        label, reason = three_class_label(record.path, record.label)
        if label is None:
            skipped.append((record.path, reason))
        else:
            rows.append((record.path, label, record.patient, record.folder))
    return rows, skipped


def write_three_class_csv(data: Path | str, out: Path | str) -> tuple[int, list[tuple[str, str]]]:
    """Writes the three-class task of the Kermany folder ``data`` as a CSV data set at ``out``
    (columns path, label, patient, split; paths relative to ``out``'s folder, so the data is
    only read). Returns the rows written and ``(path, reason)`` of the images left out.

    Raises:
        UserError: ``out`` exists (never overwritten) or ``data`` is no Kermany folder.
    """
    from cxr_gan.cli import UserError
    from cxr_gan.data.datasets import scan
    from cxr_gan.io import atomic_write_text, csv_text

    out = Path(out)
    if out.exists():
        raise UserError(f"{out} exists; choose a new file (it is never overwritten).")
    records = scan(data)
    if {r.label for r in records} != set(LABELS):
        raise UserError(f"{data} is not Kermany's data set (its classes must be NORMAL and "
                        "PNEUMONIA).")
    rows, skipped = three_class_rows(records)
    base = os.path.relpath(Path(data).resolve(), out.parent.resolve())
    relative = [(Path(base, path).as_posix(), label, patient, split)
                for path, label, patient, split in rows]
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, csv_text(("path", "label", "patient", "split"), relative))
    return len(relative), skipped
