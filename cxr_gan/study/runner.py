"""Runs a study's plan: one process per run, at most ``jobs`` at once, finished runs skipped,
a generator that stopped part-way resumed, a run another process holds (its run lock: another
study process on this machine or on one that shares the folder) left to it. A killed study is
resumed by running the same command again.

Progress: a line per started and finished run with the runs done, left and running, and the
time left estimated from this study's finished runs (``progress.jsonl``: the median seconds of
runs of the same kind and size, else a line through other sizes' medians:
``estimate_seconds``).
"""

from __future__ import annotations

import json
import os
import shlex
import statistics
import subprocess
import time
from pathlib import Path
from typing import Sequence

from cxr_gan.cli import UserError
from cxr_gan.study.plan import (Protocol, Run, Size, check_protocol, command, gan_epochs,
                                make_plan, read_progress, resume_command)

POLL_SECONDS = 2.0
WAIT_FOR_OTHERS_SECONDS = 30.0


def size_counts(protocol: Protocol, sizes: Sequence[Size], seeds: Sequence[int]) -> dict:
    """Per size: its training images, and its generator's images (the smallest class of the
    subset less the validation shares of ``seeds``), from the file table (no decoding)."""
    from cxr_gan.data import datasets, resolve_data

    source = resolve_data(protocol.data, protocol.cache_dir)
    records = datasets.scan(source.root, protocol.patient_pattern)
    counts = {}
    for size in sizes:
        subset = datasets.TrainingSubset(size.count, (size.cap,) if size.cap else ())
        parts, _ = datasets.split_for_run(records, protocol.split, protocol.split_seed, subset,
                                          source.root)
        datasets.check_class_sizes(parts, source.root)
        label = datasets.smallest_class(parts["train"])
        _, chosen, _ = datasets.select_training(records, protocol.split, protocol.split_seed,
                                                label, seeds, subset, source.root)
        counts[size.name] = {"train": len(parts["train"]), "gan": len(chosen), "label": label}
    return counts


def _gan_batch(protocol: Protocol) -> int:
    from cxr_gan.gan.config import get_preset

    return protocol.gan_batch_size or get_preset(protocol.gan_preset).g_batch


