#!/usr/bin/env python3
"""Crash soak: kill a GAN run at random moments (SIGKILL and SIGTERM), resume it each time, and
check that the finished run is bitwise the uninterrupted one.

    python tools/crash_soak.py --kills 20 --work /tmp/soak

One reference run trains without interruption (demo preset, the embedded synthetic phantoms,
``--epochs 8 --checkpoint-every 2``: checkpoints at every second epoch, so a SIGKILL usually
loses steps and the resume must redo them). Then, round after round, a run is started (fresh,
or ``--resume`` when its folder holds one), killed after a random delay drawn uniformly between
0.2 s and the reference's wall time (so kills land in start-up, data loading, compilation,
training, checkpoint writes and model saving alike), and started again, until it finishes; a
new round starts until ``--kills`` kills were delivered. Each finished round is compared with
the reference: every array of the newest checkpoint (weights, optimizer slots, counters, ADA
and EMA state), the saved generator's weights and every history value but the seconds must be
equal, no temporary file may remain, and the lock must be released. One JSON line a round goes
to ``benchmarks/results/crash-soak.jsonl``; BENCHMARKS.md "Crash soak" quotes it.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from cxr_gan import cli
from cxr_gan.checkpoints import list_checkpoints, read_checkpoint
from cxr_gan.machine import cpu_description
from cxr_gan.rundir import LOCK_NAME, stale_temporaries

REPO = Path(__file__).resolve().parents[1]

TRAIN = [sys.executable, str(REPO / "train_gan.py"), "--preset", "demo", "--epochs", "8",
         "--checkpoint-every", "2", "--verbose", "0"]
RESUME = [sys.executable, str(REPO / "train_gan.py"), "--resume", "--verbose", "0"]
RESULTS = REPO / "benchmarks" / "results" / "crash-soak.jsonl"
cli.quiet_backend_logs()


def _start(run_dir: Path) -> subprocess.Popen:
    command = RESUME if (run_dir / "config.json").is_file() else TRAIN
    return subprocess.Popen(command + ["--out", str(run_dir)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _history(run_dir: Path) -> list[dict]:
    with open(run_dir / "history.csv") as handle:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)]


def _generator_weights(run_dir: Path) -> list[np.ndarray]:
    import keras

    return keras.models.load_model(run_dir / "generator.keras", compile=False).get_weights()


def _differences(reference: Path, run_dir: Path) -> list[str]:
    """What differs between a finished round and the reference (empty: bitwise equal)."""
    problems = []
    step_a, path_a = list_checkpoints(reference)[-1]
    step_b, path_b = list_checkpoints(run_dir)[-1]
    if step_a != step_b:
        problems.append(f"newest checkpoint step {step_b} != {step_a}")
    else:
        arrays_a, arrays_b = read_checkpoint(path_a)[1], read_checkpoint(path_b)[1]
        unequal = sum(not np.array_equal(a, b) for a, b in zip(arrays_a, arrays_b, strict=True))
        if unequal:
            problems.append(f"{unequal} checkpoint arrays differ")
    if any(not np.array_equal(a, b) for a, b in zip(_generator_weights(reference),
                                                      _generator_weights(run_dir), strict=True)):
        problems.append("generator.keras weights differ")
    if _history(reference) != _history(run_dir):
        problems.append("history.csv differs")
    if stale_temporaries(run_dir):
        problems.append(f"temporary files left: {stale_temporaries(run_dir)}")
    if (run_dir / LOCK_NAME).read_text():
        problems.append("lock not released")
    return problems


def _round(run_dir: Path, kills_left: int, rng: random.Random, max_delay: float) -> dict:
    """Starts, kills and resumes one run until it finishes (or the kill budget is spent and
    the last start is left to finish)."""
    shutil.rmtree(run_dir, ignore_errors=True)
    events = []
    while True:
        process = _start(run_dir)
        if len(events) >= kills_left:
            _, err = process.communicate()
            events.append({"signal": None, "returncode": process.returncode})
            return {"events": events, "last_stderr": err[-2000:]}
        delay = rng.uniform(0.2, max_delay)  # Seconds after the start.
        kind = rng.choice([signal.SIGKILL, signal.SIGTERM])
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.send_signal(kind)
        _, err = process.communicate()
        if process.returncode == 0:
            events.append({"signal": None, "delay_s": round(delay, 2), "returncode": 0})
            return {"events": events, "last_stderr": err[-2000:]}
        events.append({"signal": signal.Signals(kind).name, "delay_s": round(delay, 2),
                       "returncode": process.returncode})
        if process.returncode not in (-9, 143, -15):
            return {"events": events, "last_stderr": err[-2000:], "failed_start": True}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="kills to deliver in all")
    parser.add_argument("--work", default="/tmp/cxr_gan-soak", help="scratch folder")
    parser.add_argument("--seed", type=int, default=0, help="seeds the delays and signals")
    args = parser.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    reference = work / "reference"
    shutil.rmtree(reference, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run(TRAIN + ["--out", str(reference)], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL)
    reference_s = time.perf_counter() - start
    print(f"reference run: {reference_s:.1f} s", flush=True)
    rng = random.Random(args.seed)
    kills, rounds, failures = 0, 0, 0
    while kills < args.kills:
        rounds += 1
        outcome = _round(work / "killed", args.kills - kills, rng, reference_s)
        delivered = sum(e["signal"] is not None for e in outcome["events"])
        kills += delivered
        finished = outcome["events"][-1]["returncode"] == 0
        problems = _differences(reference, work / "killed") if finished else [
            f"did not finish: {outcome['events'][-1]}\n{outcome['last_stderr']}"]
        failures += bool(problems)
        record = {"round": rounds, "kills": delivered, "events": outcome["events"],
                  "bitwise_equal": not problems, "problems": problems,
                  "reference_s": round(reference_s, 1), "machine": cpu_description(),
                  "command": " ".join(TRAIN[2:])}
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        with open(RESULTS, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        signals = ", ".join(f"{e['signal']}@{e['delay_s']}s" for e in outcome["events"]
                            if e["signal"])
        print(f"round {rounds}: {delivered} kills ({signals}) -> "
              f"{'bitwise equal' if not problems else problems}", flush=True)
    print(f"{kills} kills in {rounds} rounds; {rounds - failures} of {rounds} rounds bitwise "
          "equal to the uninterrupted run")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
