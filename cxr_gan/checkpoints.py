"""Keras-aware training checkpoints and saved models, written atomically.

Checkpoints (``checkpoints/ckpt-STEP.npz``) hold every variable needed to continue a run
exactly (weights, batch-norm statistics, seed-generator state, optimizer slots and counters) in
a fixed order, with the variables' paths and shapes, the global step, the run's config, the
run's *fingerprint* (what makes two runs the same run: seed, preset, batch sizes, split, the
training data's digest) and a sha256 *checksum* of every array. ``restore_newest_good`` loads
the newest checkpoint that is intact and belongs to the run; a damaged one (truncated,
zero-filled, a flipped byte) or a foreign one (another run's, another preset's) is refused,
moved to ``checkpoints/refused/`` with the reason printed, and the next older one is tried.
Nothing is assigned from a checkpoint that fails any check.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import sys
import zipfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from cxr_gan.cli import UserError
from cxr_gan.io import atomic_write_bytes

CHECKPOINT_DIR = "checkpoints"
REFUSED_DIR = "refused"
_CHECKPOINT_PATTERN = re.compile(r"^ckpt-(\d{9})\.npz$")
KEEP_CHECKPOINTS = 2
# Keras names seed generators "seed_generator_N" with N counted over the whole process, so the
# same model built twice differs there; everything else in a path is a fixed layer name.
_SEED_GENERATOR_NAME = re.compile(r"seed_generator(_\d+)?")


class CheckpointMismatchError(UserError, ValueError):
    """A checkpoint belongs to another run: its fingerprint or its variables differ."""


class DamagedCheckpointError(UserError, ValueError):
    """A checkpoint file cannot be read back intact (truncated, zero-filled, altered)."""


class NoUsableCheckpointError(UserError, RuntimeError):
    """Every checkpoint of a run was refused; they were moved aside, none was deleted."""


def atomic_save_keras(model, path: Path | str) -> None:
    """Saves a Keras model as ``.keras`` atomically (Keras insists on the suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    except OSError as error:
        if error.filename is None:  # Name the file a full disk stopped.
            raise OSError(error.errno, error.strerror, str(path)) from error
        raise
    finally:
        if tmp.exists():
            tmp.unlink()


def checkpoint_path(run_dir: Path | str, global_step: int) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR / f"ckpt-{global_step:09d}.npz"


def list_checkpoints(run_dir: Path | str) -> list[tuple[int, Path]]:
    """``(global_step, path)`` of the run's checkpoints, oldest first."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _CHECKPOINT_PATTERN.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def save_checkpoint(
    run_dir: Path | str,
    variables: Sequence[Any],
    global_step: int,
    meta: dict[str, Any],
    keep: int = KEEP_CHECKPOINTS,
) -> Path:
    """Writes the variables' values and ``meta`` as one checkpoint; prunes old ones.

    Only checkpoints older than the ``keep`` newest are deleted, and only after the new one is
    safely on disk, so the last good checkpoint always survives.
    """
    arrays = {f"v{i:05d}": np.asarray(keras_value(v)) for i, v in enumerate(variables)}
    header = {
        **meta,
        "global_step": int(global_step),
        "paths": [v.path for v in variables],
        "shapes": [list(a.shape) for a in arrays.values()],
        "checksum": arrays_checksum(list(arrays.values())),
    }
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path = checkpoint_path(run_dir, global_step)
    atomic_write_bytes(path, buffer.getvalue())
    prune_checkpoints(run_dir, meta.get("fingerprint"), keep)
    return path


def stored_steps(run_dir: Path | str) -> tuple[list[tuple[int, Path]], list[tuple[Path, str]]]:
    """The run's checkpoints ordered by the global step stored inside each (a renamed file
    keeps its place), oldest first, and those that cannot be read, with the reason."""
    good, bad = [], []
    for named_step, path in list_checkpoints(run_dir):
        try:
            header, _ = read_checkpoint(path)
        except DamagedCheckpointError as error:
            bad.append((path, str(error)))
            continue
        step = int(header.get("global_step", named_step))
        if step != named_step:
            print(f"warning: {path} holds global step {step}, not the {named_step} of its name: "
                  "ordered by the step it holds.", file=sys.stderr)
        good.append((step, path))
    return sorted(good), bad


def prune_checkpoints(run_dir: Path | str, fingerprint: dict | None,
                      keep: int = KEEP_CHECKPOINTS) -> None:
    """Deletes the run's own intact checkpoints older than its ``keep`` newest (by stored
    step). A damaged or foreign one is never deleted: it is moved to ``refused/``."""
    good, bad = stored_steps(run_dir)
    for path, reason in bad:
        refuse_checkpoint(path, reason)
    own = []
    for step, path in good:
        header, _ = read_checkpoint(path)
        differences = fingerprint_differences(header.get("fingerprint"), fingerprint)
        if differences:
            refuse_checkpoint(path, f"{path} belongs to another run ({'; '.join(differences)})")
        else:
            own.append(path)
    for path in own[:-keep]:
        path.unlink()


def arrays_checksum(arrays: Sequence[np.ndarray]) -> str:
    """sha256 over the arrays' dtypes, shapes and bytes, in order."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def saved_weights_digest(path: Path | str) -> str:
    """``arrays_checksum`` of a saved ``.keras`` model's weight arrays, in the order of their
    paths inside it (each path hashed too). Equal for equal weights however and whenever they
    were saved, where the file's own sha256 is not: the archive holds the save time.

    Raises:
        DamagedCheckpointError: ``path`` is no readable ``.keras`` archive.
    """
    import h5py

    try:
        with zipfile.ZipFile(path) as archive:
            data = io.BytesIO(archive.read("model.weights.h5"))
        with h5py.File(data, "r") as weights:
            names: list[str] = []
            weights.visititems(lambda name, item: names.append(name)
                               if isinstance(item, h5py.Dataset) else None)
            arrays = [np.asarray(weights[name][()]) for name in sorted(names)]
    except (OSError, KeyError, zipfile.BadZipFile) as error:
        raise DamagedCheckpointError(
            f"{path} is no readable .keras model ({type(error).__name__}: {error}). Use the "
            "file Keras saved (model.save), or train the model again.") from None
    digest = hashlib.sha256("\n".join(sorted(names)).encode())
    digest.update(arrays_checksum(arrays).encode())
    return digest.hexdigest()


