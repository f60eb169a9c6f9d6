"""What an accelerator run returns -> 8-bit PNGs with provenance -> FID, PRDC, memorisation.

``benchmarks/gpu_run.py`` returns ``runs.tar.gz`` (each run's ``config.json``, ``history.csv``,
``manifest.csv``, ``timings.json``, ``images_meta.json``; ``plan_result.json``) and the generated
images as uint8 ``.npy`` parts. ``score_returned`` unpacks them into ``OUT/RUN/``, writes the
images as ``generated/gen-sSEED-NNNNNN.png`` with a ``provenance.json`` naming the run's split and
its training files (so the classifier's leak guard accepts or refuses them like any generated
folder), and scores them against the run's own training images, read from the local copy of
the data (checked against the run's data digest): FID-768, FID-2048, KID, precision, recall,
density, coverage (``fid.json``) and the memorisation check (``memorization/``).
"""

from __future__ import annotations

import shutil
import sys
import tarfile
from pathlib import Path

import numpy as np

from cxr_gan.cli import BadFileError, MissingInputError
from cxr_gan.io import read_json, write_json

TARBALL = "runs.tar.gz"


def unpack(returned: Path, out: Path) -> list[dict]:
    """Extracts the small files into ``out`` (tar's "data" filter: no links out, no absolute
    paths); returns ``plan_result.json``."""
    tarball = returned / TARBALL
    if not tarball.is_file():
        raise MissingInputError(f"{tarball} not found: --returned must be the folder the "
                                "device call brought back (files_at).")
    out.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(tarball) as tar:
            tar.extractall(out, filter="data")
    except (tarfile.TarError, OSError) as error:
        raise BadFileError(f"{tarball} cannot be unpacked ({error}): it was damaged in "
                           "transfer; run the plan again.") from None
    return read_json(out / "plan_result.json")


def returned_images(returned: Path, result: dict) -> np.ndarray | None:
    """The run's images from its parts, in order (None when none came back)."""
    parts = [np.load(returned / part["file"]) for part in result.get("image_parts", [])]
    return np.concatenate(parts) if parts else None


def training_files(run_dir: Path, data: Path) -> list[Path]:
    """The run's training images in the local data folder (its manifest's used rows), after
    checking they are the files it trained on (the run's data digest)."""
    import csv

    from cxr_gan.data import kermany

    with open(run_dir / "manifest.csv", newline="", encoding="utf-8") as handle:
        used = [row["path"] for row in csv.DictReader(handle) if row["status"] == "used"]
    missing = [p for p in used if not (data / p).is_file()]
    if missing:
        raise MissingInputError(f"{len(missing)} training images of {run_dir.name} are not in "
                                f"{data} (first: {missing[0]}): give the data folder the pack was "
                                "made from (--data).")
    digest = read_json(run_dir / "config.json").get("data_digest")
    if digest and kermany.files_digest(data, used) != digest:
        raise BadFileError(f"The files under {data} differ from those {run_dir.name} trained on "
                           "(data digest): give the data folder the pack was made from.")
    return [data / p for p in used]


def write_generated(images: np.ndarray, run_dir: Path, data: Path, seed: int) -> Path:
    """The images as PNGs in ``run_dir/generated`` with the provenance the leak guard reads."""
    from cxr_gan.gan.generate import PROVENANCE_NAME, generator_provenance, write_pngs

    folder = run_dir / "generated"
    if folder.exists():
        shutil.rmtree(folder)
    write_pngs(images, folder, seed)
    provenance = generator_provenance(run_dir / "generator.keras")  # Reads config + manifest.
    provenance.update({"path": f"returned by the accelerator: {run_dir.name}", "data": str(data),
                       "generator_sha256": None, "seeds": {str(seed): int(len(images))},
                       "stretch": False})
    write_json(folder / PROVENANCE_NAME, provenance)
    return folder


def score_run(returned: Path, result: dict, data: Path, out: Path, extractor) -> dict:
    """One returned run: PNGs, FID/PRDC and memorisation; the run's summary row."""
    from cxr_gan.fid.memorization import memorization_check
    from cxr_gan.fid.report import score_against_files

    run_dir = out / result["name"]
    row = {"run": result["name"], "preset": result.get("preset"),
           "timings": result.get("timings"), "skipped": result.get("skipped")}
    images = returned_images(returned, result)
    if images is None:
        return {**row, "scored": False}
    meta = read_json(run_dir / "images_meta.json")
    folder = write_generated(images, run_dir, data, meta["seed"])
    real_files = training_files(run_dir, data)
    scores = score_against_files(extractor, real_files, folder,
                                 f"the run's {len(real_files)} training images under {data}")
    scores.update({"generator": meta["generator"], "global_step": meta["global_step"]})
    write_json(run_dir / "fid.json", scores)
    memo = memorization_check(real_files, folder, run_dir / "memorization", None, 1.0, 0,
                              extractor)
    return {**row, "scored": True, "images_dropped": result.get("images_dropped", 0),
            **{k: scores.get(k) for k in ("fid_768", "fid_2048", "kid_mean", "precision",
                                          "recall", "n_real", "n_fake")},
            "copies": memo["copies"], "near_copies": memo["near_copies"]}


def score_returned(returned: Path | str, data: Path | str, out: Path | str,
                   extractor=None) -> list[dict]:
    """Unpacks and scores every run an accelerator plan returned; writes ``summary.json``."""
    from cxr_gan.fid.features import FeatureExtractor

    returned, data, out = Path(returned), Path(data), Path(out)
    results = unpack(returned, out)
    extractor = extractor or FeatureExtractor()
    rows = []
    for index, result in enumerate(results):
        print(f"[{index + 1}/{len(results)}] {result['name']}", file=sys.stderr, flush=True)
        rows.append(score_run(returned, result, data, out, extractor))
    write_json(out / "summary.json", rows)
    return rows


def format_summary(rows: list[dict]) -> str:
    lines = ["| run | updates | median s/update | FID-768 | FID-2048 | KID | precision | "
             "recall | copies | near-copies |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        timing = row.get("timings") or {}
        if not row.get("scored"):
            lines.append(f"| {row['run']} | {timing.get('updates_done', '-')} | - | "
                         f"not scored ({row.get('skipped') or 'no images returned'}) | | | | | | |")
            continue
        median = timing.get("median_s_per_update_after_epoch_1")

        def number(key, digits=3):
            value = row.get(key)
            return "-" if value is None else f"{value:.{digits}f}"

        lines.append(f"| {row['run']} | {timing.get('updates_done')} | "
                     f"{'-' if median is None else f'{median:.4f}'} | {number('fid_768')} | "
                     f"{number('fid_2048', 1)} | {number('kid_mean', 4)} | {number('precision')} | "
                     f"{number('recall')} | {row['copies']} | {row['near_copies']} |")
    return "\n".join(lines)
