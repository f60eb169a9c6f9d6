#!/usr/bin/env python3
r"""Train the paper's classifier (Fig. 7) with one augmentation method, or several in a row.

    python train_classifier.py --augment none --out runs/cls              # synthetic demo data
    python train_classifier.py --data ~/chest_xray --split pooled --augment flip --out runs/flip
    python train_classifier.py --data ~/chest_xray --augment all --seeds 0 1 2 \
        --generator runs/gan/generator.keras --out runs/comparison

With several methods or seeds, each run goes to OUT/METHOD-sSEED/.
"""

from __future__ import annotations

import sys

from cxr_gan import cli, flags
from cxr_gan.classifier.augment import METHODS

cli.quiet_backend_logs()


def _parser():
    parser = flags.parser(__doc__)
    flags.add(parser, "--data", "--out", "--split", "--split-seed", "--seeds", "--resize-filter",
              "--strict", "--cache-dir", "--verbose", "--debug", "--patient-pattern",
              "--train-size", "--cap", "--reuse",
              out="run directory, or the parent of OUT/METHOD-sSEED/ with several runs",
              seeds="seeds, one run each per method: weights, data order, validation "
                    "hold-out, augmentation draws, GAN noise")
    parser.add_argument("--augment", **flags.list_flag(flags.one_of(METHODS + ("all", "paper")),
                                                       default=["none"]), metavar="METHOD",
                        help=f"methods (spaces or commas): {', '.join(METHODS)}; 'paper': the "
                             "paper's eight (none ... gan+crop); 'all': every one")
    images = parser.add_mutually_exclusive_group()
    images.add_argument("--generator", default=None, metavar="FILE",
                        help="generator.keras whose images the gan methods use (default: none; "
                             "a gan method then needs --gan-images)")
    images.add_argument("--gan-images", default=None, metavar="DIR",
                        help="folder of generated PNGs (train_gan.py generate) instead (default: "
                             "none)")
    parser.add_argument("--epochs", type=cli.positive_int, default=20, metavar="N",
                        help="at most this many epochs (early stopping on validation loss)")
    parser.add_argument("--min-updates", type=cli.positive_int, default=None, metavar="N",
                        help="give a small training set as many updates as a large one: at "
                             "least N updates (and --epochs epochs), early stopping's patience "
                             "at least N/4 updates, no epoch judged before 100 updates "
                             "(default: none, at most --epochs epochs)")
    parser.add_argument("--image-size", type=cli.at_least(32), default=224, metavar="PIXELS",
                        help="input height and width in pixels (the paper: 224)")
    parser.add_argument("--batch-size", type=cli.positive_int, default=32, metavar="N",
                        help="images per training step")
    parser.add_argument("--learning-rate", type=cli.between(0.0, 1.0), default=1e-3,
                        metavar="LR", help="Adam's learning rate")
    parser.add_argument("--positive", default=None, metavar="CLASS",
                        help="two classes: the positive class of precision, recall and the ROC "
                             "(default: PNEUMONIA where a class is so named, else the second "
                             "in sorted order)")
    parser.add_argument("--on-the-fly", action="store_true",
                        help="apply the tf.image method to every training image while training "
                             "(flip with probability 1/2) instead of topping up; none and "
                             "gan methods keep the top-up protocol")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    cli.load_backend()
    from cxr_gan.classifier.train import run_many

    run_many(data=args.data, methods=args.augment, seeds=args.seeds, out=args.out,
             verbose=flags.resolve_verbose(args.verbose), cache_dir=args.cache_dir,
             reuse=args.reuse, split=args.split, split_seed=args.split_seed,
             generator=args.generator,
             gan_images=args.gan_images, epochs=args.epochs,
             min_updates=args.min_updates, image_size=args.image_size,
             batch_size=args.batch_size, learning_rate=args.learning_rate,
             on_the_fly=args.on_the_fly,
             resize_filter=args.resize_filter, strict=args.strict,
             patient_pattern=args.patient_pattern, positive=args.positive,
             train_size=args.train_size, class_caps=cli.class_caps(args.cap))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_script(main))
