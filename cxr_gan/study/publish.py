"""A study's results as they can be shared or committed (``evaluate.py study --publish DEST``).

A study folder holds more than its results, and not all of it may travel: the classifiers' and
generators' weights (``*.keras`` and checkpoints, megabytes each) and figures that show real
training images (a generator's ``figures/samples_epoch_*.png`` beside its fakes, the
memorisation check's ``closest_pairs.png``). Publishing copies, by name, only the files the
report and the committed-result tests read (``CLASSIFIER_FILES``, ``GENERATOR_FILES``), so a
new kind of file cannot leak by accident; the large tables go gzipped (``io.gzip_file``'s
bytes: the report reads either form). A published generator names its weights by SHA-256 twice:
the file's (``generator.sha256``, for ``sha256sum -c``) and its weight arrays'
(``generator.weights.sha256``, ``checkpoints.saved_weights_digest``), which a retrained
generator matches when its weights are equal even though its file, holding the save time, does
not.

Nothing in DEST is overwritten: a file DEST has (plain or gzipped) stays; ``progress.jsonl``
takes the records DEST lacks. The source folder is only read.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

from cxr_gan.io import atomic_write_bytes, atomic_write_text, stored_file

# Each published file of a finished classifier run -> whether it goes gzipped; metrics.json
# last: it marks the run finished.
CLASSIFIER_FILES = {"config.json": False, "history.csv": False, "predictions.csv": True,
                    "metrics.json": False}
# A finished generator's record and, where evaluate.py score wrote them, its scores; not its
# weights, checkpoints, sample figures or closest pairs (real images).
GENERATOR_FILES = {"config.json": False, "data_report.json": False, "history.csv": True,
                   "manifest.csv": True, "figures/loss_accuracy.png": False,
                   "scores/fid.json": False, "scores/generated-first16.png": False,
                   "scores/memorization/memorization_summary.json": False,
                   "scores/memorization/memorization.csv": True,
                   "scores/memorization/memorization_distances.png": False}
STUDY_FILES = ("study.json",)
GENERATOR_DIGEST = "generator.sha256"
GENERATOR_WEIGHTS_DIGEST = "generator.weights.sha256"


def _publish_file(source: Path, dest: Path, packed: bool) -> bool:
    """Copies ``source`` (or its ``.gz``) to ``dest`` (gzipped when ``packed``) unless DEST
    has it in either form; returns whether it copied."""
    found = stored_file(source.parent, source.name)
    if not found.is_file() or stored_file(dest.parent, dest.name).is_file():
        return False
    data = found.read_bytes()
    if packed and found.suffix != ".gz":
        data, dest = gzip.compress(data, compresslevel=9, mtime=0), Path(f"{dest}.gz")
    elif found.suffix == ".gz":
        dest = Path(f"{dest}.gz")
    atomic_write_bytes(dest, data)
    return True


def _publish_run(source: Path, dest: Path, files: dict) -> int:
    return sum(_publish_file(source / name, dest / name, packed)
               for name, packed in files.items())


def _generator_digests(source: Path, dest: Path) -> int:
    """Writes the digests DEST lacks (see the module text); returns how many."""
    from cxr_gan.checkpoints import saved_weights_digest

    weights = source / "generator.keras"
    digests = {GENERATOR_DIGEST: lambda: hashlib.sha256(weights.read_bytes()).hexdigest(),
               GENERATOR_WEIGHTS_DIGEST: lambda: saved_weights_digest(weights)}
    written = 0
    for name, digest in digests.items():
        if not (dest / name).is_file():
            atomic_write_text(dest / name, f"{digest()}  generator.keras\n")
            written += 1
    return written


def _merge_progress(source: Path, dest: Path) -> int:
    """DEST's records, then the source's that DEST lacks, in their order."""
    if not source.is_file():
        return 0
    have = dest.read_text().splitlines() if dest.is_file() else []
    new = [line for line in source.read_text().splitlines()
           if line.strip() and line not in set(have)]
    if new:
        atomic_write_text(dest, "\n".join(have + new) + "\n")
    return len(new)


def publish_study(out: Path | str, dest: Path | str) -> dict:
    """Copies the finished runs of the study in ``out`` into ``dest`` (see the module text).
    Returns the counts: runs and generators with a file copied, files, progress records."""
    out, dest = Path(out), Path(dest)
    counts = {"runs": 0, "generators": 0, "files": 0, "progress_records": 0}
    for name in STUDY_FILES:
        counts["files"] += _publish_file(out / name, dest / name, False)
    for metrics in sorted(out.glob("*/*/metrics.json")):
        copied = _publish_run(metrics.parent, dest / metrics.parent.relative_to(out),
                              CLASSIFIER_FILES)
        counts["runs"] += copied > 0
        counts["files"] += copied
    for weights in sorted(out.glob("*/gan/generator.keras")):
        target = dest / weights.parent.relative_to(out)
        copied = _publish_run(weights.parent, target, GENERATOR_FILES)
        copied += _generator_digests(weights.parent, target)
        counts["generators"] += copied > 0
        counts["files"] += copied
    counts["progress_records"] = _merge_progress(out / "progress.jsonl",
                                                 dest / "progress.jsonl")
    return counts
