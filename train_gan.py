#!/usr/bin/env python3
"""Train the paper's DCGAN on the NORMAL chest X-rays, or generate images from a trained one.

    python train_gan.py --out runs/demo                       # embedded synthetic demo data
    python train_gan.py --data ~/chest_xray --preset paper-code --out runs/paper-code
    python train_gan.py --out runs/demo --resume              # continue a stopped run
    python train_gan.py generate --generator runs/demo/generator.keras \
        --num-images 2534 --seed 0 --out runs/demo/generated

The backend is Keras's: KERAS_BACKEND=tensorflow (default) or KERAS_BACKEND=jax.
"""

from __future__ import annotations

import argparse
import os
import sys

# Set before TensorFlow loads: oneDNN kernels (2.3x faster DCGAN steps on AVX2 CPUs, see
# BENCHMARKS.md) and quieter logs. Users' own settings win.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from cxr_gan.config import PRESETS  # noqa: E402
from cxr_gan.data.images import RESIZE_FILTERS  # noqa: E402
from cxr_gan.data.kermany import SPLITS  # noqa: E402


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    train = sub.add_parser("train", help="train a GAN (the default command)",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    train.add_argument("--data", default=None,
                       help="Kermany data root holding train/ test/ [val/] with NORMAL/ and "
                            "PNEUMONIA/; omitted: the embedded synthetic phantoms, made in "
                            "$CXR_GAN_CACHE (default ~/.cache/cxr_gan) on first use")
    train.add_argument("--preset", choices=sorted(PRESETS), default=None,
                       help="architecture: 'paper' (the paper's text), 'paper-code' (the "
                            "authors' DCGAN.py), 'demo' (small, CPU); default: demo without "
                            "--data, paper with it")
    train.add_argument("--epochs", type=int, default=None,
                       help="epochs to train to (default: the preset's; an epoch is "
                            "floor(n_images / batch) generator updates)")
    train.add_argument("--batch-size", type=int, default=None,
                       help="images per generator update (default: the preset's, 128 for the "
                            "paper presets); the discriminator's real and fake batches scale "
                            "with it (paper-code: half each)")
    train.add_argument("--split", choices=SPLITS, default="official",
                       help="split whose training NORMAL images the GAN learns")
    train.add_argument("--split-seed", type=int, default=0, help="seed of the pooled splits")
    train.add_argument("--seed", type=int, default=0, help="seeds weights, noise and data order")
    train.add_argument("--resize-filter", choices=sorted(RESIZE_FILTERS), default="bilinear",
                       help="Pillow filter used to resize images to the model size")
    train.add_argument("--checkpoint-every", type=int, default=10,
                       help="epochs between checkpoints and sample figures")
    train.add_argument("--out", required=True, help="run directory (created; never overwritten)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its newest checkpoint "
                            "(--epochs may extend it; other options come from its config.json)")
    train.add_argument("--strict", action="store_true",
                       help="fail on the first unreadable image instead of skipping it")
    train.add_argument("--no-determinism", action="store_true",
                       help="allow non-deterministic (faster on GPU) kernels")
    train.add_argument("--data-parallel", action="store_true",
                       help="split each batch over every visible GPU (TensorFlow: "
                            "MirroredStrategy; JAX: keras.distribution.DataParallel); batch "
                            "sizes must divide evenly; see README 'Several GPUs'")
    train.add_argument("--mixed-precision", action="store_true",
                       help="compute in bfloat16 with float32 weights (GPUs with bf16, CPUs "
                            "with AVX512_BF16/AMX); see BENCHMARKS.md for its speed and FID")
    train.add_argument("--verbose", type=int, choices=(0, 1, 2), default=None,
                       help="0 silent, 1 progress bar, 2 one line an epoch (default: 1 on a "
                            "terminal, else 2)")
    generate = sub.add_parser("generate", help="write PNGs from a trained generator",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    generate.add_argument("--generator", required=True, help="a generator.keras file")
    generate.add_argument("--num-images", type=int, required=True, help="number of images")
    generate.add_argument("--seed", type=int, default=0,
                          help="image i comes from noise seeded with (seed, i)")
    generate.add_argument("--out", required=True, help="folder for gen-sSEED-NNNNNN.png files")
    generate.add_argument("--paper-code-stretch", action="store_true",
                          help="stretch each image to its own min..max as the authors' code "
                               "did through imageio (off: (x+1)*127.5, clipped)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("train", "generate", "-h", "--help"):
        argv = ["train", *argv]
    args = _parser().parse_args(argv)
    if args.command == "generate":
        from cxr_gan.gan.generate import generate_pngs

        paths = generate_pngs(args.generator, args.num_images, args.seed, args.out,
                              stretch=args.paper_code_stretch)
        print(f"Wrote {len(paths)} images to {args.out}")
        return 0

    from cxr_gan.gan.train import make_run_config, summarize, train_gan

    config = make_run_config(
        data=args.data, preset=args.preset, epochs=args.epochs, batch_size=args.batch_size,
        split=args.split,
        split_seed=args.split_seed, seed=args.seed, resize_filter=args.resize_filter,
        checkpoint_every=args.checkpoint_every, deterministic=not args.no_determinism,
        data_parallel=args.data_parallel, mixed_precision=args.mixed_precision,
    )
    result = train_gan(config, args.out, resume=args.resume, strict=args.strict,
                       verbose="auto" if args.verbose is None else args.verbose)
    print(summarize(result))
    return 130 if result.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
