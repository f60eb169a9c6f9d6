"""KID's seconds with the sets' kernel matrices computed once against each subset's own
kernels (the way before), at the set sizes FID tracking and scoring use.

    python benchmarks/bench_kid.py [--json FILE]

Random non-negative 2048-d features (Gamma(0.5, 0.5), like Inception's pool3) of N generated
against 1341 real (train/NORMAL), KID's defaults (100 subsets of min(1000, N)); the median of
three calls of each way, both ways in this one process, and the relative difference of
their KIDs. One ``key=value`` line per size.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from common import append_records, key_values

SIZES = (320, 500, 1000, 2534)
N_REAL = 1341


def _median_seconds(fn, repeats: int = 3):
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES),
                        help="generated set sizes (default: %(default)s)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    from cxr_gan.fid import distances
    from cxr_gan.machine import cpu_description

    rng = np.random.default_rng(0)
    real = rng.gamma(0.5, 0.5, (N_REAL, 2048))
    records = []
    for n in args.sizes:
        fake = rng.gamma(0.55, 0.5, (n, 2048))
        once_s, once = _median_seconds(lambda: distances.kid(real, fake))
        cap = distances.KID_KERNEL_ELEMENTS
        distances.KID_KERNEL_ELEMENTS = 0  # Each subset's own kernels.
        try:
            each_s, each = _median_seconds(lambda: distances.kid(real, fake))
        finally:
            distances.KID_KERNEL_ELEMENTS = cap
        record = {"section": "kid", "machine": cpu_description(), "n_fake": n,
                  "n_real": N_REAL, "kernels_once_s": once_s, "each_subset_s": each_s,
                  "speed_up": each_s / once_s,
                  "relative_difference": abs(once[0] - each[0]) / abs(each[0])}
        records.append(record)
        print(key_values(record), flush=True)
    append_records(args.json, records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
