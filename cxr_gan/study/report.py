"""A study's report: per size and arm the mean over seeds of accuracy, balanced accuracy
((TPR + TNR) / 2 for two classes: the paper's "AUC") and ROC AUC, each with a 95 % interval
over seeds and test images (``metrics.arm_interval``); the learning curves; per size each GAN
arm against the best non-GAN arm (by mean balanced accuracy) with the seed-and-image interval of
the difference (``metrics.method_difference``) and McNemar's test per seed, and the same against
the count-matched ``duplicate`` copies; and one verdict per size (against the best arm) that says
what the intervals allow and nothing more.

    OUT/report/study.md   the tables and verdicts with their provenance
    OUT/report/study.csv  one row per size and arm
    OUT/report/runs.csv   one row per run: its scores, epochs, kept epoch, CPU seconds, machine
                          (study.md adds the CPU seconds per point, kind and machine)
    OUT/report/learning_curve.png
"""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pandas as pd

from cxr_gan.classifier.augment import uses_generator
from cxr_gan.classifier.train import images_per_epoch
from cxr_gan.cli import UserError
from cxr_gan.evaluation.metrics import arm_interval, mcnemar_exact, method_difference
from cxr_gan.evaluation.report import class_scores, correct_answers, load_run
from cxr_gan.io import (DAMAGED_TABLE_ERRORS, atomic_write_text, markdown_table, read_json,
                        stored_file, write_csv)
from cxr_gan.study.plan import read_progress

KEYS = ("accuracy", "balanced_accuracy", "auc")


def load_study(out: Path) -> dict[str, dict[str, list[dict]]]:
    """``{size folder: {method: [runs]}}`` of every finished classifier run under ``out``,
    the sizes in order of training images (every table, verdict and note follows it)."""
    sizes: dict[str, dict[str, list[dict]]] = {}
    for folder in sorted(Path(out).glob("*/*/metrics.json")):
        run = load_run(folder.parent)
        sizes.setdefault(folder.parent.parent.name, {}).setdefault(
            run["config"]["method"], []).append(run)
    if not sizes:
        raise UserError(f"{out} holds no finished classifier run of a study yet.")
    return dict(sorted(sizes.items(),
                       key=lambda item: _training_images(next(iter(item[1].values())))))


def _training_images(runs: list[dict]) -> int:
    counts = runs[0]["config"]["train_counts"]
    kept = sum(v for k, v in counts.items() if k in runs[0]["classes"])
    return kept + runs[0]["config"]["validation_images"]


def arm_rows(sizes: dict) -> list[dict]:
    """One row per size and arm: its runs, training images and the three intervals."""
    rows = []
    for size, by_method in sizes.items():
        for method, runs in sorted(by_method.items()):
            right = [correct_answers(r)[0] for r in runs]
            labels = correct_answers(runs[0])[1]
            two = len(runs[0]["classes"]) == 2
            scores = [class_scores(r)[1] for r in runs] if two else None
            interval = arm_interval(right, labels, scores)
            row = {"size": size, "method": method, "runs": len(runs),
                   "seeds": sorted(r["config"]["seed"] for r in runs),
                   "training_images": _training_images(runs)}
            for key, values in interval.items():
                row.update({key: values["mean"], f"{key}_low": values["low"],
                            f"{key}_high": values["high"]})
            rows.append(row)
    return rows


def comparisons(sizes: dict, against: str | None = None) -> list[dict]:
    """Per size, each GAN arm against the best non-GAN arm by mean balanced accuracy, on the
    seeds both have; or, with ``against``, against that arm where the size has it and it is
    not already the best (``duplicate``: the count-matched copies of the real images)."""
    found = []
    for size, by_method in sizes.items():
        plain = {m: runs for m, runs in by_method.items() if not uses_generator(m)}
        gans = {m: runs for m, runs in by_method.items() if uses_generator(m)}
        if not plain or not gans:
            continue
        best = max(sorted(plain), key=lambda m: np.mean([_balanced(r) for r in plain[m]]))
        if against is not None and (against not in plain or against == best):
            continue
        found += [c for method, runs in sorted(gans.items())
                  if (c := _compare(size, method, runs, against or best, plain[against or best]))]
    return found


