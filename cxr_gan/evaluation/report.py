"""Tables 1-3 and Fig. 8 from classifier run directories, beside the paper's numbers.

Input: run directories written by ``train_classifier.py`` (``config.json``,
``predictions.csv``, ``metrics.json``). Output, in ``--out``: ``report.md``, ``table1.csv``,
``table2.csv``, ``mcnemar.csv``, ``intervals.csv``, ``differences.csv`` and ``roc.png``; each
says the data, split, seeds and methods.

Two classes: the paper's tables (its values beside ours on the pooled split), the positive
class being the run's (index 1; Kermany's PNEUMONIA). More classes: table 1 holds accuracy,
balanced accuracy, macro F1, macro one-vs-rest ROC AUC and each class's recall and AUC; table 2
the mean confusion matrix; McNemar and the differences use right/wrong per image (the argmax);
``roc.png`` has one one-vs-rest panel per class.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from cxr_gan.classifier.augment import GAN_METHODS, uses_generator
from cxr_gan.cli import BadFileError, MissingInputError, UserError
from cxr_gan.evaluation import paper
from cxr_gan.data import kermany
from cxr_gan.evaluation.metrics import (MULTICLASS_INTERVAL_KEYS, mcnemar_exact,
                                        method_difference, metrics_from_counts,
                                        probability_columns)
from cxr_gan.io import (DAMAGED_TABLE_ERRORS, atomic_write_text, markdown_table, read_json,
                        stored_file)
from cxr_gan.plots import RocCurves, RocPanels, plot_roc_curves, plot_roc_panels

TABLE_1 = ("accuracy", "precision", "recall", "f1", "auc", "auc_thresholded", "fpr", "tpr")
PERCENT = ("accuracy", "precision", "recall", "f1", "auc", "auc_thresholded")
COUNTS = ("tn", "fp", "fn", "tp")


# The classes of runs written before ``config.json`` named them: Kermany's, positive last.
KERMANY_CLASSES = kermany.LABELS
MULTICLASS_TABLE_1 = MULTICLASS_INTERVAL_KEYS
# What makes runs comparable in one table: the same test images, scored the same way.
PROTOCOL_KEYS = ("data", "split", "split_seed", "image_size", "epochs", "batch_size",
                 "on_the_fly", "test_images")



def _damaged(path: Path, what: str) -> BadFileError:
    return BadFileError(f"{path} {what}: rerun that classifier run (train_classifier.py), or "
                        "leave its folder out of --runs.")


def _read_dict(path: Path, required: Sequence[str]) -> dict:
    if not path.is_file():
        raise MissingInputError(f"{path} not found: --runs must name folders written by "
                                "train_classifier.py.")
    value = read_json(path)
    if not isinstance(value, dict):
        raise _damaged(path, f"holds a {type(value).__name__}, not an object")
    missing = [key for key in required if key not in value]
    if missing:
        raise _damaged(path, f"has no {', '.join(missing)}")
    return value


def _check_metrics(path: Path, metrics: dict, classes: Sequence[str]) -> None:
    if len(classes) > 2:
        for key in MULTICLASS_TABLE_1:
            value = metrics.get(key)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise _damaged(path, f"has {key} = {value!r}, not a number")
        return
    for key in ("tn", "fp", "fn", "tp"):
        value = metrics[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise _damaged(path, f"has {key} = {value!r}, not a count")
    for key in TABLE_1:
        value = metrics[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise _damaged(path, f"has {key} = {value!r}, not a number")
        finite = np.isfinite(value)
        if key in ("accuracy", "auc_thresholded") and not (finite and 0 <= value <= 1):
            raise _damaged(path, f"has {key} = {value!r}, not a number in [0, 1]")


def _check_predictions(path: Path, predictions: pd.DataFrame, config: dict,
                       metrics: dict, classes: Sequence[str]) -> None:
    columns = probability_columns(classes)
    missing = [c for c in ("path", "label", *columns) if c not in predictions.columns]
    if missing:
        raise _damaged(path, f"has no column {', '.join(missing)}")
    expected = config.get("test_images")
    if expected is None:
        expected = sum(metrics[k] for k in ("tn", "fp", "fn", "tp"))
    if len(predictions) != expected:
        raise _damaged(path, f"holds {len(predictions)} rows; the run tested {expected} images "
                             "(cut or truncated)")
    for column in columns:
        probabilities = pd.to_numeric(predictions[column], errors="coerce")
        if probabilities.isna().any() or not probabilities.between(0, 1).all():
            row = int(np.flatnonzero(probabilities.isna() | ~probabilities.between(0, 1))[0])
            raise _damaged(path, f"row {row + 2}: {column} "
                                 f"{predictions[column].iloc[row]!r} is not a probability")
    if not predictions["label"].isin(classes).all():
        raise _damaged(path, f"has labels other than {', '.join(classes)}")


def load_run(run_dir: Path) -> dict:
    """A classifier run's config, metrics and predictions, each checked: a damaged, cut or
    inconsistent file ends in one message that names it."""
    metrics = _read_dict(run_dir / "metrics.json", ())
    config = _read_dict(run_dir / "config.json", ("method", "seed", "split", "data",
                                                  "synthetic", "image_size"))
    classes = tuple(config.get("classes") or KERMANY_CLASSES)
    required = TABLE_1 + COUNTS if len(classes) == 2 else MULTICLASS_TABLE_1
    missing = [key for key in required if key not in metrics]
    if missing:
        raise _damaged(run_dir / "metrics.json", f"has no {', '.join(missing)}")
    _check_metrics(run_dir / "metrics.json", metrics, classes)
    path = stored_file(run_dir, "predictions.csv")
    try:
        predictions = pd.read_csv(path)
    except FileNotFoundError:
        raise MissingInputError(f"{path} not found: rerun that classifier run.") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, *DAMAGED_TABLE_ERRORS) as error:
        raise _damaged(path, f"cannot be read ({error})") from None
    _check_predictions(path, predictions, config, metrics, classes)
    for column in probability_columns(classes):
        predictions[column] = predictions[column].astype(float)
    return {"dir": str(run_dir), "config": config, "metrics": metrics,
            "predictions": predictions, "classes": classes}


def find_runs(paths: Sequence[Path | str]) -> list[Path]:
    """Classifier run directories: each path is one (it holds ``metrics.json``) or a parent of
    several (``*/metrics.json``). A run named twice (or through a parent and itself) counts
    once, by its resolved folder.

    Raises:
        UserError: A path holds no run.
    """
    found: dict[Path, Path] = {}
    for item in map(Path, paths):
        runs = [item] if (item / "metrics.json").is_file() else sorted(
            p.parent for p in item.glob("*/metrics.json"))
        if not runs:
            raise UserError(f"No classifier run in {item}: pass folders written by "
                            "train_classifier.py (each holds metrics.json) or their parent.")
        for run in runs:
            found.setdefault(run.resolve(), run)
    return list(found.values())


def protocol(run: dict) -> dict:
    """The fields that must agree for runs to share a table (``PROTOCOL_KEYS``)."""
    config = run["config"]
    return {**{key: config.get(key) for key in PROTOCOL_KEYS}, "classes": run["classes"]}


def check_one_protocol(loaded: Sequence[dict]) -> None:
    """Refuses runs of different protocols (another split, test set, image size, epochs or data)
    in one report, naming the field and a run on each side."""
    first = loaded[0]
    for run in loaded[1:]:
        for key, value in protocol(run).items():
            if value != protocol(first)[key]:
                raise UserError(
                    f"The runs differ in {key}: {first['dir']} has {protocol(first)[key]!r}, "
                    f"{run['dir']} has {value!r}. A report compares runs of one protocol: "
                    "make one report per protocol (--runs with those runs only).")
        if list(run["predictions"]["path"]) != list(first["predictions"]["path"]):
            raise UserError(f"{run['dir']} and {first['dir']} were tested on different images: "
                            "make one report per test set.")


def paper_table_1_from_counts(method: str) -> dict[str, float]:
    """The paper's Table 1 row recomputed from its Table 2 counts."""
    counts = {k: v for k, v in paper.TABLE_2_COUNTS[method].items() if k != "source"}
    return metrics_from_counts(**counts)


