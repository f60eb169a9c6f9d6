#!/usr/bin/env python3
"""Generators under one CPU budget: `efficient`, `efficient` for twice its updates, `fastgan`,
`fastgan` without the reconstruction term, and `fastgan` with R1 or LeCam, on the official
train/NORMAL images (1341, ``--exclude-validation none``, as the committed `efficient` run).

    python experiments/gan_fastgan.py --data ../shared/data/chest_xray --minutes 60 \\
        --speeds benchmarks/results/cpu-YYYYMMDD.jsonl --arms fastgan --seeds 0

Each arm trains for the generator updates that ``--minutes`` of training buy at its measured
seconds per update (``--speeds``: the JSON lines of bench_fastgan.py and bench_efficient.py on
this machine; `efficient-2x` gets twice `efficient`'s), with FID-768/KID of 500 fixed generated
images at four points of the run. Each finished run is then scored by
``experiments/gan_results.py --ceiling`` (2534 images against its training files, memorisation
against the test NORMAL images, the resolution's ceiling table) into
``--out/ARM-sSEED/``, and ``--out/comparison.md`` is rewritten after every run, so the work can
stop and resume at any point (finished runs are skipped, interrupted ones resumed).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
N_TRAINING_IMAGES = 1341  # official train/NORMAL

# arm -> (preset, extra train_gan.py flags, benchmark candidate whose speed it has, multiplier)
ARMS = {
    "efficient": ("efficient", [], ("efficient-preset", "1/4 widths, k5, batch 32",
                                    "diffaugment+ema"), 1),
    "efficient-2x": ("efficient", [], ("efficient-preset", "1/4 widths, k5, batch 32",
                                       "diffaugment+ema"), 2),
    "fastgan": ("fastgan", [], ("fastgan-preset", "1/4 widths, batch 8", None), 1),
    "fastgan-no-reconstruction": ("fastgan", ["--reconstruction", "0"],
                                  ("fastgan-preset", "1/4 widths, batch 8, no reconstruction",
                                   None), 1),
    "fastgan-r1": ("fastgan", ["--r1", "0.1"], ("fastgan-preset", "1/4 widths, batch 8", None),
                   1),
    # LeCam's weight for hinge-loss BigGAN on 10-20 % of CIFAR (google/lecam-gan, --LC 0.3);
    # two means a step, so fastgan's measured speed is its speed.
    "fastgan-lecam": ("fastgan", ["--lecam", "0.3"],
                      ("fastgan-preset", "1/4 widths, batch 8", None), 1),
}
BATCH = {"efficient": 32, "fastgan": 8}


def seconds_per_update(speeds: Path, key: tuple) -> float:
    """The newest matching benchmark record's median seconds per update."""
    section, candidate, options = key
    found = None
    for line in speeds.read_text().splitlines():
        record = json.loads(line)
        if (record.get("section") == section and record.get("candidate") == candidate
                and (options is None or record.get("options") == options)):
            found = record["seconds_per_update"]
    if found is None:
        raise SystemExit(f"No {section} record of {candidate!r} in {speeds}: run the benchmark "
                         "on this machine first.")
    return float(found)


