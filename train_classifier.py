#!/usr/bin/env python3
"""Train the paper's classifier (Fig. 7) with one augmentation method, or several in a row.

    python train_classifier.py --augment none --out runs/cls              # synthetic demo data
    python train_classifier.py --data ~/chest_xray --split pooled --augment flip --out runs/flip
    python train_classifier.py --data ~/chest_xray --augment all --seeds 0,1,2 \
        --generator runs/gan/generator.keras --out runs/comparison

With several methods or seeds, each run goes to OUT/METHOD-sSEED/.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from cxr_gan.classifier.augment import METHODS  # noqa: E402
from cxr_gan.data.kermany import SPLITS  # noqa: E402


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None,
                        help="Kermany data root; omitted: the embedded synthetic phantoms")
    parser.add_argument("--augment", default="none",
                        help=f"method, comma-separated methods, or 'all': {', '.join(METHODS)}")
    parser.add_argument("--split", choices=SPLITS, default="official")
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", default=None, help="comma-separated seeds (overrides --seed)")
    parser.add_argument("--generator", default=None, help="generator.keras for gan methods")
    parser.add_argument("--gan-images", default=None, help="folder of generated PNGs instead")
    parser.add_argument("--epochs", type=int, default=20, help="at most this many epochs")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--on-the-fly", action="store_true",
                        help="apply the tf.image method to every training image while training "
                             "(flip with probability 1/2) instead of topping up NORMAL; none and "
                             "gan methods keep the top-up protocol")
    parser.add_argument("--out", required=True, help="run directory (or parent, for several)")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=2)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from cxr_gan.classifier.train import run_many

    run_many(data=args.data, methods=args.augment, seeds=args.seeds or str(args.seed),
             split=args.split, split_seed=args.split_seed, generator=args.generator,
             gan_images=args.gan_images, epochs=args.epochs, image_size=args.image_size,
             batch_size=args.batch_size, on_the_fly=args.on_the_fly, out=args.out,
             verbose=args.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
