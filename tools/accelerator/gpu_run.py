#!/usr/bin/env python3
"""Runs a plan of GAN trainings within one time cap, then packs what comes back.

    python tools/accelerator/gpu_run.py --plan tools/accelerator/gpu_plan.json --data .devdata/chest_xray \\
        --out "$OUT"                         # on the accelerator, via gpu_reproduce.sh

Runs the plan's runs in order, each as `train_gan.py` in its own process (so each gets the whole
device and a crash stays its own). Before a run starts, the time left (the cap less a reserve for
exporting and packing) is its limit, or the run's own `time_cap_s` when that is less; when
the limit comes, the run gets SIGINT: the trainer's
interrupt path finishes the step in flight and saves a checkpoint, and the export samples that
checkpoint. A run that cannot get `MIN_TRAIN_S` is skipped and recorded as such.

Each run is exported by `tools/accelerator/gpu_export.py` (its own process): the generated images as
uint8 arrays, with their seed and noise rule. Everything is packed into at most 8 files of at
most 16 MiB in `--out` (the device returns no more): `runs.tar.gz` (per run `config.json`,
`history.csv`, `manifest.csv`, `data_report.json`, `timings.json`, `train_log.txt`,
`images_meta.json`; and `plan_result.json`), then `images-RUN-partK.npy`, runs in plan order;
images that do not fit are dropped from the end and counted in `plan_result.json`. Sample
figures are not returned: they show real training images.
"""

from __future__ import annotations

import argparse
import csv
import json
import signal
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
MAX_FILES = 8
MAX_FILE_BYTES = 16 * 2**20
MIN_TRAIN_S = 30.0
RESERVE_S = 45.0  # Per run: export (a process start, generation, writing) and the final pack.
SMALL_FILES = ("config.json", "history.csv", "manifest.csv", "data_report.json")


def epochs_for(run: dict, n_images: int) -> int:
    """The run's ``epochs``, or the fewest epochs that give its ``updates`` generator updates."""
    if "epochs" in run:
        return int(run["epochs"])
    from cxr_gan.gan.config import epochs_for_updates

    return epochs_for_updates(run["preset"], int(run["updates"]), n_images,
                              run.get("batch_size"))


def train_command(run: dict, plan: dict, data: Path, run_dir: Path, epochs: int) -> list[str]:
    spec = plan["data"]
    seeds = ",".join(map(str, spec.get("validation_seeds", []))) or "none"
    command = [sys.executable, str(REPO / "train_gan.py"), "--data", str(data), "--split",
               spec["split"], "--split-seed", str(spec.get("split_seed", 0)),
               "--exclude-validation", seeds, "--preset", run["preset"], "--epochs", str(epochs),
               "--checkpoint-every", "100000", "--verbose", "2", "--out", str(run_dir)]
    if run.get("batch_size"):
        command += ["--batch-size", str(run["batch_size"])]
    if run.get("mixed_precision"):
        command.append("--mixed-precision")
    if not run.get("deterministic", False):
        command.append("--no-determinism")
    return command + list(run.get("options", []))


def timings(run_dir: Path, wall_s: float, stopped: bool, updates: int | None) -> dict:
    """Compile time, step time and updates of a run, from its history."""
    path = run_dir / "history.csv"
    rows = list(csv.DictReader(open(path))) if path.is_file() else []
    per_update = [float(r["seconds"]) / int(r["steps"]) for r in rows[1:] if int(r["steps"])]
    first = float(rows[0]["seconds"]) if rows else None
    median = statistics.median(per_update) if per_update else None
    return {
        "wall_s": round(wall_s, 2), "stopped_by_time_cap": stopped, "epochs_done": len(rows),
        "updates_done": updates, "first_epoch_s_incl_compile": first,
        "median_s_per_update_after_epoch_1": median,
        "compile_s_estimate": (first - int(rows[0]["steps"]) * median)
        if rows and median is not None else None,
    }


