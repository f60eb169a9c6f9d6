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

What is checked does not rest on the provenance alone: every image of a ``--gan-images`` folder
is compared, by its decoded pixels, with the run's test and validation images (a test image
copied or re-encoded into the folder is refused, provenance or not); the folder's files must
match the digest ``train_gan.py generate`` recorded; and when the provenance names a generator
run folder that exists, its manifest must list the same training files.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Iterable

from cxr_gan.classifier.augment import uses_generator
from cxr_gan.cli import UserError
from cxr_gan.data import datasets
from cxr_gan.io import recorded_path


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
    learned_root = datasets.base_dir(provenance["data"])
    learned = [learned_root / p for p in provenance["training_files"]]
    if not all(path.is_file() for path in learned):
        seen_paths = set(provenance["training_files"])
        return {"overlap_with_test": sum(p in seen_paths for p in test),
                "overlap_with_validation": sum(p in seen_paths for p in validation),
                "shared_duplicates": 0, "compared_by": "path"}
    root = datasets.base_dir(data)
    seen = set(_digests(learned))
    own = set(_digests(root / p for p in train))  # What the classifier trains on anyway.
    test_digests = _digests(root / p for p in test)
    validation_digests = _digests(root / p for p in validation)
    shared = {d for d in test_digests + validation_digests if d in seen and d in own}
    return {"overlap_with_test": sum(d in seen and d not in own for d in test_digests),
            "overlap_with_validation": sum(d in seen and d not in own
                                           for d in validation_digests),
            "shared_duplicates": len(shared), "compared_by": "content"}


def pixel_digest(path: Path) -> str:
    """sha256 of an image's decoded gray pixels and shape: a copy re-encoded without loss (a
    JPEG saved as PNG, say) has the digest of its original."""
    from cxr_gan.data.images import read_native_gray

    pixels = read_native_gray(path)
    return hashlib.sha256(f"{pixels.shape}".encode() + pixels.tobytes()).hexdigest()


def check_folder_images(folder: str, data: str, test: Iterable[str],
                        validation: Iterable[str]) -> int:
    """Refuses a folder of GAN images that holds any of the run's test or validation images
    (by decoded pixels); returns how many images were compared."""
    from cxr_gan.io import list_images

    root = datasets.base_dir(data)
    real = {}
    for relative in [*test, *validation]:
        real.setdefault(pixel_digest(root / relative), relative)
    images = list_images(folder)
    found = [(path, real[d]) for path, d in ((p, pixel_digest(p)) for p in images) if d in real]
    if found:
        listed = "; ".join(f"{path.name} = {original}" for path, original in found[:5])
        raise GeneratorLeakError(
            f"--gan-images {folder} holds {len(found)} of this run's test or validation images "
            f"({listed}{'; ...' if len(found) > 5 else ''}): they would be trained on. Remove "
            "them, or generate a clean folder with train_gan.py generate.")
    return len(images)


def check_provenance(provenance: dict, gan_images: str | None) -> None:
    """Refuses a provenance that disagrees with what it describes: generated files changed
    since they were written (their recorded digest), or a generator run folder whose manifest
    lists other training files than the provenance does."""
    from cxr_gan.gan.generate import folder_digest, generator_provenance

    recorded = provenance.get("files_sha256")
    if gan_images and recorded and folder_digest(gan_images) != recorded:
        raise GeneratorLeakError(
            f"The files of --gan-images {gan_images} changed since train_gan.py generate wrote "
            "them (an image added, removed or altered: their digest differs from the one in "
            "provenance.json). Generate a clean folder.")
    run = provenance.get("run")
    if gan_images and run and (Path(run) / "manifest.csv").is_file():
        from_run = generator_provenance(Path(run) / "generator.keras")
        if from_run.get("training_files") is not None and \
                sorted(from_run["training_files"]) != sorted(provenance["training_files"] or []):
            raise GeneratorLeakError(
                f"provenance.json of {gan_images} lists {provenance.get('training_images')} "
                f"training images; the generator's run folder {run} lists "
                f"{from_run['training_images']} in its manifest.csv. One of them was edited: "
                "generate the images again from that run's generator.")


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
        parts: Its split (``datasets.split_records``).

    Raises:
        GeneratorLeakError: The generator learned from a test or validation image of the run.
    """
    if not uses_generator(config.method):
        return None
    provenance = read_provenance(config.generator, config.gan_images)
    test = [r.path for r in parts["test"]]
    held = datasets.validation_paths(parts["train"], [config.seed], config.validation_fraction)
    compared = None
    if config.gan_images:  # The images themselves, whatever their provenance says.
        compared = check_folder_images(config.gan_images, config.data, test, sorted(held))
    if not provenance.get("training_files"):
        return {**_unknown(provenance), "gan_images_compared": compared}
    check_provenance(provenance, config.gan_images)
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
    run, images = provenance["run"], provenance.get("images")
    return {"path": recorded_path(provenance["path"]),
            "images": None if images is None else recorded_path(images),
            "run": None if run is None else recorded_path(run), "split": provenance["split"],
            "split_seed": provenance["split_seed"],
            "validation_seeds": provenance.get("validation_seeds"),
            "training_images": provenance["training_images"], **found,
            "gan_images_compared": compared,
            "gan_images_compared_by": "decoded pixels" if compared is not None else None}
