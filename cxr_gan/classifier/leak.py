"""The generator leak guard: a GAN method may use only a generator that never saw the
classifier run's test or validation images.

A generator's provenance comes from its ``train_gan.py`` run folder (``config.json``,
``manifest.csv``: every training image it used), or, for a folder of PNGs, from the
``provenance.json`` that ``train_gan.py generate`` wrote there (``cxr_gan.gan.generate``).
The generator's training files are compared with the classifier run's test files and its
validation share by content (sha256 of the bytes: a copy under another name, or a byte-identical
duplicate of the data set, counts) when the generator's data folder is on this machine, else by
their paths relative to the data root. Any overlap refuses the run, except an image whose bytes
the classifier's own training images also hold (Kermany has byte-identical duplicates across
any split: the classifier sees those with or without the GAN; they are counted as
``shared_duplicates``). Without provenance the run goes on with a loud warning and
``"unknown"`` in its ``config.json``.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Iterable

from cxr_gan.cli import UserError
from cxr_gan.data import kermany


class GeneratorLeakError(UserError, ValueError):
    """The generator learned from images of the classifier run's test or validation set."""


def read_provenance(generator: str | None, gan_images: str | None) -> dict:
    """The provenance of a run's GAN images (``generator_provenance``'s keys; ``run`` None
    and ``training_files`` None when unknown)."""
    from cxr_gan.gan.generate import generator_provenance, read_folder_provenance

    if gan_images:
        found = read_folder_provenance(gan_images)
        if found is not None:
            return {**found, "images": str(gan_images)}
        return {"path": None, "run": None, "split": "unknown", "split_seed": None,
                "training_images": None, "training_files": None, "images": str(gan_images)}
    return generator_provenance(generator)


def _digests(files: Iterable[Path]) -> list[str]:
    return [hashlib.sha256(path.read_bytes()).hexdigest() for path in files]


def overlaps(provenance: dict, data: str, test: Iterable[str], validation: Iterable[str],
             train: Iterable[str]) -> dict:
    """How many test and validation images (paths relative to ``data``) the generator learned
    from, how they were compared (``"content"`` or ``"path"``), and how many of its training
    images are byte-identical duplicates that the classifier's own training images also hold
    (``shared_duplicates``: the data set's duplicates across the split, which the classifier
    sees with or without the GAN, so they are reported and not counted as a leak)."""
    learned_root = Path(provenance["data"])
    learned = [learned_root / p for p in provenance["training_files"]]
    if not all(path.is_file() for path in learned):
        seen_paths = set(provenance["training_files"])
        return {"overlap_with_test": sum(p in seen_paths for p in test),
                "overlap_with_validation": sum(p in seen_paths for p in validation),
                "shared_duplicates": 0, "compared_by": "path"}
    root = Path(data)
    seen = set(_digests(learned))
    own = set(_digests(root / p for p in train))  # What the classifier trains on anyway.
    test_digests = _digests(root / p for p in test)
    validation_digests = _digests(root / p for p in validation)
    shared = {d for d in test_digests + validation_digests if d in seen and d in own}
    return {"overlap_with_test": sum(d in seen and d not in own for d in test_digests),
            "overlap_with_validation": sum(d in seen and d not in own
                                           for d in validation_digests),
            "shared_duplicates": len(shared), "compared_by": "content"}


def _unknown(provenance: dict) -> dict:
    where = provenance.get("images") or provenance.get("path")
    print(f"WARNING: where the generator of {where} learned is unknown (no train_gan.py run "
          "folder or provenance.json beside it): nothing shows it never saw this run's test "
          "or validation images. Its result is marked 'unknown'; prefer a generator trained "
          "with train_gan.py on this split.", file=sys.stderr, flush=True)
    return {"path": provenance.get("path"), "images": provenance.get("images"), "run": None,
            "split": "unknown", "split_seed": None, "training_images": None,
            "overlap_with_test": "unknown", "overlap_with_validation": "unknown"}


def check_generator_leak(config, parts: dict[str, list]) -> dict | None:
    """The ``generator`` entry of a classifier run's ``config.json``; None for methods without
    GAN images.

    Args:
        config: A ``ClassifierRunConfig``.
        parts: Its split (``kermany.split_records``).

    Raises:
        GeneratorLeakError: The generator learned from a test or validation image of the run.
    """
    if not config.method.startswith("gan"):
        return None
    provenance = read_provenance(config.generator, config.gan_images)
    if not provenance.get("training_files"):
        return _unknown(provenance)
    test = [r.path for r in parts["test"]]
    held = kermany.validation_paths(parts["train"], [config.seed], config.validation_fraction)
    train = [r.path for r in parts["train"] if r.path not in held]
    found = overlaps(provenance, config.data, test, sorted(held), train)
    in_test, in_validation = found["overlap_with_test"], found["overlap_with_validation"]
    if in_test or in_validation:
        raise GeneratorLeakError(
            f"The generator {provenance['path']} learned from {in_test} of this run's "
            f"{len(test)} test images and {in_validation} of its {len(held)} validation "
            f"images (it trained on split {provenance['split']} train/{provenance['label']} "
            f"with validation shares of seeds {provenance.get('validation_seeds') or 'none'} "
            f"left out; this run: split {config.split}, seed {config.seed}). Its images would "
            "carry those images' likeness into training. Train a generator on this split: "
            f"python train_gan.py --data {config.data} --split {config.split} --split-seed "
            f"{config.split_seed} --exclude-validation {config.seed} --out RUN")
    return {"path": provenance["path"], "images": provenance.get("images"),
            "run": provenance["run"], "split": provenance["split"],
            "split_seed": provenance["split_seed"],
            "validation_seeds": provenance.get("validation_seeds"),
            "training_images": provenance["training_images"], **found}
