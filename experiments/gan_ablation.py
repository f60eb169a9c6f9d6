#!/usr/bin/env python3
"""The GAN options' ablation at the demo size: each option alone and the chosen combination
against the plain DCGAN, on the real training NORMAL images, several seeds.

    python experiments/gan_ablation.py --data ../shared/data/chest_xray --seeds 0 1

Each run is ``train_gan.py --preset demo`` (64 px) with one option set, FID-768 and KID of a
fixed set of generated images every ``--fid-every`` epochs. Runs live in ``--runs`` (weights,
not committed); each finished run's ``config.json`` and ``history.csv`` are copied to
``--out/ablation/NAME-sSEED/`` and the table ``--out/ablation.md`` is rewritten after every run,
so the work can stop and resume at any point (finished runs are skipped, interrupted ones
resumed).
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ALL_TRANSFORMS = "translation,cutout,brightness,contrast"
CONFIGS = {
    "baseline": [],
    "diffaugment": ["--diffaugment", ALL_TRANSFORMS],
    "ada": ["--diffaugment", ALL_TRANSFORMS, "--ada-target", "0.6"],
    "ema": ["--ema", "0.999"],
    "r1": ["--r1", "0.1"],
    "hinge-sn": ["--loss", "hinge", "--spectral-norm"],
    "wgan-gp": ["--loss", "wgan-gp"],
    "diffaugment+ema": ["--diffaugment", ALL_TRANSFORMS, "--ema", "0.999"],
    "diffaugment+ema+r1": ["--diffaugment", ALL_TRANSFORMS, "--ema", "0.999", "--r1", "0.1"],
}


def run_one(name: str, seed: int, args) -> Path:
    run_dir = Path(args.runs) / f"{name}-s{seed}"
    if (run_dir / "generator.keras").is_file():
        return run_dir
    command = [sys.executable, str(REPO / "train_gan.py"), "--data", args.data, "--preset",
               "demo", "--epochs", str(args.epochs), "--seed", str(seed), "--out",
               str(run_dir), "--fid-every", str(args.fid_every), "--fid-images",
               str(args.fid_images), "--exclude-validation", "none", "--verbose", "2",
               *CONFIGS[name]]
    if (run_dir / "config.json").is_file():  # A resume keeps the run's stored options.
        command = [sys.executable, str(REPO / "train_gan.py"), "--out", str(run_dir),
                   "--resume", "--verbose", "2"]
    print(f"[{time.strftime('%H:%M:%S')}] {name} seed {seed}: {' '.join(command[1:])}",
          flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    print(f"  done in {time.perf_counter() - start:.0f} s", flush=True)
    (run_dir / "wall_seconds.txt").write_text(f"{time.perf_counter() - start:.1f}\n")
    return run_dir


def read_history(run_dir: Path) -> list[dict]:
    with open(run_dir / "history.csv", newline="") as f:
        return [{k: float(v) if v else None for k, v in row.items()} for row in csv.DictReader(f)]


def summarize_run(run_dir: Path) -> dict:
    rows = read_history(run_dir)
    scored = [r for r in rows if r.get("fid_768") is not None]
    return {
        "final_fid_768": scored[-1]["fid_768"], "final_kid": scored[-1]["kid"],
        "best_fid_768": min(r["fid_768"] for r in scored),
        "updates": int(sum(r["steps"] for r in rows)),
        "median_epoch_seconds": float(np.median([r["seconds"] for r in rows])),
        "fid_epochs": [int(r["epoch"]) for r in scored],
    }


def finished_runs(runs: Path) -> dict:
    """``{config: {seed: summary}}`` of every finished run in ``runs``, whichever invocation
    made it."""
    results: dict = {}
    for name in CONFIGS:
        for run_dir in sorted(runs.glob(f"{name}-s*")):
            seed = run_dir.name[len(name) + 2:]
            if seed.isdigit() and (run_dir / "generator.keras").is_file():
                results.setdefault(name, {})[int(seed)] = summarize_run(run_dir)
    return results


def write_table(out: Path, results: dict, args) -> None:
    from cxr_gan.machine import cpu_description

    lines = [
        "# GAN options at the demo size: the ablation",
        "",
        f"Data: `{args.data}` official split, train/NORMAL (1341 images), 64 px; preset `demo`; "
        f"{args.epochs} epochs of 41 updates; FID-768 and KID (2048-d) of {args.fid_images} "
        f"generated images (fixed noise) against the 1341 training images, every "
        f"{args.fid_every} epochs; the EMA generator where the run has one. "
        f"Machine: {cpu_description()} "
        "(s / epoch: other work shared the machine at times; BENCHMARKS.md has the timings). "
        "Made by `python experiments/gan_ablation.py "
        f"--data {args.data} --seeds SEEDS --epochs {args.epochs}` (finished runs are skipped, "
        "so invocations with other --seeds or --configs add rows).",
        "",
        "| options | seeds | final FID-768 (each seed) | mean | best FID-768 (mean) | final KID "
        "(mean) | s / epoch |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for name in CONFIGS:
        runs = results.get(name, {})
        if not runs:
            continue
        finals = [runs[s]["final_fid_768"] for s in sorted(runs)]
        lines.append(
            f"| {name} `{' '.join(CONFIGS[name])}` | {', '.join(map(str, sorted(runs)))} | "
            f"{', '.join(f'{v:.3f}' for v in finals)} | {np.mean(finals):.3f} | "
            f"{np.mean([r['best_fid_768'] for r in runs.values()]):.3f} | "
            f"{np.mean([r['final_kid'] for r in runs.values()]):.4f} | "
            f"{np.mean([r['median_epoch_seconds'] for r in runs.values()]):.1f} |")
    (out / "ablation.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--fid-every", type=int, default=5)
    parser.add_argument("--fid-images", type=int, default=500)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--runs", default=str(REPO / "runs" / "gan-ablation"))
    parser.add_argument("--out", default=str(REPO / "results" / "gan-efficient"))
    args = parser.parse_args(argv)
    from cxr_gan.data import datasets

    datasets.scan(args.data)  # A bad --data is one message, before any run starts.
    out = Path(args.out)
    for seed in args.seeds:
        for name in args.configs:
            run_dir = run_one(name, seed, args)
            kept = out / "ablation" / run_dir.name
            kept.mkdir(parents=True, exist_ok=True)
            for file in ("config.json", "history.csv"):
                shutil.copyfile(run_dir / file, kept / file)
            write_table(out, finished_runs(Path(args.runs)), args)
    return 0


if __name__ == "__main__":
    from cxr_gan import cli

    sys.exit(cli.run_script(main))
