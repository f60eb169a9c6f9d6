#!/usr/bin/env python3
"""What an accelerator run returns -> 8-bit PNGs with provenance -> FID, PRDC, memorisation.

    python tools/accelerator/returned.py --returned FILES_AT --data ../shared/data/chest_xray \\
        --out results/gpu-RUN

``gpu_run.py`` returns ``runs.tar.gz`` (each run's ``config.json``, ``history.csv``,
``manifest.csv``, ``timings.json``, ``images_meta.json``; ``plan_result.json``) and the generated
images as uint8 ``.npy`` parts. ``score_returned`` unpacks them into ``OUT/RUN/``, writes the
images as ``generated/gen-sSEED-NNNNNN.png`` with a ``provenance.json`` naming the run's split and
its training files (so the classifier's leak guard accepts or refuses them like any generated
folder), and scores them against the run's own training images, read from the local copy of
the data (checked against the run's data digest): ``cxr_gan.fid.run_scores.score_run``.

What came back is treated as untrusted input: run names and part files must be plain names
(no separator, no ``..``) and stay inside ``--out`` and ``--returned``; the archive is extracted
with limits on its members' count and size into a temporary folder that is removed on any
error; every part is checked (uint8, shape (n, s, s), its recorded count) before use.
"""

from __future__ import annotations

import re
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from cxr_gan.cli import BadFileError, MissingInputError, UserError
from cxr_gan.io import read_json, write_json

TARBALL = "runs.tar.gz"
MAX_MEMBERS = 1000
MAX_MEMBER_BYTES = 64 * 2**20
MAX_TOTAL_BYTES = 256 * 2**20
PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def plain_name(value, what: str, source: Path) -> str:
    """``value`` if it is a plain file name (letters, digits, '.', '_', '-'; no separator, no
    '..'), else one message naming ``source``."""
    if not isinstance(value, str) or not PLAIN_NAME.match(value) or ".." in value:
        raise BadFileError(f"{source}: {what} {value!r} is not a plain name (letters, digits, "
                           "'.', '_', '-'): the returned files are not what gpu_run.py writes; "
                           "run the plan again.")
    return value


def inside(root: Path, name: str) -> Path:
    """``root / name``, required to resolve inside ``root``."""
    path = (root / name).resolve()
    if root.resolve() not in path.parents:
        raise BadFileError(f"{name!r} leads outside {root}: refused.")
    return path


def _checked_members(tar: tarfile.TarFile, tarball: Path) -> list[tarfile.TarInfo]:
    members, total = [], 0
    for member in tar:
        members.append(member)
        total += member.size
        if len(members) > MAX_MEMBERS or member.size > MAX_MEMBER_BYTES \
                or total > MAX_TOTAL_BYTES:
            raise BadFileError(
                f"{tarball} holds more than gpu_run.py returns (at most {MAX_MEMBERS} members, "
                f"{MAX_MEMBER_BYTES // 2**20} MiB each, {MAX_TOTAL_BYTES // 2**20} MiB in all): "
                "refused unextracted; run the plan again.")
    return members


def unpack(returned: Path, out: Path) -> list[dict]:
    """Extracts the small files into ``out`` (via a temporary folder, tar's "data" filter, member
    limits); returns ``plan_result.json``, checked."""
    tarball = returned / TARBALL
    if not tarball.is_file():
        raise MissingInputError(f"{tarball} not found: --returned must be the folder the "
                                "device call brought back (files_at).")
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=out))
    try:
        try:
            with tarfile.open(tarball) as tar:
                tar.extractall(staging, members=_checked_members(tar, tarball), filter="data")
        except (tarfile.TarError, OSError, EOFError) as error:
            raise BadFileError(f"{tarball} cannot be unpacked ({error}): it was damaged in "
                               "transfer; run the plan again.") from None
        results = _plan_result(staging / "plan_result.json", tarball)
        for item in staging.iterdir():
            target = out / item.name
            if target.exists():
                raise UserError(f"{target} exists: choose a new --out (results are never "
                                "overwritten).")
            item.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return results


def _plan_result(path: Path, tarball: Path) -> list[dict]:
    if not path.is_file():
        raise BadFileError(f"{tarball} holds no plan_result.json: run the plan again.")
    results = read_json(path)
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise BadFileError(f"plan_result.json in {tarball} is not a list of runs: run the plan "
                           "again.")
    for result in results:
        plain_name(result.get("name"), "run name", tarball)
        parts = result.get("image_parts", [])
        if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
            raise BadFileError(f"plan_result.json in {tarball}: image_parts of "
                               f"{result['name']} is not a list of parts.")
        for part in parts:
            plain_name(part.get("file"), "part file", tarball)
            if not isinstance(part.get("count"), int) or part["count"] < 0:
                raise BadFileError(f"plan_result.json in {tarball}: part {part['file']} has no "
                                   "image count.")
    return results


