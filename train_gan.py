#!/usr/bin/env python3
r"""Train the paper's DCGAN on the NORMAL chest X-rays, or generate images from a trained one.

    python train_gan.py --out runs/demo                       # embedded synthetic demo data
    python train_gan.py --data ~/chest_xray --preset paper-code --out runs/paper-code
    python train_gan.py --out runs/demo --resume              # continue a stopped run
    python train_gan.py generate --generator runs/demo/generator.keras \
        --num-images 2534 --seed 0 --out runs/demo/generated

Commands: train (the default when none is named), generate. The backend is Keras's:
KERAS_BACKEND=tensorflow (default) or KERAS_BACKEND=jax.
"""

from __future__ import annotations

import sys

from cxr_gan import cli, flags
from cxr_gan.gan.config import PRESETS

cli.quiet_backend_logs()


def _parser():
    parser = flags.parser(__doc__)
    subs = flags.subparsers(parser)
    train = flags.command(subs, "train", "train a GAN (the default command)")
    flags.add(train, "--data", "--out", "--split", "--split-seed", "--seed", "--resize-filter",
              "--strict", "--cache-dir", "--verbose", "--debug",
              out="run directory (created; never overwritten: continue one with --resume)",
              split="split whose training NORMAL images the GAN learns",
              seed="seeds weights, noise and data order")
    train.add_argument("--preset", choices=sorted(PRESETS), default=None,
                       help="architecture: 'paper' (the paper's text), 'paper-code' (the "
                            "authors' DCGAN.py), 'demo' (small, CPU); default: demo without "
                            "--data, paper with it")
    train.add_argument("--epochs", type=cli.positive_int, default=None,
                       help="epochs to train to (default: the preset's; an epoch is "
                            "floor(n_images / batch) generator updates)")
    train.add_argument("--batch-size", type=cli.at_least(2), default=None,
                       help="images per generator update, >= 2 (default: the preset's, 128 for "
                            "the paper presets); the discriminator's real and fake batches "
                            "scale with it (paper-code: half each)")
    train.add_argument("--checkpoint-every", type=cli.positive_int, default=10,
                       help="epochs between checkpoints and sample figures")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its newest checkpoint "
                            "(--epochs may extend it; other options come from its config.json)")
    train.add_argument("--no-determinism", action="store_true",
                       help="allow non-deterministic (faster on GPU) kernels")
    train.add_argument("--data-parallel", action="store_true",
                       help="split each batch over every visible GPU (TensorFlow: "
                            "MirroredStrategy; JAX: keras.distribution.DataParallel); batch "
                            "sizes must divide evenly; see README 'Several GPUs'")
    train.add_argument("--mixed-precision", action="store_true",
                       help="compute in bfloat16 with float32 weights (GPUs with bf16, CPUs "
                            "with AVX512_BF16/AMX); see BENCHMARKS.md for its speed and FID")
    generate = flags.command(subs, "generate", "write PNGs from a trained generator")
    generate.add_argument("--generator", required=True, help="a generator.keras file")
    generate.add_argument("--num-images", type=cli.positive_int, required=True,
                          help="number of images")
    flags.add(generate, "--seed", "--out", "--debug",
              seed="image i comes from noise seeded with (seed, i)",
              out="folder for gen-sSEED-NNNNNN.png files (must hold none of them yet)")
    generate.add_argument("--paper-code-stretch", action="store_true",
                          help="stretch each image to its own min..max as the authors' code "
                               "did through imageio (off: (x+1)*127.5, clipped)")
    return parser


def _train(args) -> int:
    from cxr_gan.gan.train import make_run_config, summarize, train_gan

    config = make_run_config(
        data=args.data, preset=args.preset, epochs=args.epochs, batch_size=args.batch_size,
        split=args.split, split_seed=args.split_seed, seed=args.seed,
        resize_filter=args.resize_filter, checkpoint_every=args.checkpoint_every,
        deterministic=not args.no_determinism, data_parallel=args.data_parallel,
        mixed_precision=args.mixed_precision, cache_dir=args.cache_dir,
    )
    result = train_gan(config, args.out, resume=args.resume, strict=args.strict,
                       verbose=flags.resolve_verbose(args.verbose))
    print(summarize(result))
    return cli.EXIT_INTERRUPTED if result.interrupted else 0


def _generate(args) -> int:
    from cxr_gan.gan.generate import generate_pngs

    paths = generate_pngs(args.generator, args.num_images, args.seed, args.out,
                          stretch=args.paper_code_stretch)
    print(f"Wrote {len(paths)} images to {args.out}")
    return 0


def main(argv: list[str]) -> int:
    args = flags.parse_with_default_command(_parser(), argv, default="train")
    return _generate(args) if args.command == "generate" else _train(args)


if __name__ == "__main__":
    sys.exit(cli.run_script(main))
