"""Keras-aware training checkpoints and saved models, written atomically.

Checkpoints (``checkpoints/ckpt-STEP.npz``) hold every variable needed to continue a run
exactly (weights, batch-norm statistics, seed-generator state, optimizer slots and counters) in
a fixed order, with the variables' paths and shapes, the global step and the run's config, so
that a checkpoint of another preset or version (other variables or shapes) is refused rather
than half-loaded.
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from cxr_gan.cli import UserError
from cxr_gan.io import atomic_write_bytes

CHECKPOINT_DIR = "checkpoints"
_CHECKPOINT_PATTERN = re.compile(r"^ckpt-(\d{9})\.npz$")
KEEP_CHECKPOINTS = 2
# Keras names seed generators "seed_generator_N" with N counted over the whole process, so the
# same model built twice differs there; everything else in a path is a fixed layer name.
_SEED_GENERATOR_NAME = re.compile(r"seed_generator(_\d+)?")


class CheckpointMismatchError(UserError, ValueError):
    """A checkpoint's variables do not match the model (another preset or version)."""


def atomic_save_keras(model, path: Path | str) -> None:
    """Saves a Keras model as ``.keras`` atomically (Keras insists on the suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        model.save(tmp)
        os.replace(tmp, path)
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
    }
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path = checkpoint_path(run_dir, global_step)
    atomic_write_bytes(path, buffer.getvalue())
    for _, old in list_checkpoints(run_dir)[:-keep]:
        old.unlink()
    return path


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


def load_checkpoint(path: Path | str, variables: Sequence[Any]) -> dict[str, Any]:
    """Assigns a checkpoint's values to ``variables``; returns its header.

    Raises:
        CheckpointMismatchError: The checkpoint's variables do not match (count, path or shape): it belongs
            to another preset or version. Nothing is assigned in that case.
    """
    with np.load(path) as data:
        header = json.loads(bytes(data["header"]).decode("utf-8"))
        paths, shapes = header["paths"], header["shapes"]
        if len(paths) != len(variables):
            raise CheckpointMismatchError(
                f"Checkpoint {path} holds {len(paths)} variables, the model has "
                f"{len(variables)}: it was written by another preset or version. "
                "Start a new run directory, or resume with the config it was made with."
            )
        for i, (variable, saved_path, shape) in enumerate(zip(variables, paths, shapes)):
            if _comparable(variable.path) != _comparable(saved_path) or list(variable.shape) != list(shape):
                raise CheckpointMismatchError(
                    f"Checkpoint {path}: variable {i} is {saved_path} {shape}, the model has "
                    f"{variable.path} {list(variable.shape)}. Resume with the matching config."
                )
        values = [data[f"v{i:05d}"] for i in range(len(paths))]
    for variable, value in zip(variables, values):
        variable.assign(value)
    return header