def _compare(size: str, method: str, all_runs: list[dict], other: str,
             other_runs: list[dict]) -> dict | None:
    """One GAN arm against one other arm: the seed-and-image interval of the difference and
    McNemar's p per seed, over the seeds both have."""
    by_seed = {r["config"]["seed"]: r for r in other_runs}
    # The seeds both arms have: a seed fixes the validation share and the start, and moves
    # every arm together (results/study/), so unmatched seeds would confound.
    runs = [r for r in all_runs if r["config"]["seed"] in by_seed]
    if not runs:
        return None
    paired = [by_seed[r["config"]["seed"]] for r in runs]
    labels = correct_answers(other_runs[0])[1]
    result = method_difference([correct_answers(r)[0] for r in runs],
                               [correct_answers(r)[0] for r in paired], labels)
    p_values = {r["config"]["seed"]: mcnemar_exact(
        correct_answers(r)[0], correct_answers(b)[0])["p_value"] for r, b in zip(runs, paired)}
    return {"size": size, "gan_method": method, "against": other, "runs": len(runs),
            "seeds": sorted(p_values), "balanced": result["auc_thresholded"],
            "accuracy": result["accuracy"], "mcnemar_p": p_values}


def kept_epoch(run_dir: Path, config: dict) -> int | None:
    """The epoch whose weights a run kept: the lowest validation loss (the first, on a tie)
    from the epoch early stopping starts judging on; Keras restores it when training ends."""
    path = stored_file(run_dir, "history.csv")
    if not path.is_file():
        return None
    try:
        history = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, *DAMAGED_TABLE_ERRORS) as error:
        raise UserError(f"{path} cannot be read ({error}): rerun that classifier run, or "
                        "remove its folder for the study to train it again.") from None
    start = (config.get("epoch_budget") or {}).get("start_from_epoch", 0)
    judged = history[history["epoch"] >= start] if "val_loss" in history else history.iloc[:0]
    return int(judged.loc[judged["val_loss"].idxmin(), "epoch"]) if len(judged) else None


RUN_HEADER = ("size", "method", "seed", "accuracy", "balanced_accuracy", "auc", "epochs_run",
              "epoch_budget", "kept_epoch", "images_per_epoch", "cpu_seconds",
              "cpu_seconds_per_image_epoch", "machine")


def _per_image_epoch(cpu_seconds, images, epochs) -> float | None:
    """CPU seconds per training image and epoch run: the rate an estimate of CPU time scales
    by images and epochs."""
    return cpu_seconds / (images * epochs) if cpu_seconds and images and epochs else None


def run_rows(out: Path, sizes: dict, arms: list[dict]) -> list[dict]:
    """One row per run in the order of ``arms`` (``arm_rows``); its CPU seconds from
    ``progress.jsonl`` (none for a run copied by ``--reuse``: its seconds are no training)."""
    seconds = {r["run"]: r["cpu_seconds"] for r in read_progress(out)
               if r.get("returncode") == 0 and not r.get("reused") and r.get("method")}
    rows = []
    for arm in arms:
        for run in sorted(sizes[arm["size"]][arm["method"]], key=lambda r: r["config"]["seed"]):
            config, metrics = run["config"], run["metrics"]
            cpu = seconds.get(f"{arm['size']} {arm['method']} seed {config['seed']}")
            images = images_per_epoch(config.get("train_counts") or {}) or None
            rows.append({
                "size": arm["size"], "method": arm["method"], "seed": config["seed"],
                "accuracy": metrics["accuracy"], "balanced_accuracy": _balanced(run),
                "auc": metrics.get("auc"), "epochs_run": config.get("epochs_run"),
                "epoch_budget": (config.get("epoch_budget") or {}).get("epochs"),
                "kept_epoch": kept_epoch(run["dir"], config), "images_per_epoch": images,
                "cpu_seconds": cpu, "cpu_seconds_per_image_epoch":
                    _per_image_epoch(cpu, images, config.get("epochs_run")),
                "machine": config.get("versions", {}).get("machine")})
    return rows


