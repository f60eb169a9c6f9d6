#!/usr/bin/env python3
r"""The main job: the method end to end on the embedded SYNTHETIC phantoms, in one command.

    python demo.py --out runs/demo

Trains the demo GAN on the phantoms' NORMAL class, generates images, scores them (FID, KID,
precision/recall, memorisation), trains the classifier with none, flip and gan augmentation and
writes the report; each stage prints its time, and the last lines say what to open. The same
steps, one script each: train_gan.py, train_gan.py generate, evaluate.py score,
train_classifier.py, evaluate.py report (README, "The main job, step by step").
"""

from __future__ import annotations

import sys

from cxr_gan import cli, flags

cli.quiet_backend_logs()


def _parser():
    parser = flags.parser(__doc__)
    flags.add(parser, "--out", "--cache-dir", "--verbose", "--debug",
              out="folder for the GAN run, its images and scores, the classifier runs and the "
                  "report (new or empty)")
    parser.add_argument("--no-score", action="store_true",
                        help="leave out the FID network's stage (the slowest on a CPU)")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    cli.load_backend()
    from cxr_gan.demo import run_demo

    run_demo(args.out, cache=args.cache_dir, verbose=flags.resolve_verbose(args.verbose),
             score=not args.no_score)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_script(main))
