"""Where the NORMAL test images called PNEUMONIA come from (issue #11, item 5).

    python experiments/false_positives.py --data ../shared/data/chest_xray \\
        --runs results/cpu-classifier/official results/cpu-classifier/pooled \\
               results/cpu-classifier/pooled-patient \\
        --out results/cpu-classifier/false_positives.md

Reads the committed classifier runs (``config.json`` and ``predictions.csv``: no model, no
training) and the images, and writes three tables:
1. per split and method, means over its seeds: the ROC AUC (threshold-free), and the share of
   NORMAL test images called PNEUMONIA at the 0.5 threshold, by the folder of Kermany's release
   each image comes from (``train/``, ``test/``; the pooled test sets' 1-3 ``val/`` images are
   left out), with their median P(PNEUMONIA);
2. fine detail (``mean_abs_laplacian`` of the gray image at the classifier's
   224 px), brightness and contrast (the pixels' mean and standard deviation) per folder and
   class; how well detail alone separates the classes (ROC AUC); and, per split, its Spearman
   correlation with P(PNEUMONIA) among the ``test/`` NORMAL images;
3. per run of the official split: what a threshold chosen on labelled images of the test
   folder would do (``recalibrated``: Youden's threshold on a random stratified half of the test
   images, scored on the other half; medians over 200 halvings). Not a Table 1 figure (it uses
   test labels): it measures how much of the false-positive rate is the threshold, not the ranking.
The pooled splits put images of both folders into their test sets, so table 1 separates "the
split" from "the images".
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import ndimage, stats
from sklearn.metrics import roc_auc_score, roc_curve

from cxr_gan.cli import run_script
from cxr_gan.data.images import read_grayscale
from cxr_gan.evaluation.metrics import classification_metrics, rates_by_group
from cxr_gan.evaluation.report import find_runs, load_run
from cxr_gan.io import atomic_write_text, list_images

SIZE = 224



def mean_abs_laplacian(gray: np.ndarray) -> float:
    """Mean absolute 4-neighbour Laplacian (``scipy.ndimage.laplace``) of a 2-D image over its
    interior pixels: a measure of fine detail (0 for any constant or linear ramp, 4 for a 0/1
    checkerboard)."""
    x = np.asarray(gray, dtype=np.float64)
    if x.ndim != 2 or min(x.shape) < 3:
        raise ValueError(f"need a 2-D image of at least 3x3 pixels, got shape {x.shape}")
    return float(np.abs(ndimage.laplace(x)[1:-1, 1:-1]).mean())

def run_rows(runs: list[dict]) -> list[dict]:
    """One row per (split, method): table 1's figures, averaged over the method's seeds."""
    grouped = defaultdict(list)
    for run in runs:
        grouped[(run["config"]["split"], run["config"]["method"])].append(run)
    rows = []
    for (split, method), members in sorted(grouped.items()):
        per_seed = []
        for run in members:
            table = run["predictions"]
            labels = (table["label"] == "PNEUMONIA").to_numpy()
            folder = table["path"].str.split("/").str[0].to_numpy()
            rates = rates_by_group(labels, table["prob_pneumonia"] >= 0.5, folder)
            normal = table[~labels]
            medians = normal.groupby(folder[~labels])["prob_pneumonia"].median()
            per_seed.append({"auc": roc_auc_score(labels, table["prob_pneumonia"]),
                             **{f"{f}_{k}": rates[f][k] for f in rates for k in ("normal", "fpr")},
                             **{f"{f}_median": medians[f] for f in medians.index}})
        row = {"split": split, "method": method,
               "seeds": sorted(r["config"]["seed"] for r in members),
               "epochs": sorted({r["config"]["epochs"] for r in members})}
        for key in per_seed[0]:
            row[key] = float(np.mean([seed[key] for seed in per_seed if key in seed]))
        row["test_fpr_range"] = (min(s.get("test_fpr", np.nan) for s in per_seed),
                                 max(s.get("test_fpr", np.nan) for s in per_seed))
        rows.append(row)
    return rows


def recalibrated(labels, probabilities, repeats: int = 200, seed: int = 0) -> dict[str, float]:
    """Median accuracy, FPR and TPR on one stratified half of the images at the threshold that
    maximises TPR - FPR (Youden) on the other half, over ``repeats`` random halvings."""
    labels = np.asarray(labels).astype(int)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    rng = np.random.default_rng(seed)
    scores = []
    for _ in range(repeats):
        chosen = np.zeros(len(labels), bool)
        for label in (0, 1):
            members = np.flatnonzero(labels == label)
            chosen[rng.choice(members, len(members) // 2, replace=False)] = True
        fpr, tpr, thresholds = roc_curve(labels[chosen], probabilities[chosen])
        threshold = thresholds[np.argmax(tpr - fpr)]
        held = classification_metrics(labels[~chosen], probabilities[~chosen], threshold)
        scores.append((held["accuracy"], held["fpr"], held["tpr"], threshold))
    accuracy, fpr, tpr, threshold = np.median(np.array(scores), axis=0)
    return {"accuracy": accuracy, "fpr": fpr, "tpr": tpr, "threshold": threshold}


def recalibrated_lines(runs: list[dict]) -> list[str]:
    """Table 3 as markdown lines: the official split's runs, at 0.5 and recalibrated."""
    lines = ["| method | seed | accuracy at 0.5 | FPR | TPR | threshold | accuracy | FPR | TPR |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for run in sorted(runs, key=lambda r: (r["config"]["method"], r["config"]["seed"])):
        if run["config"]["split"] != "official":
            continue
        table = run["predictions"]
        labels = (table["label"] == "PNEUMONIA").to_numpy()
        at_half = classification_metrics(labels, table["prob_pneumonia"])
        tuned = recalibrated(labels, table["prob_pneumonia"])
        lines.append(f"| {run['config']['method']} | {run['config']['seed']} | "
                     f"{100 * at_half['accuracy']:.1f} | {100 * at_half['fpr']:.1f} | "
                     f"{100 * at_half['tpr']:.1f} | {tuned['threshold']:.3f} | "
                     f"{100 * tuned['accuracy']:.1f} | {100 * tuned['fpr']:.1f} | "
                     f"{100 * tuned['tpr']:.1f} |")
    return lines if len(lines) > 2 else []


def image_detail(data: Path) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """``mean_abs_laplacian``, and the gray mean and standard deviation, of every train/ and
    test/ image at 224 px, keyed by the path relative to ``data`` (as ``predictions.csv``
    writes it); one progress line a folder."""
    detail, intensity = {}, {}
    for folder in ("train", "test"):
        for label in ("NORMAL", "PNEUMONIA"):
            files = list_images(data / folder / label)  # Names a missing or empty folder.
            for path in files:
                gray = read_grayscale(path, SIZE)
                key = f"{folder}/{label}/{path.name}"
                detail[key] = mean_abs_laplacian(gray)
                intensity[key] = (float(gray.mean()), float(gray.std()))
            print(f"image statistics of {folder}/{label}: {len(files)} images", flush=True)
    return detail, intensity


def detail_lines(detail: dict[str, float], intensity: dict[str, tuple[float, float]],
                 runs: list[dict]) -> list[str]:
    """Table 2 and its correlation sentences, as markdown lines."""
    lines = ["| folder | class | images | detail: median | quartiles | gray mean: median | "
             "gray std: median |", "|---|---|---:|---:|---|---:|---:|"]
    for key in ("train/NORMAL", "test/NORMAL", "train/PNEUMONIA", "test/PNEUMONIA"):
        chosen = [path for path in detail if path.startswith(key + "/")]
        values = [detail[path] for path in chosen]
        q1, _, q3 = statistics.quantiles(values, n=4)
        lines.append(f"| {key.split('/')[0]}/ | {key.split('/')[1]} | {len(values)} | "
                     f"{statistics.median(values):.2f} | {q1:.2f}-{q3:.2f} | "
                     f"{statistics.median(intensity[p][0] for p in chosen):.1f} | "
                     f"{statistics.median(intensity[p][1] for p in chosen):.1f} |")
    lines.append("")
    for folder in ("train", "test"):
        paths = [p for p in detail if p.startswith(folder + "/")]
        pneumonia = [p.split("/")[1] == "PNEUMONIA" for p in paths]
        auc = roc_auc_score(pneumonia, [-detail[p] for p in paths])
        lines.append(f"- Less detail alone ranks a `{folder}/` PNEUMONIA image above a NORMAL one "
                     f"with ROC AUC {auc:.3f}.")
    by_split = defaultdict(list)
    for run in runs:
        table = run["predictions"]
        chosen = table[table["path"].str.startswith("test/NORMAL/")]
        if len(chosen) > 2:
            rho = stats.spearmanr([detail[p] for p in chosen["path"]], chosen["prob_pneumonia"])
            by_split[run["config"]["split"]].append(float(rho.statistic))
    for split, values in sorted(by_split.items()):
        lines.append(f"- `{split}`: Spearman correlation of detail with P(PNEUMONIA) among the "
                     f"`test/` NORMAL images, over {len(values)} runs: "
                     f"median {np.median(values):+.2f} "
                     f"(from {min(values):+.2f} to {max(values):+.2f}).")
    return lines


def fpr_lines(rows: list[dict]) -> list[str]:
    """Table 1 as markdown lines (percent)."""
    lines = ["| split | method | epochs | seeds | ROC AUC | `train/` NORMAL | FPR | median P | "
             "`test/` NORMAL | FPR | (per seed) | median P |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|"]

    def cell(row: dict, key: str, form: str = ".1f", scale: float = 100) -> str:
        return f"{scale * row[key]:{form}}" if key in row and not np.isnan(row[key]) else ""

    for row in rows:
        low, high = row["test_fpr_range"]
        lines.append(
            f"| {row['split']} | {row['method']} | {', '.join(map(str, row['epochs']))} | "
            f"{', '.join(map(str, row['seeds']))} | {cell(row, 'auc')} | "
            f"{cell(row, 'train_normal', '.0f', 1)} | {cell(row, 'train_fpr')} | "
            f"{cell(row, 'train_median', '.2f', 1)} | {cell(row, 'test_normal', '.0f', 1)} | "
            f"{cell(row, 'test_fpr')} | {100 * low:.1f}-{100 * high:.1f} | "
            f"{cell(row, 'test_median', '.2f', 1)} |")
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/chest_xray"))
    parser.add_argument("--runs", nargs="+", required=True,
                        help="classifier run folders, or folders holding them")
    parser.add_argument("--out", type=Path, default=None, help="markdown file (default: print)")
    args = parser.parse_args(argv)
    runs = [load_run(path) for path in find_runs(args.runs)]
    rows = run_rows(runs)
    detail, intensity = image_detail(args.data)
    table_3 = recalibrated_lines(runs)
    text = "\n".join([
        "# NORMAL test images called PNEUMONIA, by the folder they come from",
        "",
        f"`python experiments/false_positives.py --data {args.data} --runs "
        f"{' '.join(map(str, args.runs))}`: {len(runs)} runs' `predictions.csv`; images of "
        f"`{args.data}` (Kermany; train/ and test/ are 224x224 copies) read in gray at {SIZE} px.",
        "",
        "Percent. FPR: NORMAL images called PNEUMONIA at the 0.5 threshold; median P: their "
        "median P(PNEUMONIA); means over seeds, with each seed's `test/` FPR.",
        "",
        *fpr_lines(rows),
        "",
        "Fine detail: mean absolute 4-neighbour Laplacian of the gray 224-px image; gray mean and "
        "standard deviation of its pixels (all on the 0-255 scale).",
        "",
        *detail_lines(detail, intensity, runs),
        "",
        *(["Official split, threshold chosen on half of the test images (Youden), scored on the "
           "other half; medians over 200 stratified halvings (seed 0). Uses test labels: an "
           "analysis, not a result to compare with Table 1.", "", *table_3, ""]
          if table_3 else []),
    ])
    if args.out:
        atomic_write_text(args.out, text)
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