def _run_lines(rows: list[dict]) -> list[str]:
    def text(value, form="{}"):
        return "" if value is None or value != value else form.format(value)

    def percent(value):
        return text(None if value is None else 100 * value, "{:.1f}")

    table = [[r["size"], r["method"], r["seed"], percent(r["accuracy"]),
              percent(r["balanced_accuracy"]), percent(r["auc"]),
              text(r["epochs_run"]) + (f" of {r['epoch_budget']}" if r["epoch_budget"] else ""),
              text(r["kept_epoch"]), text(r["images_per_epoch"]),
              text(r["cpu_seconds"], "{:.0f}"),
              text(None if r["cpu_seconds_per_image_epoch"] is None
                   else 1000 * r["cpu_seconds_per_image_epoch"], "{:.0f}"),
              text(r["machine"])] for r in rows]
    header = ("size", "method", "seed", "accuracy", "balanced accuracy", "ROC AUC",
              "epochs run (at most)", "epoch kept", "images an epoch", "CPU s",
              "CPU ms an image-epoch", "machine")
    return ["", "## Runs", "", "Each run: its scores on the test set (percent); the epochs it "
            "ran of its budget; the epoch whose weights it kept (the lowest validation loss once "
            "early stopping judges); the images an epoch trains on (top-up copies included); "
            "its process's CPU seconds (`progress.jsonl`) and their milliseconds per training "
            "image and epoch run (the rate the README's CPU estimates scale; they compare on one "
            "machine only).", "",
            *markdown_table(header, table, "llrrrrlrrrrl").split("\n")]


def cpu_rows(records: list[dict], order: list[str]) -> list[dict]:
    """The CPU seconds of every process a study ran (``progress.jsonl`` records), summed per
    point, kind (classifier or generator) and machine, then per machine over all points.

    Every trained process counts, a failed or repeated one too (its CPU was spent); a run copied
    by ``--reuse`` does not (its seconds are no training). Points follow ``order``, then any
    point with records but no finished run."""
    groups: dict[tuple, list[dict]] = collections.defaultdict(list)
    for record in records:
        if not record.get("reused"):
            kind = "generator" if record.get("kind") == "gan" else "classifier"
            groups[(record["size"], kind, record.get("machine") or "not recorded")].append(
                record)
    points = list(order) + sorted({k[0] for k in groups if k[0] not in order}, key=str)
    keys = sorted(groups, key=lambda k: (points.index(k[0]), k[1], k[2]))
    totals: dict[tuple, list[dict]] = collections.defaultdict(list)
    for point, kind, machine in keys:
        totals[(machine, kind)] += groups[(point, kind, machine)]
    return ([_cpu_row(point, kind, machine, groups[(point, kind, machine)])
             for point, kind, machine in keys]
            + [_cpu_row("all points", kind, machine, totals[(machine, kind)])
               for machine, kind in sorted(totals)])


def _cpu_row(point, kind: str, machine: str, records: list[dict]) -> dict:
    seconds = sum(r.get("cpu_seconds") or 0.0 for r in records)
    return {"point": point, "kind": kind, "machine": machine, "processes": len(records),
            "failed": sum(r.get("returncode") != 0 for r in records),
            "cpu_seconds": seconds, "cpu_hours": seconds / 3600}


