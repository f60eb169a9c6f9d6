#!/usr/bin/env python3
"""A finished GAN run's committed results: 2534 generated images scored against the run's own
training images (its manifest: FID-768, FID-2048, KID, precision, recall, density, coverage),
the memorisation check with its split's test images of the class as the hold-out, a grid of
generated images, and the run's config, history and figures that show no real image.

    python experiments/gan_results.py --run runs/efficient-s0 --data ../shared/data/chest_xray \\
        --out results/gan-efficient/efficient-s0

Equivalent to `train_gan.py generate` + `evaluate.py score` (the commands are written into
``--out/commands-GENERATOR.txt``). Weights and generated images stay in ``--run``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def write_ceiling(extractor, train, generated: Path, config: dict, stem: Path) -> None:
    """The ceiling table (``cxr_gan.fid.ceiling``) as ``stem.md`` and ``stem.json``."""
    import dataclasses
    import json

    from cxr_gan.fid.ceiling import ceiling_table, format_ceiling

    fake, _ = extractor.folder_statistics(generated)
    rows = ceiling_table(extractor, train, fake, int(config["preset"]["image_size"]),
                         config.get("resize_filter", "bilinear"))
    stem.with_suffix(".md").write_text(format_ceiling(rows) + "\n")
    stem.with_suffix(".json").write_text(json.dumps([dataclasses.asdict(r) for r in rows],
                                                    indent=2) + "\n")
    print(format_ceiling(rows))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a finished train_gan.py run directory")
    parser.add_argument("--data", required=True, help="the Kermany folder (train/, test/)")
    parser.add_argument("--out", required=True, help="results folder (committed)")
    parser.add_argument("--generator", default="generator.keras",
                        help="file in --run to sample (e.g. generator_best.keras)")
    parser.add_argument("--num-images", type=int, default=2534)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ceiling", action="store_true",
                        help="also the resolution's ceiling table (evaluate.py fid --ceiling)")
    return parser


def _plot_first_images(generated: Path, stem: str, seed: int, config: dict, run: Path,
                       out: Path) -> None:
    """The first 32 generated images (generated images only: safe to commit)."""
    import numpy as np
    from PIL import Image

    from cxr_gan import plots

    first = sorted(generated.glob("*.png"))[:32]
    images = np.stack([np.asarray(Image.open(p).convert("L")) for p in first])
    label = " [SYNTHETIC DATA]" if config.get("synthetic") else ""
    plots.plot_generated(images, f"{stem}: generated images 0..31, seed {seed}{label}",
                         f"run {run.name} | preset {config['preset']['name']} | data "
                         f"{config['data']} {config['split']} train/{config['label']}",
                         out / f"generated-{stem}-first32.png")


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from cxr_gan.data import datasets

    datasets.scan(args.data)  # A bad --data is one message.

    from cxr_gan.fid.features import FeatureExtractor
    from cxr_gan.fid.report import format_fid_result
    from cxr_gan.fid.run_scores import holdout_files, score_run, training_files
    from cxr_gan.gan.generate import generate_pngs
    from cxr_gan.io import cache_dir, read_json

    run, out, data = Path(args.run), Path(args.out), Path(args.data)
    config = read_json(run / "config.json")
    stem = Path(args.generator).stem
    generated = run / f"generated-{stem}-s{args.seed}"
    train = training_files(run, data)  # The run's own training images, checked by digest.
    holdout = holdout_files(run, data)
    out.mkdir(parents=True, exist_ok=True)
    commands = [
        f"python train_gan.py generate --generator {run / args.generator} --num-images "
        f"{args.num_images} --seed {args.seed} --out {generated}",
        f"python evaluate.py score --run {run} --fake {generated} --data {data} --out {out}"
        f"  # real: the {len(train)} files of {run}/manifest.csv; hold-out: the "
        f"{len(holdout)} test {config['label']} images of split {config['split']}",
    ]
    start = time.perf_counter()
    if not generated.is_dir():
        generate_pngs(run / args.generator, args.num_images, args.seed, generated)
    extractor = FeatureExtractor(cache_dir=cache_dir(None) / "fid")
    result = score_run(run, generated, out, data, extractor=extractor, suffix=f"-{stem}")
    print(format_fid_result(result))
    (out / f"memorization-{stem}" / "closest_pairs.png").unlink()  # Shows training radiographs.
    print(f"memorisation: {result['copies']} copies, {result['near_copies']} near-copies flagged")
    if args.ceiling:
        write_ceiling(extractor, train, generated, config, out / f"ceiling-{stem}")
        commands.append(f"python evaluate.py fid --run {run} --fake {generated} --ceiling"
                        f"  # prints the table of {out / f'ceiling-{stem}.md'}")
    _plot_first_images(generated, stem, args.seed, config, run, out)
    for name in ("config.json", "history.csv", "data_report.json", "figures/loss_accuracy.png",
                 "figures/fid.png"):
        if (run / name).is_file():
            shutil.copyfile(run / name, out / Path(name).name)
    (out / f"commands-{stem}.txt").write_text("\n".join(commands) + "\n")
    print(f"Wrote {out} in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    from cxr_gan import cli

    sys.exit(cli.run_script(main))