def read_checkpoint(path: Path | str) -> tuple[dict[str, Any], list[np.ndarray]]:
    """A checkpoint's header and arrays, checked against its checksum.

    Raises:
        DamagedCheckpointError: The file is not a readable archive, its header is not JSON, an
            array is missing or unreadable, or the arrays do not match the checksum.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(bytes(data["header"]).decode("utf-8"))
            arrays = [data[f"v{i:05d}"] for i in range(len(header["paths"]))]
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile,
            UnicodeDecodeError) as error:
        # np.load reports a zero-filled file as a pickle it refuses to load, a truncated one
        # as a bad zip, a flipped byte as a CRC error: all of them mean "damaged" here.
        raise DamagedCheckpointError(f"{path} is damaged ({type(error).__name__}: {error})") \
            from None
    expected = header.get("checksum")
    if expected is not None and arrays_checksum(arrays) != expected:
        raise DamagedCheckpointError(f"{path} is damaged: its arrays do not match the sha256 "
                                     "checksum written with them")
    return header, arrays


def keras_value(variable) -> np.ndarray:
    """A Keras variable's value as numpy, whatever the backend."""
    from keras import ops

    value = variable.value
    replica_values = getattr(value, "values", None)
    if isinstance(replica_values, tuple) and replica_values:
        # A tf.distribute per-replica value (e.g. an optimizer's iteration counter kept on
        # read by every replica): the replicas hold the same number; take the first.
        value = replica_values[0]
    return ops.convert_to_numpy(value)


def _comparable(path: str) -> str:
    """A variable path without the process-wide counter Keras appends to seed generators."""
    return _SEED_GENERATOR_NAME.sub("seed_generator", path)