def _cpu_lines(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    table = [[r["point"], r["kind"], r["machine"], r["processes"], r["failed"],
              f"{r['cpu_seconds']:.0f}", f"{r['cpu_hours']:.2f}"] for r in rows]
    return ["", "## CPU time", "", "Every process the study ran (`progress.jsonl`), summed per "
            "point, kind and machine, then per machine over all points: a failed or repeated "
            "process counts (its CPU was spent), a run copied by `--reuse` does not, and a run "
            "lost before its record was written is not in it. Seconds compare on one machine "
            "only.", "",
            *markdown_table(("point", "kind", "machine", "processes", "of them failed",
                             "CPU s", "CPU hours"), table, "lllrrrr").split("\n")]


def _balanced(run: dict) -> float:
    metrics = run["metrics"]
    return metrics.get("balanced_accuracy", metrics.get("auc_thresholded"))


def verdict(row: dict) -> str:
    """What the balanced-accuracy interval of a GAN arm against the best other arm allows."""
    d = row["balanced"]
    points = f"{100 * d['difference']:+.1f} points [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}]"
    seeds = f"seed{'s' * (row['runs'] > 1)} {', '.join(map(str, row['seeds']))} of both"
    if d["low"] > 0:
        return (f"{row['gan_method']} beats {row['against']} (the best arm without a generator) "
                f"on balanced accuracy: {points}, {seeds}.")
    if d["high"] < 0:
        return (f"{row['gan_method']} is behind {row['against']} (the best arm without a "
                f"generator) on balanced accuracy: {points}, {seeds}.")
    return (f"no difference shown between {row['gan_method']} and {row['against']} (the best "
            f"arm without a generator): {points} holds 0, {seeds}; the data allow neither "
            "claim.")


def provenance(sizes: dict) -> str:
    run = next(iter(next(iter(sizes.values())).values()))[0]
    config = run["config"]
    synthetic = " (SYNTHETIC PHANTOMS)" if config["synthetic"] else ""
    return (f"data: {config['data']}{synthetic} | classes: {', '.join(run['classes'])} | split: "
            f"{config['split']} (seed {config['split_seed']}), test set fixed: "
            f"{config['test_images']} images | classifier: Fig. 7, {config['image_size']} px, "
            f"{_budget(config)} | {_machines(sizes)}")


def _machines(sizes: dict) -> str:
    """Every machine the runs were made on, with its runs (a study may span several)."""
    found = collections.Counter(
        run["config"].get("versions", {}).get("machine", "not recorded (see progress.jsonl)")
        for methods in sizes.values() for runs in methods.values() for run in runs)
    if len(found) == 1:
        return f"machine: {next(iter(found))}"
    return "machines: " + "; ".join(f"{name} ({n} run{'s' * (n > 1)})"
                                   for name, n in found.most_common())


def _budget(config: dict) -> str:
    if config.get("min_updates"):
        return (f"at least {config['epochs']} epochs and {config['min_updates']} updates, "
                "early stopping after the batch-norm warm-up")
    return f"at most {config['epochs']} epochs"


def _cell(row: dict, key: str) -> str:
    if key not in row or row[key] is None or np.isnan(row[key]):
        return ""
    return f"{100 * row[key]:.1f} [{100 * row[f'{key}_low']:.1f}, {100 * row[f'{key}_high']:.1f}]"


def render(sizes: dict, rows: list[dict], compared: list[dict], gan_note: str,
           runs: list[dict], figure: bool = True, cpu: list[dict] = (),
           copies: list[dict] = ()) -> str:
    lines = ["# Learning-curve study", ""]
    first = next(iter(next(iter(sizes.values())).values()))[0]
    if first["config"]["synthetic"]:
        lines += ["**SYNTHETIC PHANTOM DATA: these numbers say nothing about radiographs.**", ""]
    lines += [provenance(sizes), "", gan_note, "",
              "Mean over seeds, percent, with 95 % intervals over seeds and test images "
              "(a bootstrap drawing both). Balanced accuracy is the mean per-class recall; for "
              "two classes it is (TPR + TNR) / 2, the paper's \"AUC\". ROC AUC: the area under "
              "the ROC curve of the probabilities (two classes).", ""]
    table = [[r["size"], r["training_images"], r["method"], r["runs"],
              *(_cell(r, key) for key in KEYS)] for r in rows]
    lines += markdown_table(("size", "training images", "method", "runs", "accuracy",
                             "balanced accuracy (\"AUC\")", "ROC AUC"), table,
                            "lrlrlll").split("\n")
    if compared:
        lines += ["", "## GAN arms against the best arm without a generator", "",
                  "Difference of the means (GAN arm - best other arm by mean balanced "
                  "accuracy, over the seeds both have), points, with the seed-and-image "
                  "bootstrap interval; McNemar's exact p per seed (the runs of one seed on the "
                  "same test images). The best other arm is chosen on these test images, which "
                  "favours it a little.", ""]
        lines += _comparison_table(compared)
        lines += ["", "## Verdicts", ""]
        lines += [f"- {c['size']}: {verdict(c)}" for c in compared]
    if copies:
        lines += ["", "## GAN arms against the count-matched copies (`duplicate`)", "",
                  "The same comparison against the top-up with unaltered copies of the real "
                  "images (where `duplicate` is not already the best arm): what the generated "
                  "images add over the real ones they were learned from. No verdict rests on "
                  "it.", ""]
        lines += _comparison_table(copies)
    lines += _run_lines(runs)
    lines += _cpu_lines(list(cpu))
    lines += ["", "Figure: learning_curve.png." if figure else
              "No figure: a learning curve needs a `size-*` point; a class cap is a point "
              "off the curve (its table rows above)."]
    return "\n".join(lines) + "\n"


def _comparison_table(compared: list[dict]) -> list[str]:
    def points(result: dict) -> str:
        return (f"{100 * result['difference']:+.1f} [{100 * result['low']:+.1f}, "
                f"{100 * result['high']:+.1f}]")

    table = [[c["size"], c["gan_method"], c["against"], points(c["balanced"]),
              points(c["accuracy"]),
              ", ".join(f"s{s} {p:.3g}" for s, p in sorted(c["mcnemar_p"].items()))]
             for c in compared]
    return markdown_table(("size", "GAN arm", "against", "balanced accuracy", "accuracy",
                           "McNemar p"), table, "llllll").split("\n")


def gan_note(out: Path, sizes: dict) -> str:
    """Each size's generator, and its scores where ``evaluate.py score`` wrote them to
    ``SIZE/gan/scores/fid.json``."""
    parts = []
    for size in sizes:
        config = Path(out) / size / "gan" / "config.json"
        if config.is_file():
            gan = read_json(config)
            parts.append(f"{size}: {gan['preset']['name']}, {gan['epochs']} epochs, class "
                         f"{gan['label']}, seed {gan['seed']}{_gan_scores(config.parent)}")
    return ("Generators (each size its own, trained on that size's images of its class): "
            + "; ".join(parts)) if parts else "No generator in this study."


def _gan_scores(gan_dir: Path) -> str:
    path = gan_dir / "scores" / "fid.json"
    if not path.is_file():
        return " (not scored)"
    fid = read_json(path)
    return (f" (`evaluate.py score`, {fid['n_fake']} generated images against its "
            f"{fid['n_real']} training images: FID-768 {fid['fid_768']:.3f}, KID "
            f"{fid['kid_mean']:.3f}, precision {fid['precision']:.3f}, recall "
            f"{fid['recall']:.3f}; memorisation check: {fid['copies']} copies, "
            f"{fid['near_copies']} near-copies)")


def write_study_report(out: Path | str) -> Path:
    """Writes ``out/report/``; returns the Markdown file."""
    from cxr_gan.plots import LearningCurves, plot_learning_curves

    out = Path(out)
    sizes = load_study(out)
    rows = arm_rows(sizes)
    compared = comparisons(sizes)
    folder = out / "report"
    folder.mkdir(parents=True, exist_ok=True)
    runs = run_rows(out, sizes, rows)
    curves = [r for r in rows if r["size"].startswith("size-")]
    text = render(sizes, rows, compared, gan_note(out, sizes), runs, figure=bool(curves),
                  cpu=cpu_rows(read_progress(out), list(sizes)),
                  copies=comparisons(sizes, against="duplicate"))
    atomic_write_text(folder / "study.md", text)
    write_csv(folder / "runs.csv", RUN_HEADER, ([r[h] for h in RUN_HEADER] for r in runs))
    header = ["size", "training_images", "method", "runs"] + [
        f"{k}{s}" for k in KEYS for s in ("", "_low", "_high")]
    write_csv(folder / "study.csv", header, ([r.get(h, "") for h in header] for r in rows))
    if not curves:
        # A figure left by an earlier report of this folder would show runs no longer in it.
        (folder / "learning_curve.png").unlink(missing_ok=True)
        return folder / "study.md"
    # ROC AUC beside the thresholded two: at small sizes they can part (results/study/).
    keys = KEYS if all("auc" in r for r in curves) else KEYS[:2]
    plot_learning_curves(LearningCurves(rows=curves, keys=keys, provenance=provenance(sizes)),
                         folder / "learning_curve.png")
    return folder / "study.md"
