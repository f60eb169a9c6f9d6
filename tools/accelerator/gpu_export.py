"""After a GPU run: its generated images as one uint8 array, with their provenance.

    python tools/accelerator/gpu_export.py RUN_DIR STAGE_DIR --num-images 2534 --seed 0

Samples the run's `generator.keras`, or, for a run the time cap stopped, the newest good
checkpoint's generator; writes `STAGE_DIR/images.npy` (uint8, (n, size, size)) and
`images_meta.json` (source, global step, seed, noise rule, seconds). `tools/accelerator/gpu_run.py`
packs them; `returned.py` turns them back into PNGs and scores them.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("stage_dir")
    parser.add_argument("--num-images", type=int, default=2534)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import keras

    from cxr_gan.gan.generate import generate_uint8
    from cxr_gan.gan.train import restore_generator

    run_dir, stage = Path(args.run_dir), Path(args.stage_dir)
    stage.mkdir(parents=True, exist_ok=True)
    generator, step = restore_generator(run_dir)  # The newest good checkpoint's generator.
    source = f"checkpoint at global step {step}"
    final = run_dir / "generator.keras"
    if final.is_file():
        generator, source = keras.models.load_model(final, compile=False), str(final.name)
    start = time.perf_counter()
    images = generate_uint8(generator, args.num_images, args.seed, batch_size=256)
    seconds = time.perf_counter() - start
    np.save(stage / "images.npy", images)
    meta = {"generator": source, "global_step": int(step), "num_images": int(len(images)),
            "seed": args.seed, "shape": list(images.shape), "generation_seconds": seconds,
            "noise": "image i from np.random.default_rng([seed, i]).standard_normal(latent)",
            "pixels": "round((x + 1) * 127.5) of the channel mean, clipped to 0..255",
            "backend": keras.backend.backend()}
    (stage / "images_meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