@dataclasses.dataclass(frozen=True)
class Report:
    """What the report says: its tables as DataFrames and the text that says what made them."""

    provenance: str
    synthetic: bool
    beside_paper: bool
    table1: pd.DataFrame
    table2: pd.DataFrame
    mcnemar: pd.DataFrame
    runs: list
    intervals: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    differences: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)


def _gan_source(config: dict) -> str:
    """Where a GAN run's images came from, with the generator's split (the leak guard's record;
    older runs hold the generator's path only)."""
    record = config.get("generator")
    if isinstance(record, dict):
        where = record.get("images") or record.get("path") or "?"
        return f"{where} (generator split {record.get('split')}, test overlap " \
               f"{record.get('overlap_with_test')})"
    return record or config.get("gan_images") or ""


def _provenance(loaded: list[dict], methods: Sequence[str], synthetic: bool) -> str:
    def values(key):
        return sorted({r["config"][key] for r in loaded})

    gan_sources = sorted({_gan_source(r["config"]) for r in loaded
                          if uses_generator(r["config"]["method"])} - {""})
    gan_text = f" | GAN images: {', '.join(gan_sources)}" if gan_sources else ""
    left = sorted({name for r in loaded if uses_generator(r["config"]["method"])
                   for name in (r["config"].get("train_counts") or {}).get("left_as_is", [])})
    if left:
        gan_text += (f" | the GAN methods top up their generator's class only; left as they "
                     f"are: {', '.join(left)}")
    classes = loaded[0]["classes"]
    class_text = ", ".join(classes) + (f" (positive: {classes[1]})" if len(classes) == 2 else "")
    return (f"data: {', '.join(values('data'))}{' (SYNTHETIC PHANTOMS)' if synthetic else ''} | "
            f"classes: {class_text} | "
            f"split: {', '.join(values('split'))} | seeds: {values('seed')} | methods: "
            f"{', '.join(sorted(methods))} | classifier: Fig. 7, "
            f"{loaded[0]['config']['image_size']} px{gan_text}")


