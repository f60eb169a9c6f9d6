"""Generated images of a GAN run -> scores against the run's own training files.

A GAN run's ``manifest.csv`` lists every training image it used; its ``config.json`` names the
data, split and class. ``score_run`` compares a folder of generated images with exactly those
files (FID-768, FID-2048, KID, precision, recall, density, coverage: ``fid.json``) and runs the
memorisation check with a hold-out of real images of the class that the GAN never saw (default:
the split's test images of the class; ``memorization/``). Reads the run's files only: nothing
of the GAN code is needed, so this module stays below ``cxr_gan.gan``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

from cxr_gan.cli import BadFileError, MissingInputError
from cxr_gan.io import list_images, read_json, recorded_path, write_json

HOLDOUTS = ("test", "train-share")
FIRST_SHOWN = 16


def training_files(run_dir: Path | str, data: Path | str | None = None) -> list[Path]:
    """The run's training images (its manifest's used rows) under ``data`` (default: the
    run's own data folder), after checking they are the files it trained on (its data digest).

    Raises:
        MissingInputError: The manifest or a training image is missing.
        BadFileError: The files differ from those the run trained on.
    """
    from cxr_gan.data import datasets

    run_dir = Path(run_dir)
    config = _run_config(run_dir)
    data = datasets.base_dir(data if data is not None else config["data"])
    manifest = run_dir / "manifest.csv"
    if not manifest.is_file():
        raise MissingInputError(f"{manifest} not found: --run must be a train_gan.py run folder.")
    with open(manifest, newline="", encoding="utf-8") as handle:
        used = [row["path"] for row in csv.DictReader(handle) if row.get("status") == "used"]
    missing = [p for p in used if not (data / p).is_file()]
    if missing:
        raise MissingInputError(f"{len(missing)} training images of {run_dir.name} are not in "
                                f"{data} (first: {missing[0]}): give the data folder the run was "
                                "trained on (--data).")
    digest = config.get("data_digest")
    if digest and datasets.files_digest(data, used) != digest:
        raise BadFileError(f"The files under {data} differ from those {run_dir.name} trained on "
                           "(data digest): give the data folder the run was trained on.")
    return [data / p for p in used]


def holdout_files(run_dir: Path | str, data: Path | str | None = None) -> list[Path]:
    """Real images of the run's class that it never saw: its split's test images of the class."""
    from cxr_gan.data import datasets

    config = _run_config(Path(run_dir))
    data = Path(data if data is not None else config["data"])
    parts = datasets.split_records(datasets.scan(data, config.get("patient_pattern")),
                                   config["split"], seed=config.get("split_seed", 0))
    data = datasets.base_dir(data)
    return [data / r.path for r in parts["test"] if r.label == config["label"]]


def score_run(run_dir: Path | str, fake: Path | str, out: Path | str,
              data: Path | str | None = None, holdout: str = "test", percentile: float = 1.0,
              seed: int = 0, extractor=None, suffix: str = "") -> dict:
    """Scores ``fake`` against the run's training files; writes ``out/fid{suffix}.json`` and
    ``out/memorization{suffix}/`` (``suffix`` tells several generators' files apart). ``holdout``: ``"test"`` (the split's test images of the class) or
    ``"train-share"`` (a seeded 20 % of the training files, when no test image may be read).

    Returns:
        ``fid.json``'s dict with ``copies`` and ``near_copies`` of the memorisation check.
    """
    from cxr_gan.fid.features import FeatureExtractor
    from cxr_gan.fid.memorization import memorization_check
    from cxr_gan.fid.report import score_against_files

    if holdout not in HOLDOUTS:
        raise ValueError(f"`holdout` must be one of {HOLDOUTS}. Received: {holdout!r}")
    run_dir, out = Path(run_dir), Path(out)
    extractor = extractor or FeatureExtractor()
    train = training_files(run_dir, data)
    held: Sequence[Path] | None = holdout_files(run_dir, data) if holdout == "test" else None
    result = score_against_files(extractor, train, fake,
                                 f"{run_dir.name} training images ({len(train)})")
    memo = memorization_check(train, fake, out / f"memorization{suffix}", held, percentile,
                              seed, extractor)
    result.update({"run": recorded_path(run_dir), "copies": memo["copies"],
                   "near_copies": memo["near_copies"],
                   "memorization_baseline": memo["baseline"]})
    plot_first_generated(fake, _run_config(run_dir), run_dir,
                         out / f"generated-first{FIRST_SHOWN}{suffix}.png")
    write_json(out / f"fid{suffix}.json", result)
    return result


def plot_first_generated(fake: Path | str, config: dict, run_dir: Path, path: Path) -> None:
    """The first ``FIRST_SHOWN`` generated images, in file order, with what made them
    (generated images only: publishable where the data's own images are not)."""
    import numpy as np
    from PIL import Image

    from cxr_gan.plots import plot_generated

    first = list_images(fake)[:FIRST_SHOWN]
    images = np.stack([np.asarray(Image.open(p).convert("L")) for p in first])
    label = " [SYNTHETIC DATA]" if config.get("synthetic") else ""
    preset = config.get("preset", {})
    plot_generated(images, f"{len(first)} generated images of {recorded_path(fake)}{label}",
                   f"generator {recorded_path(run_dir)} | preset "
                   f"{preset.get('name') if isinstance(preset, dict) else preset} | data "
                   f"{config.get('data')} {config.get('split')} train/{config.get('label')}",
                   path)


def _run_config(run_dir: Path) -> dict:
    path = run_dir / "config.json"
    if not path.is_file():
        raise MissingInputError(f"{path} not found: --run must be a train_gan.py run folder.")
    return read_json(path)
