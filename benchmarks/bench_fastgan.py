"""How wide and how large a batch the `fastgan` preset can afford on this machine: seconds per
generator update of 128-px FastGAN candidates, their FLOPs, and the rate against FP32 GEMM.

    python benchmarks/bench_fastgan.py --json benchmarks/results/cpu-YYYYMMDD.jsonl

The budget (issue 24): the full run in at most 60 minutes of training on a 2-core CPU. Each
candidate is the `fastgan` preset (hinge, spectral norm in D, DiffAugment colour +
translation, EMA, L1 reconstruction) with the widths and batch in its label (ngf = ndf = the
reference code's 64 times the fraction); `fit` over the project's indexed batches, random uint8
images, 3 warm-up steps and one untimed call of 10, then the median of 3 timings of 10 steps
(as bench_efficient.py).
FLOPs: ``cxr_gan.gan.flops`` (matrix products only) plus the decoders' share on the real batch.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from bench_efficient import machine, seconds_per_update  # noqa: E402
from bench_gan import gemm_rates  # noqa: E402
from common import append_records, key_values  # noqa: E402

BUDGET_SECONDS = 60 * 60


def widths(fraction: float, size: int = 128) -> dict:
    """The reference code's widths (ngf = ndf = 64) times ``fraction``, at 128 or 256 px."""
    g = [16, 8, 4, 2, 2, 1, 0.5][: 1 + (5 if size == 128 else 6)]  # per ngf at 4..size px
    # per ndf: stem (size/2), down blocks to 8 px, the logit head
    d = [1, 2, 4, 8, 16] if size == 128 else [0.5, 1, 2, 4, 8, 16]
    dec = [2, 1, 1] if size == 128 else [2, 1, 1, 0.5]  # decoders' up blocks, 16..size/2 px
    ngf = ndf = 64 * fraction
    return dict(image_size=size, g_base=(4, 4, int(g[0] * ngf)),
                g_filters=tuple(int(c * ngf) for c in g[1:]),
                d_filters=tuple(int(c * ndf) for c in d),
                decoder_filters=tuple(int(c * ndf) for c in dec))


CANDIDATES = {
    "1/4 widths, batch 8": dict(fraction=0.25, batch=8),
    "1/4 widths, batch 8, no reconstruction": dict(fraction=0.25, batch=8, reconstruction=0.0),
    "1/4 widths, batch 16": dict(fraction=0.25, batch=16),
    "3/8 widths, batch 8": dict(fraction=0.375, batch=8),
    "1/2 widths, batch 8": dict(fraction=0.5, batch=8),
    "1/8 widths, batch 8": dict(fraction=0.125, batch=8),
    "1/4 widths, 256 px, batch 8": dict(fraction=0.25, batch=8, size=256),
}


def candidate_preset(label: str):
    from cxr_gan.gan.config import PRESETS, with_options

    fields = dict(CANDIDATES[label])
    batch, fraction = fields.pop("batch"), fields.pop("fraction")
    size = fields.pop("size", 128)
    preset = dataclasses.replace(PRESETS["fastgan"], name=label, real_batch=batch,
                                 fake_batch=batch, g_batch=batch, **widths(fraction, size))
    return with_options(preset, **fields) if fields else preset


def step_gflop(preset) -> float:
    """Matrix-product GFLOP of one step: the GAN's count plus the decoders' on the real batch
    (forward, weight gradients, input gradients into D's features)."""
    from cxr_gan.gan.flops import gan_step_flops, layer_flops
    from cxr_gan.gan.models import build_decoders, build_discriminator, build_generator

    generator, discriminator = build_generator(preset), build_discriminator(preset)
    total = gan_step_flops(generator, discriminator, preset.real_batch, preset.fake_batch,
                           preset.g_batch).total
    if preset.options.reconstruction > 0:
        decoders = sum(f.forward for f in layer_flops(build_decoders(preset, discriminator)))
        total += preset.real_batch * 3 * decoders
    return total / 1e9


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
    gemm = gemm_rates()["gemm_gflops"]
    records = []
    for label in args.candidates:
        preset = candidate_preset(label)
        times = seconds_per_update(preset)
        median = float(np.median(times))
        gflop = step_gflop(preset)
        record = {
            "section": "fastgan-preset", "candidate": label, "seconds_per_update": median,
            "timings": times, "step_gflop": gflop, "achieved_gflops": gflop / median,
            "gemm_gflops": gemm, "ratio_to_gemm": gflop / median / gemm,
            "updates_in_60_minutes": int(BUDGET_SECONDS / median),
            "images_in_60_minutes": int(BUDGET_SECONDS / median) * preset.g_batch,
            "command": "python benchmarks/bench_fastgan.py", "machine": where,
        }
        print(key_values(record, ["candidate", "seconds_per_update", "step_gflop",
                                  "achieved_gflops", "ratio_to_gemm",
                                  "updates_in_60_minutes"]), flush=True)
        records.append(record)
    append_records(args.json, records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
