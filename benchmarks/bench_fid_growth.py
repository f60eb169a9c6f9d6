"""How FID's costs grow with the number of images N, one N a process (peak memory is its own).

    python benchmarks/bench_fid_growth.py --n 500 [--json FILE]

For N random 224x224 gray images held as Pillow images (as ``FeatureExtractor.from_files``
holds a folder's images), times: the features (resize to 299, Inception to 768-d and
2048-d, batch 32, after one warm-up batch); the statistics (mean, covariance) at d = 2048;
the Fréchet distance at d = 768 and 2048 (independent of N); and KID at d = 2048 with the
default 100 subsets of min(1000, N). Peak resident memory of the process at the end. The last
line is ``key=value`` pairs.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from common import append_records, key_values  # noqa: E402


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, required=True, help="number of images")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    from PIL import Image

    from cxr_gan.fid.distances import frechet_distance, kid, statistics
    from cxr_gan.fid.features import FeatureExtractor

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (224, 224), dtype=np.uint8), "L")
              for _ in range(args.n)]
    extractor = FeatureExtractor()
    extractor.from_images(images[:32])  # Warm-up: graph build.
    features = {}
    features_s = _seconds(lambda: features.update(extractor.from_images(images)))
    f2048 = features["f2048"].astype(np.float64)
    stats_s = _seconds(lambda: statistics(f2048))
    mu, sigma = statistics(f2048)
    other = f2048 + rng.normal(0, 0.01, f2048.shape)
    mu2, sigma2 = statistics(other)
    frechet_2048_s = _seconds(lambda: frechet_distance(mu, sigma, mu2, sigma2))
    mu768, sigma768 = statistics(features["f768"].astype(np.float64))
    frechet_768_s = _seconds(lambda: frechet_distance(mu768, sigma768, mu768 + 0.01, sigma768))
    kid_s = _seconds(lambda: kid(f2048, other))
    record = {
        "n_images": args.n, "features_s": features_s, "images_per_s": args.n / features_s,
        "statistics_2048_s": stats_s, "frechet_768_s": frechet_768_s,
        "frechet_2048_s": frechet_2048_s, "kid_2048_s": kid_s,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }
    append_records(args.json, [record])
    print(key_values(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