def table_1_keys(classes: Sequence[str]) -> tuple[str, ...]:
    """Table 1's columns: the paper's for two classes; for more, the multi-class metrics and
    each class's recall and one-vs-rest AUC."""
    if len(classes) == 2:
        return TABLE_1
    return MULTICLASS_TABLE_1 + tuple(f"{what}_{name}" for what in ("recall", "auc")
                                      for name in classes)


def metric_values(run: dict) -> dict[str, float]:
    """A run's ``metrics.json`` as one flat dict (per-class values as ``recall_CLASS``)."""
    metrics = run["metrics"]
    if len(run["classes"]) == 2:
        return metrics
    flat = {key: metrics[key] for key in MULTICLASS_TABLE_1}
    for name, values in metrics["per_class"].items():
        flat.update({f"recall_{name}": values["recall"], f"auc_{name}": values["auc"]})
    return flat


def _percent(key: str) -> bool:
    return key in PERCENT or key in MULTICLASS_TABLE_1 or key.startswith(("recall_", "auc_"))


def table_1(by_method: dict[str, list[dict]], beside_paper: bool) -> pd.DataFrame:
    """Mean and std over seeds of each Table 1 metric, the paper's value and the difference."""
    rows = []
    classes = next(iter(by_method.values()))[0]["classes"]
    for method, group in sorted(by_method.items()):
        row = {"method": method, "runs": len(group)}
        for key in table_1_keys(classes):
            values = np.array([metric_values(r)[key] for r in group], float)
            scale = 100.0 if _percent(key) else 1.0
            row[key] = float(values.mean() * scale)
            row[f"{key}_std"] = float(values.std(ddof=1) * scale) if len(group) > 1 else 0.0
            printed = paper.TABLE_1_PRINTED.get(method, {}).get(key) if beside_paper else None
            row[f"{key}_paper"] = printed
            row[f"{key}_diff"] = None if printed is None else row[key] - printed
        rows.append(row)
    return pd.DataFrame(rows)


