"""After a GPU run: generated images as uint8 arrays, and the run's small files, into $OUT.

The device machine returns at most 8 files of 16 MiB, so images travel as raw uint8 ``.npy``
parts of at most 900 images of 128x128 (14.7 MB) and FID is computed on the CPU machine.

    python benchmarks/gpu_export.py RUN_DIR OUT_DIR --num-images 2534 --seed 0
"""

from __future__ import annotations

import argparse
import json
import tarfile
import time
from pathlib import Path

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run_dir")
    parser.add_argument("out_dir")
    parser.add_argument("--num-images", type=int, default=2534)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--part-size", type=int, default=900)
    args = parser.parse_args()
    import keras

    from cxr_gan.gan.generate import generate_uint8
    from cxr_gan.gan.train import restore_generator

    run_dir, out_dir = Path(args.run_dir), Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = run_dir / "generator.keras"
    if final.is_file():
        generator, source = keras.models.load_model(final, compile=False), str(final)
    else:
        generator, step = restore_generator(run_dir)
        source = f"checkpoint at global step {step}"
    start = time.perf_counter()
    images = generate_uint8(generator, args.num_images, args.seed, batch_size=256)
    seconds = time.perf_counter() - start
    for part, first in enumerate(range(0, len(images), args.part_size)):
        np.save(out_dir / f"generated_part{part}.npy", images[first:first + args.part_size])
    meta = {"generator": source, "num_images": int(len(images)), "seed": args.seed,
            "shape": list(images.shape), "generation_seconds": seconds,
            "noise": "image i from np.random.default_rng([seed, i]).standard_normal(latent)"}
    (out_dir / "generated_meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    with tarfile.open(out_dir / "run_files.tar.gz", "w:gz") as tar:
        for name in ("config.json", "history.csv", "data_report.json", "figures"):
            if (run_dir / name).exists():
                tar.add(run_dir / name, arcname=name)
    print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
