"""Tables 1-3 and Fig. 8 from classifier run directories, beside the paper's numbers.

Input: run directories written by ``train_classifier.py`` (``config.json``,
``predictions.csv``, ``metrics.json``). Output, in ``--out``: ``report.md``, ``table1.csv``,
``table2.csv``, ``mcnemar.csv`` and ``roc.png``; each says the data, split, seeds and methods.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from cxr_gan.evaluation import paper
from cxr_gan.evaluation.metrics import mcnemar_exact
from cxr_gan.runs import atomic_write_text

TABLE_1 = ("accuracy", "precision", "recall", "f1", "auc", "auc_thresholded", "fpr", "tpr")
PERCENT = ("accuracy", "precision", "recall", "f1", "auc", "auc_thresholded")


def load_run(run_dir: Path) -> dict:
    config = json.loads((run_dir / "config.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    predictions = pd.read_csv(run_dir / "predictions.csv")
    return {"dir": str(run_dir), "config": config, "metrics": metrics,
            "predictions": predictions}


def paper_table_1_from_counts(method: str) -> dict[str, float]:
    """The paper's Table 1 row recomputed from its Table 2 counts."""
    from cxr_gan.evaluation.metrics import metrics_from_counts

    counts = {k: v for k, v in paper.TABLE_2_COUNTS[method].items() if k != "source"}
    return metrics_from_counts(**counts)