def load_part(returned: Path, part: dict) -> np.ndarray:
    """One image part: uint8 ``(count, s, s)``, or one message naming the file."""
    path = inside(returned, part["file"])
    if not path.is_file():
        raise MissingInputError(f"{path} not found: plan_result.json lists it; copy every file "
                                "the device call returned into --returned.")
    try:
        images = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise BadFileError(f"{path} is not a plain .npy array ({error}): run the plan "
                           "again.") from None
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise BadFileError(f"{path} holds {images.dtype} {images.shape}; gpu_run.py returns "
                           "uint8 images of shape (n, size, size): run the plan again.")
    if len(images) != part["count"]:
        raise BadFileError(f"{path} holds {len(images)} images; plan_result.json says "
                           f"{part['count']}: the files do not belong together.")
    return images


def returned_images(returned: Path, result: dict) -> np.ndarray | None:
    """The run's images from its parts, in order (None when none came back)."""
    parts = [load_part(returned, part) for part in result.get("image_parts", [])]
    if len({p.shape[1:] for p in parts}) > 1:
        raise BadFileError(f"The image parts of {result['name']} have different sizes.")
    return np.concatenate(parts) if parts else None


def write_generated(images: np.ndarray, run_dir: Path, data: Path, seed: int) -> Path:
    """The images as PNGs in ``run_dir/generated`` with the provenance the leak guard reads."""
    from cxr_gan.gan.generate import (PROVENANCE_NAME, generator_provenance, seal_folder,
                                      write_pngs)

    folder = run_dir / "generated"
    write_pngs(images, folder, seed)
    provenance = generator_provenance(run_dir / "generator.keras")  # Reads config + manifest.
    provenance.update({"path": f"returned by the accelerator: {run_dir.name}", "data": str(data),
                       "generator_sha256": None, "seeds": {str(seed): int(len(images))},
                       "stretch": False})
    write_json(folder / PROVENANCE_NAME, provenance)
    seal_folder(folder)
    return folder


def score_run(returned: Path, result: dict, data: Path, out: Path, extractor) -> dict:
    """One returned run: PNGs, FID/PRDC and memorisation; the run's summary row."""
    from cxr_gan.fid import run_scores

    run_dir = inside(out, result["name"])
    row = {"run": result["name"], "preset": result.get("preset"),
           "timings": result.get("timings"), "skipped": result.get("skipped")}
    images = returned_images(returned, result)
    if images is None:
        return {**row, "scored": False}
    meta = read_json(run_dir / "images_meta.json")
    folder = write_generated(images, run_dir, data, int(meta["seed"]))
    scores = run_scores.score_run(run_dir, folder, run_dir, data, holdout="train-share",
                                  extractor=extractor)
    scores.update({"generator": meta["generator"], "global_step": meta["global_step"]})
    write_json(run_dir / "fid.json", scores)
    return {**row, "scored": True, "images_dropped": result.get("images_dropped", 0),
            **{k: scores.get(k) for k in ("fid_768", "fid_2048", "kid_mean", "precision",
                                          "recall", "n_real", "n_fake", "copies",
                                          "near_copies")}}


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


def _number(row: dict, key: str, digits: int = 3) -> str:
    value = row.get(key)
    return "-" if value is None else f"{value:.{digits}f}"


def format_summary(rows: list[dict]) -> str:
    from cxr_gan.io import markdown_table

    table = []
    for row in rows:
        timing = row.get("timings") or {}
        if not row.get("scored"):
            table.append([row["run"], timing.get("updates_done", "-"), "-",
                          f"not scored ({row.get('skipped') or 'no images returned'})",
                          "", "", "", "", "", ""])
            continue
        median = timing.get("median_s_per_update_after_epoch_1")
        table.append([row["run"], timing.get("updates_done"),
                      "-" if median is None else f"{median:.4f}", _number(row, "fid_768"),
                      _number(row, "fid_2048", 1), _number(row, "kid_mean", 4),
                      _number(row, "precision"), _number(row, "recall"), row["copies"],
                      row["near_copies"]])
    return markdown_table(("run", "updates", "median s/update", "FID-768", "FID-2048", "KID",
                           "precision", "recall", "copies", "near-copies"), table,
                          align="l" + "r" * 9)


def main(argv: list[str]) -> int:
    from cxr_gan import cli, flags

    parser = flags.parser(__doc__)
    parser.add_argument("--returned", required=True, metavar="DIR",
                        help="the folder the device call returned (runs.tar.gz + image parts)")
    flags.add(parser, "--out", "--fid-weights", "--preprocessing", "--cache-dir", "--debug",
              out="folder for each run's PNGs, provenance, fid.json, memorisation and "
                  "summary.json (never overwritten)")
    parser.add_argument("--data", required=True, metavar="DIR",
                        help="the data folder the pack was made from (the runs' training "
                             "images are read from it, checked by digest)")
    args = parser.parse_args(argv)
    cli.load_backend()
    from cxr_gan.fid.features import FeatureExtractor
    from cxr_gan.io import cache_dir

    if (Path(args.out) / "summary.json").exists():
        raise UserError(f"{args.out} already holds scored results: choose a new --out.")
    extractor = FeatureExtractor(args.fid_weights, cache_dir(args.cache_dir) / "fid",
                                 args.preprocessing)
    print(format_summary(score_returned(args.returned, args.data, args.out, extractor)))
    return 0


if __name__ == "__main__":
    from cxr_gan import cli

    cli.quiet_backend_logs()
    sys.exit(cli.run_script(main))