def run_one(run: dict, plan: dict, data: Path, work: Path, limit_s: float,
            n_images: int) -> dict:
    """Trains one run within ``limit_s`` seconds (SIGINT at the limit), then exports it."""
    run_dir, stage = work / "runs" / run["name"], work / "stage" / run["name"]
    stage.mkdir(parents=True, exist_ok=True)
    epochs = epochs_for(run, n_images)
    start = time.monotonic()
    with open(stage / "train_log.txt", "w") as log:
        process = subprocess.Popen(train_command(run, plan, data, run_dir, epochs), cwd=REPO,
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            process.wait(timeout=limit_s)
            stopped = False
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGINT)  # Finish the step, save a checkpoint.
            stopped = True
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    wall = time.monotonic() - start
    exported = subprocess.run(
        [sys.executable, str(HERE / "gpu_export.py"), str(run_dir), str(stage),
         "--num-images", str(run.get("num_images", 2534)), "--seed", str(run.get("seed", 0))],
        cwd=REPO, capture_output=True, text=True)
    meta_path = stage / "images_meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else None
    result = {"name": run["name"], "preset": run["preset"], "epochs_asked": epochs,
              "train_returncode": process.returncode, "export_returncode": exported.returncode,
              "export_error": exported.stderr[-1500:] if exported.returncode else None,
              "timings": timings(run_dir, wall, stopped, meta and meta["global_step"])}
    (stage / "timings.json").write_text(json.dumps(result["timings"], indent=1) + "\n")
    for name in SMALL_FILES:
        if (run_dir / name).is_file():
            (stage / name).write_bytes((run_dir / name).read_bytes())
    return result


def pack(work: Path, out: Path, results: list[dict]) -> None:
    """``runs.tar.gz`` plus image parts, at most ``MAX_FILES`` files of ``MAX_FILE_BYTES``."""
    out.mkdir(parents=True, exist_ok=True)
    parts_left = MAX_FILES - 1
    for result in results:
        images_path = work / "stage" / result["name"] / "images.npy"
        result["image_parts"], result["images_returned"] = [], 0
        if not images_path.is_file():
            continue
        images = np.load(images_path)
        per_part = max(1, (MAX_FILE_BYTES - 4096) // int(np.prod(images.shape[1:])))
        for first in range(0, len(images), per_part):
            if parts_left == 0:
                break
            name = f"images-{result['name']}-part{len(result['image_parts'])}.npy"
            np.save(out / name, images[first:first + per_part])
            result["image_parts"].append({"file": name, "first": first,
                                          "count": int(len(images[first:first + per_part]))})
            result["images_returned"] += result["image_parts"][-1]["count"]
            parts_left -= 1
        result["images_dropped"] = int(len(images)) - result["images_returned"]
    (work / "stage" / "plan_result.json").write_text(json.dumps(results, indent=1) + "\n")
    with tarfile.open(out / "runs.tar.gz", "w:gz") as tar:
        for path in sorted((work / "stage").rglob("*")):
            if path.is_file() and path.suffix != ".npy":
                tar.add(path, arcname=str(path.relative_to(work / "stage")))
    too_big = [p.name for p in out.iterdir() if p.stat().st_size > MAX_FILE_BYTES]
    if too_big or len(list(out.iterdir())) > MAX_FILES:
        raise SystemExit(f"packing broke the return limits: {too_big}, "
                         f"{len(list(out.iterdir()))} files")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plan", default=str(HERE / "gpu_plan.json"))
    parser.add_argument("--data", default=str(REPO / ".devdata" / "chest_xray"))
    parser.add_argument("--out", required=True, help="the folder that comes back ($OUT)")
    parser.add_argument("--work", default="/tmp/cxr_gan_gpu", help="run folders, not returned")
    parser.add_argument("--time-cap", type=float, default=None,
                        help="seconds for the whole plan (default: the plan's time_cap_s)")
    args = parser.parse_args(argv)
    plan = json.loads(Path(args.plan).read_text())
    data, work, out = Path(args.data), Path(args.work), Path(args.out)
    cap = args.time_cap or float(plan.get("time_cap_s", 540))
    from cxr_gan.data import datasets

    pack_description = datasets.read_pack(data)
    n_images = len(pack_description["files"]) if pack_description else len(
        datasets.select_training(datasets.scan(data), plan["data"]["split"],
                                plan["data"].get("split_seed", 0),
                                plan["data"].get("label", "NORMAL"),
                                plan["data"].get("validation_seeds", []))[1])
    start, results = time.monotonic(), []
    for run in plan["runs"]:
        limit = cap - (time.monotonic() - start) - RESERVE_S * (1 + 0.25 * len(results))
        if limit < MIN_TRAIN_S:
            results.append({"name": run["name"], "preset": run["preset"],
                            "skipped": f"{limit:.0f} s left under the {cap:.0f} s cap"})
            print(f"{run['name']}: skipped ({results[-1]['skipped']})", flush=True)
            continue
        limit = min(limit, float(run.get("time_cap_s", limit)))
        print(f"{run['name']}: training, at most {limit:.0f} s", flush=True)
        results.append(run_one(run, plan, data, work, limit, n_images))
        print(f"{run['name']}: {json.dumps(results[-1]['timings'])}", flush=True)
    pack(work, out, results)
    print(f"plan done in {time.monotonic() - start:.0f} s; returned: "
          + ", ".join(sorted(p.name for p in out.iterdir())), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