def table_2(by_method: dict[str, list[dict]], beside_paper: bool) -> pd.DataFrame:
    """Mean confusion counts over seeds, beside the paper's (more than two classes: the mean
    k x k matrix, one row per method and true class)."""
    rows = []
    classes = next(iter(by_method.values()))[0]["classes"]
    if len(classes) > 2:
        for method, group in sorted(by_method.items()):
            mean = np.mean([r["metrics"]["confusion"] for r in group], axis=0)
            rows += [{"method": method, "true": name,
                      **{f"called_{other}": float(mean[i, j]) for j, other in enumerate(classes)}}
                     for i, name in enumerate(classes)]
        return pd.DataFrame(rows)
    for method, group in sorted(by_method.items()):
        counts = {k: np.mean([r["metrics"][k] for r in group]) for k in COUNTS}
        paper_counts = paper.TABLE_2_COUNTS.get(method, {}) if beside_paper else {}
        rows.append({"method": method, **counts,
                     **{f"{k}_paper": paper_counts.get(k) for k in COUNTS}})
    return pd.DataFrame(rows)


def class_scores(run: dict) -> tuple[np.ndarray, np.ndarray]:
    """The test images' class indices and the run's scores: for two classes the positive
    class's probability ``(n,)``, for more the class probabilities ``(n, k)``."""
    predictions, classes = run["predictions"], run["classes"]
    labels = predictions["label"].map(classes.index).to_numpy().astype(int)
    scores = predictions[list(probability_columns(classes))].to_numpy(np.float64)
    return labels, scores[:, 0] if len(classes) == 2 else scores


def correct_answers(run: dict):
    """Whether the run got each test image right (two classes: positive at 0.5; more: the
    argmax), and the images' class indices."""
    labels, scores = class_scores(run)
    predicted = (scores >= 0.5).astype(int) if scores.ndim == 1 else scores.argmax(1)
    return predicted == labels, labels


def _gan_pairs(by_method: dict[str, list[dict]]) -> list[tuple[str, str]]:
    """Each GAN method present paired with each other method present, every unordered pair
    once: ``gan`` against ``gan+crop`` is one comparison, not two mirrored ones."""
    pairs = []
    for gan_method in GAN_METHODS:
        if not by_method.get(gan_method):
            continue
        earlier = GAN_METHODS[:GAN_METHODS.index(gan_method) + 1]  # Itself, or already paired.
        pairs += [(gan_method, method) for method in sorted(by_method) if method not in earlier]
    return pairs


def mcnemar_table(by_method: dict[str, list[dict]]) -> pd.DataFrame:
    """McNemar's exact test of each GAN method's runs (``gan``, ``gan+crop``) against each
    other method's runs on the same test images (the GAN run of the same seed, else the
    first)."""
    rows = []
    for gan_method, method in _gan_pairs(by_method):
        gan_runs, group = by_method[gan_method], by_method[method]
        gan_by_seed = {r["config"]["seed"]: r for r in gan_runs}
        for other in group:
            gan_run = gan_by_seed.get(other["config"]["seed"], gan_runs[0])
            a, b = gan_run["predictions"], other["predictions"]
            if list(a["path"]) != list(b["path"]):
                continue  # Different test images (another split): no paired test.
            result = mcnemar_exact(correct_answers(gan_run)[0], correct_answers(other)[0])
            rows.append({"gan_method": gan_method, "gan_seed": gan_run["config"]["seed"],
                         "method": method, "seed": other["config"]["seed"], **result})
    return pd.DataFrame(rows)