def plan(arm: str, minutes: float, speeds: Path) -> dict:
    preset, flags, key, multiplier = ARMS[arm]
    per_update = seconds_per_update(speeds, key)
    updates = int(minutes * 60 / per_update) * multiplier
    per_epoch = N_TRAINING_IMAGES // BATCH[preset]
    epochs = -(-updates // per_epoch)
    return {"preset": preset, "flags": flags, "seconds_per_update": per_update,
            "updates": epochs * per_epoch, "epochs": epochs,
            "fid_every": -(-epochs // 4)}


def train(arm: str, seed: int, planned: dict, args) -> Path:
    run = Path(args.runs) / f"{arm}-s{seed}"
    if (run / "generator.keras").is_file():
        return run
    command = [sys.executable, "train_gan.py", "--data", args.data, "--preset",
               planned["preset"], "--epochs", str(planned["epochs"]), "--seed", str(seed),
               "--exclude-validation", "none", "--fid-every", str(planned["fid_every"]),
               "--fid-images", "500", "--checkpoint-every", str(planned["fid_every"]),
               "--verbose", "2", "--out", str(run), *planned["flags"]]
    if (run / "config.json").is_file():
        command = [sys.executable, "train_gan.py", "--out", str(run), "--resume",
                   "--verbose", "2"]
    print(f"[{time.strftime('%H:%M:%S')}] {arm} seed {seed}: {' '.join(command[1:])}",
          flush=True)
    subprocess.run(command, check=True, cwd=REPO)
    return run


def summary_row(arm: str, seed: int, out: Path) -> list:
    """One row of the comparison from a scored folder alone (its copy of the run's history), so
    rows stay when the training runs are gone."""
    fid = json.loads((out / "fid-generator.json").read_text())
    ceiling = json.loads((out / "ceiling-generator.json").read_text())
    generated = [r for r in ceiling if r["candidate"].endswith("generated")][0]["scores"]
    epochs = history(out)
    updates = sum(int(row["steps"]) for row in epochs)
    minutes = sum(float(row["seconds"]) for row in epochs) / 60
    config = json.loads((out / "config.json").read_text())
    machine = config.get("versions", {}).get("machine", "?").removesuffix(", 2 CPUs")
    return [arm, seed, updates, f"{minutes:.0f}", machine, f"{fid['fid_768']:.3f}",
            f"{fid['fid_2048']:.1f}", f"{fid['kid_mean']:.3f}", f"{fid['precision']:.3f}",
            f"{fid['recall']:.3f}", f"{generated['precision']:.3f}",
            f"{generated['recall']:.3f}", fid["copies"], fid["near_copies"]]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--minutes", type=float, required=True,
                        help="training minutes per arm (efficient-2x: twice its updates)")
    parser.add_argument("--speeds", required=True, type=Path,
                        help="benchmark JSON lines measured on this machine")
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--runs", default="runs/gan-fastgan")
    parser.add_argument("--out", default="results/gan-fastgan")
    args = parser.parse_args(argv)
    jobs = [(arm, seed) for arm in args.arms for seed in args.seeds]
    for done, (arm, seed) in enumerate(jobs):
        print(f"run {done + 1} of {len(jobs)}: {arm} seed {seed}", flush=True)
        planned = plan(arm, args.minutes, args.speeds)
        run = train(arm, seed, planned, args)
        out = Path(args.out) / f"{arm}-s{seed}"
        if not (out / "ceiling-generator.json").is_file():
            subprocess.run([sys.executable, "experiments/gan_results.py", "--run", str(run),
                            "--data", args.data, "--out", str(out), "--ceiling"],
                           check=True, cwd=REPO)
        write_comparison(Path(args.out))
    return 0


def write_comparison(out: Path) -> None:
    """``out/comparison.md``: one row per scored run in ``out`` (any invocation's)."""
    from cxr_gan.io import markdown_table

    folders = scored_folders(out)
    rows = []
    for folder in folders:
        arm, seed = folder.name.rsplit("-s", 1)
        rows.append(summary_row(arm, int(seed), folder))
    header = ["arm", "seed", "updates", "training min", "CPU", "FID-768", "FID-2048", "KID",
              "precision", "recall", "precision (equal sizes)", "recall (equal sizes)",
              "copies", "near-copies"]
    curves = [curve_row(folder) for folder in folders]
    (out / "comparison.md").write_text(
        markdown_table(header, rows, align="llrrlrrrrrrrrr") + "\n\n"
        "During training: FID-768 of 500 fixed generated images (`history.csv`):\n\n"
        + markdown_table(["arm, seed", "FID-768 at each evaluation", "updates there"], curves)
        + "\n")


def history(folder: Path) -> list:
    """The rows of a scored folder's copy of its run's ``history.csv``, one an epoch."""
    with open(folder / "history.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def scored_folders(out: Path) -> list:
    """The scored ``ARM-sSEED`` folders in ``out``, in the registry's order of arms."""
    return [folder for arm in ARMS for folder in sorted(out.glob(f"{arm}-s*"))
            if (folder / "ceiling-generator.json").is_file()]


def curve_row(folder: Path) -> list:
    """``ARM, seed S``, the in-training FID-768 values and the updates at which each was taken."""
    updates, values, points = 0, [], []
    for row in history(folder):
        updates += int(row["steps"])
        if row.get("fid_768"):
            values.append(f"{float(row['fid_768']):.3f}")
            points.append(str(updates))
    arm, seed = folder.name.rsplit("-s", 1)
    return [f"{arm}, seed {seed}", ", ".join(values), ", ".join(points)]


if __name__ == "__main__":
    sys.exit(main())
