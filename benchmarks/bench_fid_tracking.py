"""Seconds per 1000 images of FID features in a fresh process, with the settings a training
process has switched on (op determinism, Grappler's remapper off) or not, one process each.

    python benchmarks/bench_fid_tracking.py --generator runs/x/generator.keras

Each mode generates 320 images (``--images``) from ``--generator`` (as ``FIDTracker`` does)
and extracts their features three times after one warm-up batch; the median is reported. Compare with the
``fid_seconds`` column of a run's ``history.csv`` (``train_gan.py --fid-every 1 --fid-images
320``): that is the same work inside the training process.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

MODES = ("plain", "determinism", "remapper-off", "determinism+remapper-off")


def measure(generator: str, mode: str, n_images: int = 320) -> float:
    import numpy as np
    from PIL import Image

    from cxr_gan.backend import set_determinism, skip_failing_remapper

    if "remapper-off" in mode:
        skip_failing_remapper()
    if "determinism" in mode:
        set_determinism(0, True)
    import keras

    from cxr_gan.fid.features import FeatureExtractor
    from cxr_gan.gan.generate import generate_uint8
    from cxr_gan.io import default_cache_dir

    model = keras.models.load_model(generator)
    extractor = FeatureExtractor(cache_dir=default_cache_dir() / "fid")
    extractor.from_images([Image.fromarray(im, mode="L")
                           for im in generate_uint8(model, 32, 1)], verbose=0)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        images = generate_uint8(model, n_images, 0)
        extractor.from_images([Image.fromarray(im, mode="L") for im in images], verbose=0)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) / n_images * 1000


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generator", required=True)
    parser.add_argument("--images", type=int, default=320,
                        help="generated images a measurement scores (default: 320)")
    parser.add_argument("--mode", choices=MODES, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.mode:
        seconds = measure(args.generator, args.mode, args.images)
        print(f"{args.mode}: {seconds:.1f} s per 1000 images ({args.images} scored)", flush=True)
        return 0
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    for mode in MODES:
        subprocess.run([sys.executable, __file__, "--generator", args.generator, "--mode", mode,
                        "--images", str(args.images)], check=True, env=env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
