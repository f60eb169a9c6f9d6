"""How wide and how large a batch the `efficient` preset can afford: seconds per generator
update of 128-px DCGAN candidates, plain and with DiffAugment + EMA, on this machine.

    python benchmarks/bench_efficient.py --json benchmarks/results/cpu-YYYYMMDD.jsonl

The budget (issue 10): at least 5000 generator updates in at most 60 minutes, i.e. at most
0.72 s an update including the options. Each candidate is the `paper` design (BN generator,
LeakyReLU discriminator, 128x128x3) with the widths, kernel and batch named in its label;
`fit` over the project's indexed batches (as training runs it), random uint8 images (the cost
does not depend on pixel values), 3 warm-up steps and one untimed call of 10, then the median
of 3 timings of 10 steps.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from common import append_records, key_values  # noqa: E402

BUDGET_SECONDS_PER_UPDATE = 60 * 60 / 5000
QUARTER = dict(g_base=(8, 8, 256), g_filters=(128, 64, 32), d_filters=(16, 32, 64, 128, 256))
THREE_EIGHTHS = dict(g_base=(8, 8, 384), g_filters=(192, 96, 48),
                     d_filters=(24, 48, 96, 192, 384))
CANDIDATES = {
    "1/4 widths, k5, batch 32": dict(**QUARTER, batch=32),
    "1/4 widths, k4, batch 32": dict(**QUARTER, g_kernel=4, d_kernel=4, batch=32),
    "1/4 widths, k5, batch 64": dict(**QUARTER, batch=64),
    "3/8 widths, k4, batch 32": dict(**THREE_EIGHTHS, g_kernel=4, d_kernel=4, batch=32),
}
OPTIONS = {"plain": {}, "diffaugment+ema": dict(
    diffaugment=("translation", "cutout", "brightness", "contrast"), ema_decay=0.999)}


def candidate_preset(label: str, options: dict):
    from cxr_gan.gan.config import PRESETS, with_options

    fields = dict(CANDIDATES[label])
    batch = fields.pop("batch")
    preset = dataclasses.replace(PRESETS["paper"], name=label, real_batch=batch,
                                 fake_batch=batch, g_batch=batch, **fields)
    return with_options(preset, **options)


def seconds_per_update(preset, warmup: int = 3, steps: int = 10, repeats: int = 3) -> list:
    from cxr_gan.gan.batches import GANBatches, GANStepRange
    from cxr_gan.gan.dcgan import make_gan

    size = preset.image_size
    images = np.random.default_rng(0).integers(0, 256, (400, size, size, 1), dtype=np.uint8)
    gan = make_gan(preset, seed=0)
    batches = GANBatches(images, preset, seed=0)
    gan.fit(GANStepRange(batches, 0, warmup), epochs=1, verbose=0)
    # One more untimed call: on a Zen 4 CPU the first `fit` after the warm-up still took twice
    # the later ones (BENCHMARKS.md, "The `fastgan` preset's size").
    gan.fit(GANStepRange(batches, warmup, warmup + steps), epochs=1, verbose=0)
    times = []
    for r in range(repeats):
        start = warmup + (r + 1) * steps
        began = time.perf_counter()
        gan.fit(GANStepRange(batches, start, start + steps), epochs=1, verbose=0)
        times.append((time.perf_counter() - began) / steps)
    return times


def machine() -> dict:
    fields = {}
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return {"cpu": fields.get("model name", "?"), "cpu_family": fields.get("cpu family", "?"),
            "cpu_model": fields.get("model", "?"), "cpus": os.cpu_count(),
            "load_average_at_start": round(os.getloadavg()[0], 2)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES),
                        choices=list(CANDIDATES))
    parser.add_argument("--json", default=None, help="append one JSON line per measurement")
    args = parser.parse_args(argv)
    from cxr_gan.backend import skip_failing_remapper

    skip_failing_remapper()
    where = machine()
    records = []
    for label in args.candidates:
        for option_name, options in OPTIONS.items():
            times = seconds_per_update(candidate_preset(label, options))
            median = float(np.median(times))
            record = {
                "section": "efficient-preset", "candidate": label, "options": option_name,
                "seconds_per_update": median, "timings": times,
                "minutes_for_5000_updates": median * 5000 / 60,
                "fits_budget": median <= BUDGET_SECONDS_PER_UPDATE,
                "command": "python benchmarks/bench_efficient.py", "machine": where,
            }
            print(key_values(record, ["candidate", "options", "seconds_per_update",
                                      "minutes_for_5000_updates", "fits_budget"]), flush=True)
            records.append(record)
    append_records(args.json, records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