def differences_table(by_method: dict[str, list[dict]]) -> pd.DataFrame:
    """Each GAN method against each other method over all their seeds: the difference of the
    mean accuracy and "AUC", with a 95 % interval and the share of replicates in which the GAN
    method is ahead, from a bootstrap of seeds and test images (``method_difference``)."""
    rows = []
    for gan_method, method in _gan_pairs(by_method):
        gan_runs, group = by_method[gan_method], by_method[method]
        if any(list(r["predictions"]["path"]) != list(gan_runs[0]["predictions"]["path"])
               for r in gan_runs + group):
            continue  # Different test images (another split): no paired comparison.
        labels = correct_answers(gan_runs[0])[1]
        result = method_difference([correct_answers(r)[0] for r in gan_runs],
                                   [correct_answers(r)[0] for r in group], labels)
        row = {"gan_method": gan_method, "gan_runs": len(gan_runs), "method": method,
               "runs": len(group)}
        for key, values in result.items():
            row.update({f"{key}_{name}": value for name, value in values.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def interval_keys(classes: Sequence[str]) -> tuple[str, str]:
    """Accuracy and the balanced accuracy's name: ``auc_thresholded`` ((TPR + TNR) / 2, the
    paper's "AUC") for two classes, ``balanced_accuracy`` for more."""
    return ("accuracy", "auc_thresholded" if len(classes) == 2 else "balanced_accuracy")


def intervals_table(by_method: dict[str, list[dict]]) -> pd.DataFrame:
    """Each run's accuracy and balanced accuracy (two classes: the thresholded "AUC") with
    their 95 % bootstrap intervals (from its ``metrics.json``)."""
    rows = []
    for method, group in sorted(by_method.items()):
        for run in group:
            metrics = run["metrics"]
            row = {"method": method, "seed": run["config"]["seed"]}
            for key in interval_keys(run["classes"]):
                low, high = metrics.get("ci95", {}).get(key, (None, None))
                row.update({key: metrics[key], f"{key}_low": low, f"{key}_high": high})
            rows.append(row)
    return pd.DataFrame(rows)


def make_report(run_dirs: Sequence[Path | str]) -> Report:
    """Loads the runs and computes every table."""
    loaded = [load_run(Path(d)) for d in run_dirs]
    if not loaded:
        raise UserError("No run directories given: pass train_classifier.py output folders.")
    check_one_protocol(loaded)
    by_method: dict[str, list[dict]] = defaultdict(list)
    for run in loaded:
        by_method[run["config"]["method"]].append(run)
    # The paper's numbers are on its pooled 80/20 split (1172 test images): shown beside ours
    # only when every run used that split.
    beside_paper = (sorted({r["config"]["split"] for r in loaded}) == ["pooled"]
                    and loaded[0]["classes"] == KERMANY_CLASSES)
    synthetic = any(r["config"]["synthetic"] for r in loaded)
    return Report(provenance=_provenance(loaded, list(by_method), synthetic),
                  synthetic=synthetic,
                  beside_paper=beside_paper, table1=table_1(by_method, beside_paper),
                  table2=table_2(by_method, beside_paper), mcnemar=mcnemar_table(by_method),
                  intervals=intervals_table(by_method),
                  differences=differences_table(by_method),
                  runs=loaded)


def _fmt(value, key) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    return f"{value:.1f}" if _percent(key) else f"{value:.3f}"


def _table_1_cell(row: dict, key: str) -> str:
    cell = _fmt(row[key], key)
    if row["runs"] > 1:
        cell += f" +- {_fmt(row[f'{key}_std'], key)}"
    if row[f"{key}_paper"] is not None and not pd.isna(row[f"{key}_paper"]):
        cell += f" [{_fmt(row[f'{key}_paper'], key)}]"
    return cell


def _table_1_lines(table1: pd.DataFrame, keys: Sequence[str] = TABLE_1) -> list[str]:
    rows = [[row["method"], row["runs"], *(_table_1_cell(row, key) for key in keys)]
            for row in table1.to_dict("records")]
    return markdown_table(("method", "runs", *keys), rows,
                          "l" + "r" * (1 + len(keys))).split("\n")


def _table_2_lines(table2: pd.DataFrame) -> list[str]:
    rows = [[row["method"], *(f"{row[k]:.1f}" + (f" [{int(row[k + '_paper'])}]"
                                                 if not pd.isna(row[k + "_paper"]) else "")
                              for k in COUNTS)] for row in table2.to_dict("records")]
    return markdown_table(("method", "TN", "FP", "FN", "TP"), rows, "lrrrr").split("\n")


def _interval(value, low, high) -> str:
    if low is None or pd.isna(low):
        return f"{100 * value:.1f}"
    return f"{100 * value:.1f} [{100 * low:.1f}, {100 * high:.1f}]"


def _differences_lines(differences: pd.DataFrame, balanced: str = '"AUC"') -> list[str]:
    def cells(row, key):
        return (f"{100 * row[key + '_difference']:+.1f} [{100 * row[key + '_low']:+.1f}, "
                f"{100 * row[key + '_high']:+.1f}]", f"{row[key + '_share_above_zero']:.2f}")

    lines = ["", "Each GAN method against each other method over all their seeds: difference of "
             "the means (GAN method - method, percentage points) with its 95 % interval from "
             "10,000 bootstrap replicates that draw seeds and test images (paired), and the "
             "share of replicates in which the GAN method is ahead:", ""]
    rows = [[r["gan_method"], r["gan_runs"], r["method"], r["runs"], *cells(r, "accuracy"),
             *cells(r, "auc_thresholded")] for r in differences.to_dict("records")]
    return lines + markdown_table(("GAN method", "runs", "method", "runs", "accuracy", "ahead",
                                   balanced, "ahead"), rows, "lrlrlrlr").split("\n")


def _paired_lines(report: Report, balanced: str) -> list[str]:
    """The intervals, McNemar and differences sections (any number of classes)."""
    lines = []
    if not report.intervals.empty:
        key = "auc_thresholded" if balanced == '"AUC"' else "balanced_accuracy"
        lines += ["", "Each run with its 95 % bootstrap interval (1000 resamples of the test "
                  "images; percent):", ""]
        rows = [[r["method"], r["seed"],
                 _interval(r["accuracy"], r["accuracy_low"], r["accuracy_high"]),
                 _interval(r[key], r[f"{key}_low"], r[f"{key}_high"])]
                for r in report.intervals.to_dict("records")]
        header = '"AUC" (TPR+TNR)/2' if key == "auc_thresholded" else "balanced accuracy"
        lines += markdown_table(("method", "seed", "accuracy", header), rows,
                                "lrll").split("\n")
    if not report.mcnemar.empty:
        lines += ["", "McNemar's exact test, each GAN method against each other method on the "
                  "same test images (b: the GAN method right, the other wrong; c: the reverse):",
                  ""]
        rows = [[r.gan_method, r.gan_seed, r.method, r.seed, r.b, r.c, f"{r.p_value:.4g}"]
                for r in report.mcnemar.itertuples()]
        lines += markdown_table(("GAN method", "its seed", "method", "seed", "b", "c", "p"), rows,
                                "lrlrrrr").split("\n")
    if not report.differences.empty:
        lines += _differences_lines(report.differences, balanced)
    return lines


def render_multiclass_markdown(report: Report) -> str:
    """``report.md`` of runs with more than two classes."""
    classes = report.runs[0]["classes"]
    lines = [f"# Augmentation comparison, {len(classes)} classes ({', '.join(classes)})", ""]
    if report.synthetic:
        lines += ["**SYNTHETIC PHANTOM DATA: these numbers say nothing about radiographs.**", ""]
    lines += [report.provenance, "",
              "Mean over seeds (+- std with several), percent. Balanced accuracy: the mean of "
              "the per-class recalls; macro F1 and macro AUC: means over classes; AUC: "
              "one-vs-rest ROC AUC of the class's probability; the predicted class is the "
              "argmax.", ""]
    lines += _table_1_lines(report.table1, table_1_keys(classes))
    lines += ["", "Confusion matrix (mean over seeds; rows: true class, columns: predicted):",
              ""]
    columns = [f"called_{name}" for name in classes]
    rows = [[r["method"], r["true"], *(f"{r[c]:.1f}" for c in columns)]
            for r in report.table2.to_dict("records")]
    lines += markdown_table(("method", "true", *classes), rows,
                            "ll" + "r" * len(classes)).split("\n")
    lines += _paired_lines(report, "balanced accuracy")
    lines += ["", "Figure: roc.png (one-vs-rest ROC curves of every run, one panel per class)."]
    return "\n".join(lines) + "\n"


def render_markdown(report: Report) -> str:
    """``report.md``: the tables beside the paper's values, with what produced them."""
    if len(report.runs[0]["classes"]) > 2:
        return render_multiclass_markdown(report)
    lines = ["# Augmentation comparison (cf. the paper's Tables 1-3, Fig. 8)", ""]
    if report.synthetic:
        lines += ["**SYNTHETIC PHANTOM DATA: these numbers say nothing about radiographs.**", ""]
    lines += [report.provenance, ""]
    kermany = list(report.runs[0]["classes"]) == list(KERMANY_CLASSES)
    if not report.beside_paper:
        lines += [("The paper's values are on its pooled 80/20 split (1172 test images) and are "
                   "shown only for runs on `--split pooled`." if kermany else
                   "The paper's values are of Kermany's NORMAL / PNEUMONIA images: not shown "
                   "beside another data set."), ""]
    lines += ["Ours (mean over seeds; +- std with several) beside the paper's printed value "
              "[paper]. `auc` is the ROC AUC of the probabilities; `auc_thresholded` is "
              "(TPR + TNR) / 2, the paper's \"AUC\". Percent except FPR and TPR.", ""]
    lines += _table_1_lines(report.table1)
    lines += ["", "Table 2 (confusion counts, mean over seeds) [paper]:", ""]
    lines += _table_2_lines(report.table2)
    if kermany:
        lines += ["", "Table 3 context (not comparable: other model, official 624-image test "
                  "set):", ""]
        for name, values in paper.TABLE_3_CONTEXT.items():
            lines.append(f"- {name}: " + ", ".join(f"{k} {v}" for k, v in values.items()))
    lines += _paired_lines(report, '"AUC"')
    lines += ["", "Figure: roc.png (ROC curves of every run)."]
    return "\n".join(lines) + "\n"


def roc_curves(report: Report) -> RocCurves:
    """Every run's ROC curve, labelled with its method, seed and AUC."""
    curves = []
    for run in report.runs:
        labels, scores = class_scores(run)
        fpr, tpr, _ = roc_curve(labels, scores)
        curves.append((f"{run['config']['method']} s{run['config']['seed']} "
                       f"(AUC {run['metrics']['auc']:.3f})", fpr, tpr))
    negative, positive = report.runs[0]["classes"]
    return RocCurves(curves, report.provenance, negative=negative, positive=positive)


def roc_panels(report: Report) -> RocPanels:
    """One-vs-rest ROC curves of every run, one panel per class."""
    classes = report.runs[0]["classes"]
    panels = []
    for j, name in enumerate(classes):
        curves = []
        for run in report.runs:
            labels, scores = class_scores(run)
            fpr, tpr, _ = roc_curve(labels == j, scores[:, j])
            auc = run["metrics"]["per_class"][name]["auc"]
            curves.append((f"{run['config']['method']} s{run['config']['seed']} "
                           f"(AUC {auc:.3f})", fpr, tpr))
        panels.append((name, curves))
    return RocPanels(panels, report.provenance)


def write_report(report: Report, out_dir: Path | str) -> str:
    """Writes report.md, table1.csv, table2.csv, mcnemar.csv, intervals.csv, differences.csv
    and roc.png; returns report.md."""
    out_dir = Path(out_dir)
    for name, table in (("table1", report.table1), ("table2", report.table2),
                        ("mcnemar", report.mcnemar), ("intervals", report.intervals),
                        ("differences", report.differences)):
        atomic_write_text(out_dir / f"{name}.csv",
                          f"# {report.provenance}\n" + table.to_csv(index=False))
    if len(report.runs[0]["classes"]) > 2:
        plot_roc_panels(roc_panels(report), out_dir / "roc.png")
    else:
        plot_roc_curves(roc_curves(report), out_dir / "roc.png")
    text = render_markdown(report)
    atomic_write_text(out_dir / "report.md", text)
    return text


def build_report(run_dirs: Sequence[Path | str], out_dir: Path | str) -> str:
    """Computes the report of ``run_dirs`` and writes it to ``out_dir``; returns report.md."""
    return write_report(make_report(run_dirs), out_dir)