def fingerprint_differences(saved: dict | None, expected: dict | None) -> list[str]:
    """``"field: saved vs expected"`` for each fingerprint field that differs. Only fields
    both sides have are compared (none when either has no fingerprint): a checkpoint written
    before a field existed is judged by the fields it has."""
    if not saved or not expected:
        return []
    keys = sorted(set(saved) & set(expected))
    return [f"{key}: {saved.get(key)!r} vs {expected.get(key)!r}" for key in keys
            if saved.get(key) != expected.get(key)]


def load_checkpoint(path: Path | str, variables: Sequence[Any],
                    fingerprint: dict | None = None) -> dict[str, Any]:
    """Assigns a checkpoint's values to ``variables``; returns its header.

    Args:
        path: A ``ckpt-STEP.npz`` file.
        variables: The model's state variables, in ``save_checkpoint``'s order.
        fingerprint: The run's fingerprint; a checkpoint with another one is refused.

    Raises:
        DamagedCheckpointError: The file fails to read back or to match its checksum.
        CheckpointMismatchError: The fingerprint, the variable count, a path or a shape differs:
            it belongs to another run, preset or version. Nothing is assigned in either case.
    """
    header, values = read_checkpoint(path)
    differences = fingerprint_differences(header.get("fingerprint"), fingerprint)
    if differences:
        raise CheckpointMismatchError(f"{path} belongs to another run (checkpoint vs this run: "
                                      + "; ".join(differences) + ")")
    paths, shapes = header["paths"], header["shapes"]
    if len(paths) != len(variables):
        raise CheckpointMismatchError(
            f"Checkpoint {path} holds {len(paths)} variables, the model has "
            f"{len(variables)}: it was written by another preset or version. "
            "Start a new run directory, or resume with the config it was made with."
        )
    for i, (variable, saved_path, shape) in enumerate(zip(variables, paths, shapes)):
        if (_comparable(variable.path) != _comparable(saved_path)
                or list(variable.shape) != list(shape)):
            raise CheckpointMismatchError(
                f"Checkpoint {path}: variable {i} is {saved_path} {shape}, the model has "
                f"{variable.path} {list(variable.shape)}. Resume with the matching config."
            )
    for variable, value in zip(variables, values):
        variable.assign(value)
    return header


def refuse_checkpoint(path: Path, reason: str) -> Path:
    """Moves a refused checkpoint to ``checkpoints/refused/`` (kept, never deleted, and out of
    the way of pruning and of the next resume); prints why."""
    target_dir = path.parent / REFUSED_DIR
    target_dir.mkdir(exist_ok=True)
    target = target_dir / path.name
    suffix = 1
    while target.exists():
        target = target_dir / f"{path.stem}.{suffix}{path.suffix}"
        suffix += 1
    os.replace(path, target)
    print(f"warning: refused {reason}; moved to {target}", file=sys.stderr)
    return target


def restore_newest_good(run_dir: Path | str, variables: Sequence[Any],
                        fingerprint: dict | None) -> tuple[Path, dict[str, Any]] | None:
    """Loads the newest checkpoint that is intact and the run's own, falling back to older
    ones; refused ones are moved aside with a warning.

    Returns:
        ``(path, header)``, or None when the run has no checkpoint at all.

    Raises:
        NoUsableCheckpointError: There were checkpoints and every one was refused.
    """
    good, bad = stored_steps(run_dir)
    refused = [refuse_checkpoint(path, reason) for path, reason in bad]
    for _, path in reversed(good):
        try:
            return path, load_checkpoint(path, variables, fingerprint)
        except (DamagedCheckpointError, CheckpointMismatchError) as error:
            refused.append(refuse_checkpoint(path, str(error)))
    if refused:
        raise NoUsableCheckpointError(
            f"No usable checkpoint in {Path(run_dir) / CHECKPOINT_DIR}: all {len(refused)} were "
            f"refused (see the warnings) and moved to {refused[0].parent}. Run the same "
            "command again to start this run from the beginning with its config.json, or "
            "choose a new --out.")
    return None