def build_report(run_dirs: list[Path | str], out_dir: Path | str) -> str:
    """Writes the report files; returns the Markdown text."""
    out_dir = Path(out_dir)
    loaded = [load_run(Path(d)) for d in run_dirs]
    if not loaded:
        raise ValueError("No run directories given.")
    by_method: dict[str, list[dict]] = defaultdict(list)
    for run in loaded:
        by_method[run["config"]["method"]].append(run)
    splits = sorted({r["config"]["split"] for r in loaded})
    datas = sorted({r["config"]["data"] for r in loaded})
    synthetic = any(r["config"]["synthetic"] for r in loaded)
    seeds = sorted({r["config"]["seed"] for r in loaded})
    gan_sources = sorted({r["config"].get("generator") or r["config"].get("gan_images") or ""
                          for r in loaded if r["config"]["method"].startswith("gan")} - {""})
    gan_text = f" | GAN images: {', '.join(gan_sources)}" if gan_sources else ""
    provenance = (f"data: {', '.join(datas)}{' (SYNTHETIC PHANTOMS)' if synthetic else ''} | "
                  f"split: {', '.join(splits)} | seeds: {seeds} | methods: "
                  f"{', '.join(sorted(by_method))} | classifier: Fig. 7, "
                  f"{loaded[0]['config']['image_size']} px{gan_text}")

    # The paper's numbers are on its pooled 80/20 split (1172 test images): shown beside ours
    # only when every run used that split.
    beside_paper = splits == ["pooled"]
    rows1, rows2 = [], []
    for method, group in sorted(by_method.items()):
        values = {k: np.array([r["metrics"][k] for r in group], float) for k in TABLE_1}
        row = {"method": method, "runs": len(group)}
        for key in TABLE_1:
            scale = 100.0 if key in PERCENT else 1.0
            row[key] = float(values[key].mean() * scale)
            row[f"{key}_std"] = float(values[key].std(ddof=1) * scale) if len(group) > 1 else 0.0
            printed = paper.TABLE_1_PRINTED.get(method, {}).get(key) if beside_paper else None
            row[f"{key}_paper"] = printed
            row[f"{key}_diff"] = None if printed is None else row[key] - printed
        rows1.append(row)
        counts = {k: np.mean([r["metrics"][k] for r in group]) for k in ("tn", "fp", "fn", "tp")}
        paper_counts = paper.TABLE_2_COUNTS.get(method, {}) if beside_paper else {}
        rows2.append({"method": method, **counts,
                      **{f"{k}_paper": paper_counts.get(k) for k in ("tn", "fp", "fn", "tp")}})
    table1, table2 = pd.DataFrame(rows1), pd.DataFrame(rows2)

    mcnemar_rows = []
    if "gan" in by_method:
        for method, group in sorted(by_method.items()):
            if method == "gan":
                continue
            gan_by_seed = {r["config"]["seed"]: r for r in by_method["gan"]}
            for other in group:
                # The gan run of the same seed, else the first gan run.
                gan_run = gan_by_seed.get(other["config"]["seed"], by_method["gan"][0])
                a, b = gan_run["predictions"], other["predictions"]
                if list(a["path"]) != list(b["path"]):
                    continue  # Different test images (another split): no paired test.
                truth = (a["label"] == "PNEUMONIA").to_numpy()
                result = mcnemar_exact((a["prob_pneumonia"] >= 0.5).to_numpy() == truth,
                                       (b["prob_pneumonia"] >= 0.5).to_numpy() == truth)
                mcnemar_rows.append({"gan_seed": gan_run["config"]["seed"], "method": method,
                                     "seed": other["config"]["seed"], **result})
    mcnemar = pd.DataFrame(mcnemar_rows)

    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "table1.csv", f"# {provenance}\n" + table1.to_csv(index=False))
    atomic_write_text(out_dir / "table2.csv", f"# {provenance}\n" + table2.to_csv(index=False))
    atomic_write_text(out_dir / "mcnemar.csv", f"# {provenance}\n" + mcnemar.to_csv(index=False))
    _plot_roc(loaded, provenance, out_dir / "roc.png")

    def fmt(value, key):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return "n/a"
        return f"{value:.1f}" if key in PERCENT else f"{value:.3f}"

    lines = ["# Augmentation comparison (cf. the paper's Tables 1-3, Fig. 8)", ""]
    if synthetic:
        lines += ["**SYNTHETIC PHANTOM DATA: these numbers say nothing about radiographs.**", ""]
    lines += [provenance, ""]
    if not beside_paper:
        lines += ["The paper's values are on its pooled 80/20 split (1172 test images) and are "
                  "shown only for runs on `--split pooled`.", ""]
    lines += [
             "Ours (mean over seeds; +- std with several) beside the paper's printed value "
             "[paper]. `auc` is the ROC AUC of the probabilities; `auc_thresholded` is "
             "(TPR + TNR) / 2, the paper's \"AUC\". Percent except FPR and TPR.", "",
             "| method | runs | " + " | ".join(TABLE_1) + " |",
             "|---|---:|" + "---:|" * len(TABLE_1)]
    for row in rows1:
        cells = []
        for key in TABLE_1:
            cell = fmt(row[key], key)
            if row["runs"] > 1:
                cell += f" +- {fmt(row[f'{key}_std'], key)}"
            if row[f"{key}_paper"] is not None:
                cell += f" [{fmt(row[f'{key}_paper'], key)}]"
            cells.append(cell)
        lines.append(f"| {row['method']} | {row['runs']} | " + " | ".join(cells) + " |")
    lines += ["", "Table 2 (confusion counts, mean over seeds) [paper]:", "",
              "| method | TN | FP | FN | TP |", "|---|---:|---:|---:|---:|"]
    for row in rows2:
        cells = [f"{row[k]:.1f}" + (f" [{row[k + '_paper']}]" if row[k + "_paper"] is not None
                                    else "") for k in ("tn", "fp", "fn", "tp")]
        lines.append(f"| {row['method']} | " + " | ".join(cells) + " |")
    lines += ["", "Table 3 context (not comparable: other model, official 624-image test set):",
              ""]
    for name, values in paper.TABLE_3_CONTEXT.items():
        lines.append(f"- {name}: " + ", ".join(f"{k} {v}" for k, v in values.items()))
    if not mcnemar.empty:
        lines += ["", "McNemar's exact test, gan against each method on the same test images "
                  "(b: gan right, other wrong; c: the reverse):", "",
                  "| gan seed | method | seed | b | c | p |", "|---:|---|---:|---:|---:|---:|"]
        lines += [f"| {r.gan_seed} | {r.method} | {r.seed} | {r.b} | {r.c} | {r.p_value:.4g} |"
                  for r in mcnemar.itertuples()]
    lines += ["", "Figure: roc.png (ROC curves of every run)."]
    text = "\n".join(lines) + "\n"
    atomic_write_text(out_dir / "report.md", text)
    return text


def _plot_roc(loaded, provenance, path):
    from sklearn.metrics import roc_curve

    from cxr_gan.plots import plot_roc_curves

    curves = []
    for run in loaded:
        p = run["predictions"]
        fpr, tpr, _ = roc_curve((p["label"] == "PNEUMONIA").astype(int), p["prob_pneumonia"])
        curves.append((f"{run['config']['method']} s{run['config']['seed']} "
                       f"(AUC {run['metrics']['auc']:.3f})", fpr, tpr))
    plot_roc_curves(curves, provenance, path)
