#!/usr/bin/env python3
"""Table 1 on the paper's split and the others, one resumable command (issue #11).

    python experiments/table1.py --data ../shared/data/chest_xray --runs /work/runs
    python experiments/table1.py --data ../shared/data/chest_xray --runs /work/runs --list

Works through the plan below in order; every step is skipped when its result exists, so the
command can be stopped at any moment and run again. Steps:
1. a generator per split (`efficient` preset, `--exclude-validation 0,1,2`: it never sees a
   test image or any classifier seed's validation share), then its 2534 images (`generate`,
   with their provenance) and its scores (`gan_results.py`: FID, PRDC, memorisation against its
   own training images) into `results/gan-SPLIT/`;
2. the classifier runs, one `train_classifier.py` call each, with the committed protocol (top-up
   to the PNEUMONIA count, at most 8 epochs with early stopping, 224 px, batch 32): every method
   on `pooled` with seeds 0, 1, 2 (seed 0, then the GAN methods' seeds 1-2, then the others'),
   then `pooled-patient` seed 0, `official` seed 0, then the other seeds of `pooled-patient`;
   each finished run is copied into `results/cpu-classifier/SPLIT/METHOD-sSEED/` (config,
   history, metrics, predictions; no weights), ready to commit.
The report and the conclusion are written by hand from `evaluate.py report` (see
results/cpu-classifier/README.md).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
from cxr_gan import cli
from cxr_gan.classifier.augment import PAPER_METHODS, uses_generator
from cxr_gan.data import datasets

GAN_SPLITS = ("pooled", "pooled-patient", "official")
NOT_GAN = tuple(m for m in PAPER_METHODS if not uses_generator(m))
PAPER_GAN = tuple(m for m in PAPER_METHODS if uses_generator(m))
# (split, methods, seeds) in the order the issue asks for them; on the pooled split the GAN
# methods' seeds 1-2 come first, as the answer turns on their spread.
CLASSIFIER_PLAN = (("pooled", PAPER_METHODS, (0,)), ("pooled", PAPER_GAN, (1, 2)),
                   ("pooled", NOT_GAN, (1, 2)), ("pooled-patient", PAPER_METHODS, (0,)),
                   ("official", PAPER_METHODS, (0,)), ("pooled-patient", PAPER_METHODS, (1, 2)))
EPOCHS = {"pooled": 8, "pooled-patient": 8, "official": 8}
# The pooled generator's 179 epochs x 29 updates (results/gan-pooled/, about the efficient
# preset's 5000); every split's generator gets as many, so their rows compare.
GAN_UPDATES = 179 * 29
RUN_FILES = ("config.json", "history.csv", "metrics.json", "predictions.csv")


def _run(command: list[str], log: Path) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {' '.join(command)}", flush=True)
    with open(log, "a") as handle:
        subprocess.run(command, cwd=REPO, check=True, stdout=handle, stderr=subprocess.STDOUT)


def generator_step(split: str, data: str, runs: Path) -> Path:
    """Trains (or resumes) the split's generator and scores it; returns its image folder."""
    run = runs / f"gan-{split}-efficient-s0"
    images = run / "generated-generator-s0"
    python = sys.executable
    if not (run / "generator.keras").is_file():
        command = [python, "train_gan.py", "--out", str(run), "--verbose", "2"]
        if (run / "config.json").is_file():
            command.append("--resume")
        else:
            from cxr_gan.gan.config import epochs_for_updates

            n_images = len(datasets.select_training(datasets.scan(data), split, 0, "NORMAL",
                                                   (0, 1, 2))[1])
            epochs = epochs_for_updates("efficient", GAN_UPDATES, n_images)
            command += ["--data", data, "--split", split, "--exclude-validation", "0,1,2",
                        "--preset", "efficient", "--epochs", str(epochs), "--fid-every", "45"]
        _run(command, runs / f"gan-{split}.log")
    results = REPO / "results" / f"gan-{split}" / "efficient-s0"
    if not (results / "fid-generator.json").is_file():
        _run([python, "experiments/gan_results.py", "--run", str(run), "--data", data, "--out",
              str(results)], runs / f"gan-{split}.log")
    return images


def classifier_step(split: str, method: str, seed: int, data: str, runs: Path,
                    gan_images: Path | None) -> None:
    out = runs / split / f"{method}-s{seed}"
    results = REPO / "results" / "cpu-classifier" / split / f"{method}-s{seed}"
    if _done(results, split):
        return
    if not _done(out, split):
        command = [sys.executable, "train_classifier.py", "--data", data, "--split", split,
                   "--augment", method, "--seeds", str(seed), "--epochs", str(EPOCHS[split]),
                   "--verbose", "2", "--out", str(out)]
        if uses_generator(method):
            command += ["--gan-images", str(gan_images)]
        _run(command, runs / f"{split}.log")
    results.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        shutil.copyfile(out / name, results / name)


def _done(run: Path, split: str) -> bool:
    """A finished run of the protocol (a run made with other epochs is done again; the
    committed one stays in git's history)."""
    if not (run / "metrics.json").is_file():
        return False
    return json.loads((run / "config.json").read_text())["epochs"] == EPOCHS[split]


def plan() -> list[tuple[str, str, int]]:
    return [(split, method, seed) for split, methods, seeds in CLASSIFIER_PLAN for seed in seeds
            for method in methods]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--runs", required=True, help="run folders (weights), not committed")
    parser.add_argument("--list", action="store_true", help="print what is left, run nothing")
    args = parser.parse_args(argv)
    datasets.scan(args.data)  # A bad --data is one message, before --runs is made.
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    left = [(split, method, seed) for split, method, seed in plan() if not _done(
        REPO / "results" / "cpu-classifier" / split / f"{method}-s{seed}", split)]
    if args.list:
        for split, method, seed in left:
            print(f"{split} {method} seed {seed}")
        print(f"{len(left)} classifier runs left")
        return 0
    images: dict[str, Path] = {}
    for split, method, seed in left:
        if uses_generator(method) and split not in images:
            images[split] = generator_step(split, args.data, runs)
        classifier_step(split, method, seed, args.data, runs, images.get(split))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_script(main))