def check_generator_sizes(protocol: Protocol, counts: dict) -> None:
    """Refuses, before any run starts, a size whose generator would have fewer images than
    one real batch (``--gan-batch-size`` keeps the preset's ratio, as ``train_gan.py
    --batch-size`` does).

    Raises:
        UserError: Names the size, the counts and the fix.
    """
    from cxr_gan.gan.config import get_preset

    preset = get_preset(protocol.gan_preset)
    g_batch = _gan_batch(protocol)
    real_batch = max(1, g_batch * preset.real_batch // preset.g_batch)
    for name, c in counts.items():
        if preset.sampling == "permutation" and c["gan"] < real_batch:
            raise UserError(
                f"{name}: its generator would learn {c['gan']} {c['label']} images (less the "
                f"validation shares), fewer than one real batch ({real_batch}) of preset "
                f"{protocol.gan_preset!r}. Give a smaller --gan-batch-size, a larger size, or "
                "leave the GAN methods out.")


def _kind(run: Run) -> str:
    return "gan" if run.is_gan else "classifier"


def planned_images(run: Run, protocol: Protocol, images: int) -> int:
    """Images ``run`` passes through its network, from its training images: a classifier's
    epochs times its images or, when more, ``min_updates`` batches (the floor that sets the
    small sizes' cost); a generator's updates times its batch. Top-ups are left out: they add
    about the same share at every size."""
    if run.is_gan:
        batch = _gan_batch(protocol)
        steps = max(1, images // batch)
        return gan_epochs(protocol, images, batch) * steps * batch
    return max(protocol.epochs * images, (protocol.min_updates or 0) * protocol.batch_size)


def _size_medians(timed: Sequence[dict]) -> list[tuple[int, float]]:
    """(training images, median seconds) of the finished runs of each image count, by images:
    distinct x for the line through them."""
    by_images: dict[int, list[float]] = {}
    for record in timed:
        by_images.setdefault(record["images"], []).append(record["seconds"])
    return sorted((n, statistics.median(seconds)) for n, seconds in by_images.items())


def estimate_seconds(run: Run, records: Sequence[dict], images: int,
                     protocol: Protocol) -> float | None:
    """Seconds ``run`` should take, from finished runs of its kind: the median of its size's;
    for a classifier, else the line through the medians of the two sizes nearest above and
    below in training images (a run pays per image too, for loading, validating and testing);
    for a generator (a fixed update count), with one size timed, or below the smallest, the
    nearest size's median scaled by ``planned_images``. None before any such run finished
    (runs copied by ``--reuse`` do not count)."""
    timed = [r for r in records if r["kind"] == _kind(run) and r["returncode"] == 0
             and not r.get("reused")]
    same = [r["seconds"] for r in timed if r["size"] == run.size.name]
    if same:
        return statistics.median(same)
    points = _size_medians(timed)
    if not points:
        return None
    if run.is_gan or len(points) == 1 or images <= points[0][0]:
        known_images, known_seconds = min(points, key=lambda point: abs(point[0] - images))
        return known_seconds * (planned_images(run, protocol, images)
                                / max(1, planned_images(run, protocol, known_images)))
    # Above the smallest: the first size at or above, and the one below it (the two largest
    # when beyond them all).
    above = next((i for i, (n, _) in enumerate(points) if n >= images), len(points) - 1)
    (x0, y0), (x1, y1) = points[above - 1], points[above]
    return y0 + (y1 - y0) * (images - x0) / (x1 - x0)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _duration(seconds: float) -> str:
    minutes = int(round(seconds / 60))
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def remaining_estimate(pending: Sequence[Run], records: Sequence[dict], counts: dict,
                       jobs: int, protocol: Protocol) -> str:
    """"about 1 h 20 min left" (over ``jobs`` processes), or what is not yet known."""
    total, unknown = 0.0, 0
    for run in pending:
        images = counts[run.size.name]["gan" if run.is_gan else "train"]
        seconds = estimate_seconds(run, records, images, protocol)
        if seconds is None:
            unknown += 1
        else:
            total += seconds
    if unknown == len(pending) and pending:
        return "time left unknown until a run of each kind finishes"
    text = f"about {_duration(total / max(1, jobs))} left"
    return text + (f" (+ {unknown} runs not yet timed)" if unknown else "")


def _progress_line(out: Path, plan: Sequence[Run], active: dict, counts: dict,
                   jobs: int, protocol: Protocol) -> str:
    done = sum(run.done(out) for run in plan)
    pending = [run for run in plan if not run.done(out)]
    estimate = remaining_estimate(pending, read_progress(out), counts, jobs, protocol)
    return (f"[study] {done} of {len(plan)} runs done, {len(pending)} left "
            f"({len(active)} still running here); {estimate}")


def _record(out: Path, run: Run, seconds: float, cpu_seconds: float, counts: dict,
            returncode: int) -> None:
    from cxr_gan.machine import cpu_description

    entry = {"run": run.label(), "kind": _kind(run), "size": run.size.name,
             "method": run.method, "seed": run.seed, "seconds": round(seconds, 1),
             "cpu_seconds": round(cpu_seconds, 1),
             "images": counts[run.size.name]["gan" if run.is_gan else "train"],
             "returncode": returncode, "machine": cpu_description(),
             "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    config = run.folder(out) / "config.json"
    if not run.is_gan and config.is_file() and "reused_from" in json.loads(config.read_text()):
        entry["reused"] = True  # Copied (--reuse): its seconds are no run's training time.
    with open(Path(out) / "progress.jsonl", "a") as handle:  # One short line: one write.
        handle.write(json.dumps(entry) + "\n")


def plan_commands(protocol: Protocol, plan: Sequence[Run], out: Path, seeds: Sequence[int],
                  counts: dict) -> list[tuple[Run, list[str]]]:
    """Each run not yet done with its command (a stopped generator: its resume)."""
    batch = _gan_batch(protocol)
    rows = []
    for run in plan:
        if run.done(out):
            continue
        if run.is_gan and (run.folder(out) / "config.json").is_file():
            rows.append((run, resume_command(run, out)))
            continue
        epochs = gan_epochs(protocol, counts[run.size.name]["gan"], batch) if run.is_gan \
            else None
        rows.append((run, command(run, protocol, out, seeds, epochs)))
    return rows


def list_plan(protocol: Protocol, plan: Sequence[Run], out: Path, seeds: Sequence[int],
              counts: dict) -> str:
    """The remaining runs as shell commands, one a line, generators before the runs that
    need them (a scheduler must keep that order within a size)."""
    from cxr_gan.rundir import lock_holder

    lines = []
    for run, line in plan_commands(protocol, plan, out, seeds, counts):
        held = " # running elsewhere" if lock_holder(run.folder(out)) else ""
        lines.append(" ".join(shlex.quote(word) for word in line) + held)
    return "\n".join(lines)


def run_study(protocol: Protocol, sizes: Sequence[Size], methods: Sequence[str],
              seeds: Sequence[int], out: Path | str, jobs: int = 1,
              list_only: bool = False) -> list[Run]:
    """Runs every run of the plan not done yet; returns the runs that failed.

    Raises:
        UserError: Another protocol in ``out``, or bad data (before any run starts).
    """
    out = Path(out)
    plan = make_plan(sizes, methods, seeds)
    counts = size_counts(protocol, sizes, seeds)
    if any(run.is_gan for run in plan):
        check_generator_sizes(protocol, counts)
    check_protocol(out, protocol, create=not list_only)
    if list_only:
        print(list_plan(protocol, plan, out, seeds, counts))
        return []
    _print_plan(plan, sizes, methods, seeds, counts, out, jobs)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    commands = dict(plan_commands(protocol, plan, out, seeds, counts))
    pending = [run for run in plan if not run.done(out)]
    active: dict[int, tuple] = {}
    failed: list[Run] = []
    while pending or active:
        launched = _launch_ready(pending, active, failed, commands, out, jobs)
        finished = _reap(active)
        for run, returncode, seconds, cpu in finished:
            _record(out, run, seconds, cpu, counts, returncode)
            _settle(run, returncode, seconds, pending, failed, out)
            print(_progress_line(out, plan, active, counts, jobs, protocol), flush=True)
        if not launched and not finished:
            waiting_elsewhere = not active and pending
            time.sleep(WAIT_FOR_OTHERS_SECONDS if waiting_elsewhere else POLL_SECONDS)
    return failed


def _print_plan(plan: Sequence[Run], sizes, methods, seeds, counts: dict, out: Path,
                jobs: int) -> None:
    done = sum(run.done(out) for run in plan)
    generators = sum(run.is_gan for run in plan)
    with_gan = f", and {_count(generators, 'generator')}" if generators else ""
    print(f"[study] plan: {len(plan)} runs ({_count(len(set(sizes)), 'size')} x "
          f"{_count(len(methods), 'method')} x {_count(len(seeds), 'seed')}{with_gan}); "
          f"{done} done, {len(plan) - done} to run, {jobs} at a time.")
    for size in sorted(set(sizes), key=lambda s: s.name):
        c = counts[size.name]
        print(f"[study]   {size.name}: {c['train']} training images; generator of "
              f"{c['label']}: {c['gan']} images")


def _launch_ready(pending: list[Run], active: dict, failed: list[Run], commands: dict,
                  out: Path, jobs: int) -> bool:
    """Starts pending runs whose generator is done and that no other process holds, up to
    ``jobs`` at once (removed from ``pending``; a run whose generator failed goes to
    ``failed``); returns whether one started."""
    from cxr_gan.rundir import lock_holder

    launched = False
    for run in list(pending):
        if len(active) >= jobs:
            break
        need = run.needs()
        if run.done(out) or (need is not None and need in failed):
            pending.remove(run)
            if not run.done(out):
                failed.append(run)
                print(f"[study] {run.label()}: not run, its generator failed.")
            continue
        if need is not None and not need.done(out):
            continue
        if lock_holder(run.folder(out)):
            continue  # Another study process runs it; its result is picked up when done.
        log = open(out / "logs" / f"{run.size.name}-{run.folder(out).name}.log", "a")
        process = subprocess.Popen(commands[run], stdout=log, stderr=subprocess.STDOUT,
                                   cwd=Path.cwd())
        active[process.pid] = (run, time.monotonic(), log, process)
        pending.remove(run)
        launched = True
        print(f"[study] started {run.label()} (log {log.name})", flush=True)
    return launched


def _settle(run: Run, returncode: int, seconds: float, pending: list[Run], failed: list[Run],
            out: Path) -> None:
    """A finished process's run: done, taken by another process meanwhile (back to
    ``pending`` to wait for it), or failed."""
    from cxr_gan.rundir import lock_holder

    if returncode == 0 and run.done(out):
        print(f"[study] finished {run.label()} in {_duration(seconds)}", flush=True)
    elif lock_holder(run.folder(out)):
        pending.append(run)
    else:
        failed.append(run)
        print(f"[study] FAILED {run.label()} (exit {returncode}); see {out / 'logs'}",
              flush=True)


def _reap(active: dict) -> list[tuple[Run, int, float, float]]:
    """The processes of ``active`` that ended (removed from it), with their exit status, wall
    and CPU seconds (``os.wait4``: each child's own usage)."""
    ended = []
    for pid in list(active):
        waited, status, usage = os.wait4(pid, os.WNOHANG)
        if waited == 0:
            continue
        run, start, log, process = active.pop(pid)
        log.close()
        process.returncode = os.waitstatus_to_exitcode(status)  # Reaped here, not by Popen.
        cpu = usage.ru_utime + usage.ru_stime
        ended.append((run, process.returncode, time.monotonic() - start, cpu))
    return ended
