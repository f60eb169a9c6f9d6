"""Real-data FID floors: what a perfect generator could score on this data.

    python experiments/fid_floors.py --data ../shared/data/chest_xray --out experiments/fid_floors.md

Four pairs, each through the same network and preprocessing as `evaluate.py fid`:
1. train/NORMAL, one random half vs the other (seed 0): sampling noise alone;
2. train/NORMAL vs test/NORMAL: another set of the same class;
3. train/NORMAL vs 1000 random train/PNEUMONIA (seed 0): the other class;
4. one half of train/NORMAL vs the other half passed through 128x128 (bilinear) and back:
   what the GAN's resolution alone costs.
A GAN cannot beat floor 1; the paper's FID 1.289 is readable only beside these. Each pair
also gets precision, recall (k = 3), density and coverage (k = 5) on the 2048-d features, the
first set as "real", the second as "fake": the values a generator's figures compare with.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from cxr_gan.machine import cpu_description  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/chest_xray")
    parser.add_argument("--out", default="experiments/fid_floors.md")
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args()
    from cxr_gan.io import default_cache_dir
    from cxr_gan.fid.features import FeatureExtractor
    from cxr_gan.fid.metrics import compute_all
    from cxr_gan.io import list_images

    data = Path(args.data)
    load = os.getloadavg()[0]
    extractor = FeatureExtractor(cache_dir=Path(args.cache_dir or default_cache_dir() / "fid"))
    start = time.perf_counter()
    normal, _ = extractor.folder_statistics(data / "train" / "NORMAL")
    test_normal, _ = extractor.folder_statistics(data / "test" / "NORMAL")
    rng = np.random.default_rng(0)
    order = rng.permutation(len(normal["f768"]))
    half_a, half_b = order[: len(order) // 2], order[len(order) // 2:]
    take = lambda feats, idx: {k: v[idx] for k, v in feats.items()}  # noqa: E731
    pneumonia_files = list_images(data / "train" / "PNEUMONIA")
    chosen = sorted(rng.choice(len(pneumonia_files), 1000, replace=False))
    pneumonia, _, _ = extractor.from_files([pneumonia_files[i] for i in chosen])
    normal_files = list_images(data / "train" / "NORMAL")
    round_trip = []
    for i in half_b:
        with Image.open(normal_files[i]) as image:
            gray = image.convert("L")
            size = gray.size
            round_trip.append(gray.resize((128, 128), Image.Resampling.BILINEAR)
                              .resize(size, Image.Resampling.BILINEAR))
    low_res = extractor.from_images(round_trip)
    def scores(first, second):
        return compute_all(first, second)

    rows = [
        ("train/NORMAL half vs other half", len(half_a), len(half_b),
         scores(take(normal, half_a), take(normal, half_b))),
        ("train/NORMAL vs test/NORMAL", len(order), len(test_normal["f768"]),
         scores(normal, test_normal)),
        ("train/NORMAL vs 1000 train/PNEUMONIA", len(order), 1000, scores(normal, pneumonia)),
        ("train/NORMAL half vs other half through 128x128", len(half_a), len(half_b),
         scores(take(normal, half_a), low_res)),
    ]
    seconds = time.perf_counter() - start
    lines = [
        "# Real-data FID floors",
        "",
        f"Command: `python experiments/fid_floors.py --data {args.data}`; machine: "
        f"{cpu_description()}; "
        f"{seconds:.0f} s (1-min load average at the start {load:.1f}). Data: {args.data} (Kermany, the 224x224 copies), official folders, "
        "seed 0 for the halves and the PNEUMONIA sample. Network: inception-2015-12-05 "
        f"(sha256 {extractor.weights_sha256[:16]}...), preprocessing pil-bilinear.",
        "",
        "| pair | n1 | n2 | FID-768 | FID-2048 | KID (2048-d) | precision | recall | density "
        "| coverage |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, n1, n2, r in rows:
        lines.append(f"| {name} | {n1} | {n2} | {r['fid_768']:.3f} | {r['fid_2048']:.1f} | "
                     f"{r['kid_mean']:.4f} +- {r['kid_std']:.4f} | {r['precision']:.3f} | "
                     f"{r['recall']:.3f} | {r['density']:.3f} | {r['coverage']:.3f} |")
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
