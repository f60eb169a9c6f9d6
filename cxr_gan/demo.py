"""The main job: the whole method on the embedded synthetic phantoms, in one process.

Five stages, each a call of the same package functions the three scripts call:

1. ``train_gan.py`` : the ``phantoms`` GAN learns the phantoms' NORMAL class (less the classifier's
   validation share of seed 0, so that its images may serve the classifier);
2. ``train_gan.py generate`` : seeded PNGs with their provenance;
3. ``evaluate.py score`` : FID, KID, precision, recall, density, coverage against the run's own
   training images, and the memorisation check;
4. ``train_classifier.py`` : the classifier with ``none``, ``flip`` and ``gan`` (the leak guard
   checks the generated folder first);
5. ``evaluate.py report`` : the tables and the ROC figure.

Each stage prints its wall time; the last lines say what to open. ``DemoConfig`` holds every
setting, written to ``OUT/demo_config.json``. Everything it writes says SYNTHETIC: the phantoms
show that the code works, not what a GAN does for radiographs.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable

from cxr_gan.cli import UserError
from cxr_gan.io import write_json


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """The main job's settings (the README's figures were measured with these defaults).

    Attributes:
        gan_preset: The GAN preset (``phantoms``: ``demo`` tuned for the phantoms).
        gan_epochs: Its epochs.
        num_images: Generated images (the classifier's top-up needs about 280).
        methods: Classifier arms.
        image_size: Classifier input size in pixels.
        epochs: Classifier epochs at most (early stopping on the validation loss).
        learning_rate: The classifier's Adam learning rate.
        seed: Seed of every stage.
    """

    gan_preset: str = "phantoms"
    gan_epochs: int = 100
    num_images: int = 300
    methods: tuple[str, ...] = ("none", "flip", "gan")
    image_size: int = 64
    epochs: int = 15
    learning_rate: float = 3e-3
    seed: int = 0


# The same path, smaller, for a test: a 4-epoch GAN still trains and generates, but its images
# are noise, so a `gan` arm would learn "noise is NORMAL" (measured: every phantom called
# PNEUMONIA, ROC AUC 0.63); the arms that do not depend on the generator's quality are the ones
# a test can hold to ranking the phantoms.
# Its classifier reads the main job's 64 px: at 32 px `none` ranked on one CPU and called every
# phantom PNEUMONIA on another (BENCHMARKS.md, "The test suite").
QUICK = DemoConfig(gan_epochs=4, num_images=300, methods=("none", "flip"))


def _stage(name: str, index: int, total: int, times: dict, work: Callable):
    """Runs ``work()`` as stage ``index`` of ``total`` (0: the setup), printing its wall time."""
    where = f"{index}/{total}" if index else "setup"
    print(f"\n== [{where}] {name}", flush=True)
    start = time.perf_counter()
    result = work()
    times[name] = time.perf_counter() - start
    print(f"== [{where}] {name}: {times[name]:.0f} s", flush=True)
    return result


def run_demo(out: Path | str, config: DemoConfig = DemoConfig(), cache: str | None = None,
             verbose: int = 2, score: bool = True) -> dict:
    """Runs the five stages into ``out`` (a new folder); returns the figures it printed.

    ``score=False`` leaves out stage 3 (the FID network: the slowest stage on a CPU).
    """
    from cxr_gan.classifier.train import run_many
    from cxr_gan.data import resolve_data
    from cxr_gan.evaluation.report import build_report, find_runs
    from cxr_gan.fid.features import FeatureExtractor
    from cxr_gan.fid.report import format_fid_result
    from cxr_gan.fid.run_scores import score_run
    from cxr_gan.gan.generate import generate_pngs
    from cxr_gan.gan.train import make_run_config, summarize, train_gan
    from cxr_gan.io import cache_dir

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} is not empty: the main job writes a new folder (choose another "
                        "--out; results are never overwritten).")
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "demo_config.json", config)
    times: dict[str, float] = {}
    total = 5 if score else 4
    steps = iter(range(1, total + 1))
    source = _stage("the synthetic phantoms", 0, total, times, lambda: resolve_data(None, cache))
    gan_dir, images, scores = out / "gan", out / "gan" / "generated", out / "gan" / "scores"
    gan_config = make_run_config(None, config.gan_preset, config.gan_epochs, seed=config.seed,
                                 cache_dir=cache, validation_seeds=(config.seed,))
    result = _stage("GAN training (train_gan.py)", next(steps), total, times,
                    lambda: train_gan(gan_config, gan_dir, verbose=verbose, cache=cache))
    print(summarize(result))
    _stage("generation (train_gan.py generate)", next(steps), total, times,
           lambda: generate_pngs(gan_dir / "generator.keras", config.num_images, config.seed,
                                 images))
    figures: dict = {"times_s": times}
    if score:
        extractor = FeatureExtractor(None, cache_dir(cache) / "fid")
        fid = _stage("FID, KID, precision/recall, memorisation (evaluate.py score)",
                     next(steps), total, times,
                     lambda: score_run(gan_dir, images, scores, extractor=extractor))
        print(format_fid_result(fid))
        figures["gan"] = {k: fid[k] for k in ("fid_768", "fid_2048", "kid_mean", "precision",
                                              "recall", "density", "coverage", "copies")}
    runs = _stage("classifier arms (train_classifier.py)", next(steps), total, times,
                  lambda: run_many(None, list(config.methods), [config.seed],
                                   str(out / "classifier"), verbose=verbose, cache_dir=cache,
                                   gan_images=str(images), image_size=config.image_size,
                                   epochs=config.epochs, learning_rate=config.learning_rate))
    figures["classifier"] = {method: {k: metrics[k] for k in ("accuracy", "auc", "tn", "fp",
                                                               "fn", "tp")}
                             for method, _, metrics in runs}
    report = out / "report"
    _stage("report (evaluate.py report)", next(steps), total, times,
           lambda: build_report(find_runs([out / "classifier"]), report))
    write_json(out / "demo_figures.json", figures)
    print(closing_lines(out, source.root, figures, score))
    return figures


def closing_lines(out: Path, data: Path, figures: dict, scored: bool) -> str:
    """What the main job did, in numbers, and which files to open."""
    lines = ["", "== Done. SYNTHETIC PHANTOMS (" + str(data) + "): these numbers show the code "
             "working, not what a GAN does for radiographs.",
             "Stage times: " + ", ".join(f"{name.split(' (')[0]} {seconds:.0f} s"
                                         for name, seconds in figures["times_s"].items())
             + f"; total {sum(figures['times_s'].values()):.0f} s"]
    if scored:
        gan = figures["gan"]
        lines.append(f"GAN: FID-768 {gan['fid_768']:.3f}, KID {gan['kid_mean']:.3f}, precision "
                     f"{gan['precision']:.3f}, recall {gan['recall']:.3f}, {gan['copies']} "
                     "copies of a training image")
    for method, metrics in figures["classifier"].items():
        lines.append(f"classifier {method:>5}: accuracy {metrics['accuracy']:.3f}, ROC AUC "
                     f"{metrics['auc']:.3f} (TN {metrics['tn']} FP {metrics['fp']} FN "
                     f"{metrics['fn']} TP {metrics['tp']})")
    if figures["classifier"]:  # Every arm is tested on the same images.
        counts = next(iter(figures["classifier"].values()))
        n = counts["tn"] + counts["fp"] + counts["fn"] + counts["tp"]
        majority = max(counts["fn"] + counts["tp"], counts["tn"] + counts["fp"]) / n
        lines.append(f"(calling every test image the majority class scores accuracy "
                     f"{majority:.3f} and ROC AUC 0.5)")
    lines += ["Open:", f"  {out / 'report' / 'report.md'}  (tables 1-3 beside the paper's "
              "layout)", f"  {out / 'report' / 'roc.png'}  (ROC curve of each arm)",
              f"  {out / 'gan' / 'figures'}  (generated samples beside real ones, losses)"]
    if scored:
        lines.append(f"  {out / 'gan' / 'scores' / 'fid.json'}  (every quality figure)")
    return "\n".join(lines)
