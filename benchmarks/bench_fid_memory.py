#!/usr/bin/env python3
"""Peak memory of `evaluate.py fid` on large images: bounded, whatever the number of files.

    python benchmarks/bench_fid_memory.py --side 9400 --counts 2 6

Writes `--counts` sets of gray PNGs of `--side` x `--side` pixels (smooth gradients with noise,
just under Pillow's decompression-bomb limit at 9400), then measures the peak resident memory
of `evaluate.py fid` with 2 small images as the real side and each set as the fake side, in a
watcher process. Streaming decodes one file at a time: the peak should not grow with the
count. Prints one JSON line a count and appends it to benchmarks/results/fid-memory.jsonl.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from cxr_gan.machine import cpu_description
from run_benchmarks import measure_peak_rss  # A sibling script: run this file as a script.

REPO = Path(__file__).resolve().parents[1]


def write_images(folder: Path, count: int, side: int) -> None:
    folder.mkdir(parents=True)
    ramp = np.linspace(0, 200, side, dtype=np.float32)
    for i in range(count):
        rng = np.random.default_rng(i)
        image = (ramp[None, :] * 0.5 + ramp[:, None] * 0.5).astype(np.uint8)
        image[:: 97, :] = rng.integers(0, 256, image[:: 97, :].shape, dtype=np.uint8)
        Image.fromarray(image).save(folder / f"big{i}.png", compress_level=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=9400)
    parser.add_argument("--counts", type=int, nargs="+", default=[2, 6])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "small"
        write_images(small, 2, 64)
        for count in args.counts:
            big = Path(tmp) / f"big{count}"
            write_images(big, count, args.side)
            peak, wall = measure_peak_rss([sys.executable, "evaluate.py", "fid", "--real",
                                           str(small), "--fake", str(big)])
            record = {"images": count, "side_px": args.side, "peak_rss_gib": round(peak, 3),
                      "wall_s": round(wall, 1), "cpu": cpu_description(),
                      "command": f"evaluate.py fid --real 2x64px --fake {count}x{args.side}px"}
            print(json.dumps(record), flush=True)
            with open(REPO / "benchmarks" / "results" / "fid-memory.jsonl", "a") as handle:
                handle.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
