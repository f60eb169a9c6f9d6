"""Speed of one full DCGAN training step on this machine, against its GEMM rate and a baseline.

    python benchmarks/bench_gan.py --preset paper --batch-size 16
    python benchmarks/bench_gan.py --preset paper-code --batch-size 128 --mode authors
    python benchmarks/bench_gan.py --preset demo --batch-size 32 --mode fit

Modes (one a process, so that peak memory is that of the mode alone):

- ``step`` (default): the project's fused step (``DCGAN.train_step``: D on a real and a fake
  batch, then G; one compiled function) called on batches made beforehand, i.e. the bare
  compute of training.
- ``authors``: the training-loop style of the authors' code, on the same networks: a separate
  ``generator.predict`` for the fakes, ``train_on_batch`` on D for the real and the fake batch,
  then ``train_on_batch`` on a stacked G + frozen-D model. Timed per generator update.
- ``fit``: ``cxr_gan.gan.train`` as ``train_gan.py`` runs it (``fit`` over the indexed batch
  pipeline, the run-recorder callback, per-epoch logging and history), on random images, with a
  real run's steps per epoch; the per-step time of the steady epochs plus the checkpoint and
  figure cost amortised over a real run's schedule, against the bare step timed right after on
  the same model in the same process (``fit_overhead``).

Every mode first measures the machine's FP32 GEMM rate in the same process (4096^3 products by
NumPy and by the backend, the better of the two counts as the machine's rate). The step's FLOPs
are counted from the layers' shapes (``cxr_gan.gan.flops``: matrix-product layers only,
forward and the backward passes the step needs). The images are random uint8 arrays: the
step's cost does not depend on pixel values. The last line printed is ``key=value`` pairs;
``--json`` appends the full record as one JSON line.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from common import append_records, key_values, median_seconds  # noqa: E402


def gemm_rates(n: int = 4096, repeats: int = 3) -> dict[str, float]:
    """FP32 ``n x n`` matrix-product rate in GFLOP/s: NumPy (its BLAS) and the Keras backend."""
    import keras

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    flop = 2.0 * n**3
    numpy_rate = flop / median_seconds(lambda: a @ b, repeats, warmup=1) / 1e9
    ta, tb = keras.ops.convert_to_tensor(a), keras.ops.convert_to_tensor(b)

    def backend_matmul():
        keras.ops.convert_to_numpy(keras.ops.matmul(ta, tb)[0, 0])

    backend_rate = flop / median_seconds(backend_matmul, repeats, warmup=1) / 1e9
    return {"numpy_gemm_gflops": numpy_rate, "backend_gemm_gflops": backend_rate,
            "gemm_gflops": max(numpy_rate, backend_rate)}


def sized_preset(name: str, batch_size: int):
    """The preset with generator batch ``batch_size`` and D batches in the preset's ratio."""
    from cxr_gan.gan.train import make_run_config

    return make_run_config(data="unused", preset=name, epochs=1, batch_size=batch_size).preset


def random_images(preset, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, preset.image_size, preset.image_size, 1), dtype=np.uint8)


def build_gan(preset, seed: int = 0, mixed_precision: bool = False):
    import keras

    from cxr_gan.gan.dcgan import DCGAN
    from cxr_gan.gan.models import build_discriminator, build_generator, dtype_policy

    with dtype_policy(mixed_precision):
        generator = build_generator(preset, seed=seed)
        discriminator = build_discriminator(preset, seed=seed)
    gan = DCGAN(generator, discriminator, name="dcgan")
    gan.compile(
        d_optimizer=keras.optimizers.Adam(preset.d_learning_rate, beta_1=preset.beta_1),
        g_optimizer=keras.optimizers.Adam(preset.g_learning_rate, beta_1=preset.beta_1),
    )
    return gan


def time_fused_step(preset, warmup: int, steps: int, jit: bool,
                    mixed_precision: bool = False) -> list[float]:
    """Seconds per call of the compiled ``DCGAN.train_step`` (TensorFlow backend)."""
    import keras

    from cxr_gan.gan.batches import GANBatches

    if keras.backend.backend() != "tensorflow":
        raise SystemExit("bench_gan.py times TensorFlow's compiled step; on an accelerator "
                         "under JAX, tools/accelerator/gpu_reproduce.sh records the step times.")
    gan = build_gan(preset, mixed_precision=mixed_precision)
    batches = GANBatches(random_images(preset, max(4 * preset.real_batch, 256)), preset, seed=0)
    return time_bare_step(gan, batches, 0, warmup, steps, jit)


def time_authors_loop(preset, warmup: int, steps: int) -> list[float]:
    """Seconds per generator update of the Keras ``train_on_batch`` loop of the authors' code."""
    import keras

    from cxr_gan.gan.models import build_discriminator, build_generator

    generator = build_generator(preset, seed=0)
    discriminator = build_discriminator(preset, seed=0)
    discriminator.compile(
        optimizer=keras.optimizers.Adam(preset.d_learning_rate, beta_1=preset.beta_1),
        loss="binary_crossentropy")
    rng = np.random.default_rng(0)
    # The authors scale the whole training set to [-1, 1] float32 once, up front.
    images = random_images(preset, max(4 * preset.real_batch, 256)).astype(np.float32)
    images = np.repeat(images / 127.5 - 1.0, preset.channels, axis=-1)
    ones_real = np.ones((preset.real_batch, 1), np.float32)
    zeros_fake = np.zeros((preset.fake_batch, 1), np.float32)
    ones_g = np.ones((preset.g_batch, 1), np.float32)
    # D's train function is traced while D is trainable, then D is frozen for the stacked model
    # (the classic Keras GAN recipe; D keeps updating through its own compiled function).
    discriminator.train_on_batch(images[: preset.real_batch], ones_real)
    discriminator.trainable = False
    z = keras.Input((preset.latent_dim,))
    stacked = keras.Model(z, discriminator(generator(z)), name="stacked")
    stacked.compile(optimizer=keras.optimizers.Adam(preset.g_learning_rate,
                                                    beta_1=preset.beta_1),
                    loss="binary_crossentropy")

    def one_update():
        real = images[rng.integers(0, len(images), preset.real_batch)]
        noise = rng.standard_normal((preset.fake_batch, preset.latent_dim), dtype=np.float32)
        fake = generator.predict(noise, verbose=0)
        discriminator.train_on_batch(real, ones_real)
        discriminator.train_on_batch(fake, zeros_fake)
        noise = rng.standard_normal((preset.g_batch, preset.latent_dim), dtype=np.float32)
        stacked.train_on_batch(noise, ones_g)

    def values(model):
        return [keras.ops.convert_to_numpy(v) for v in model.weights]

    d_before, g_before = values(discriminator), values(generator)
    times = []
    for index in range(warmup + steps):
        start = time.perf_counter()
        one_update()
        if index >= warmup:
            times.append(time.perf_counter() - start)
    # The loop must train both networks, or its time means nothing.
    if all(np.array_equal(a, b) for a, b in zip(d_before, values(discriminator))):
        raise RuntimeError("authors' loop: the discriminator did not change")
    if all(np.array_equal(a, b) for a, b in zip(g_before, values(generator))):
        raise RuntimeError("authors' loop: the generator did not change")
    return times


def time_bare_step(gan, batches, first_step: int, warmup: int, steps: int,
                   jit: bool = False) -> list[float]:
    """Seconds per call of the compiled ``gan.train_step`` on batches made beforehand."""
    import tensorflow as tf

    data = [{k: tf.constant(v) for k, v in batches.batch(first_step + s).items()}
            for s in range(warmup + steps)]
    step = tf.function(gan.train_step, jit_compile=jit)
    times = []
    for index, batch in enumerate(data):
        start = time.perf_counter()
        float(step(batch)["g_loss"])  # Waits for the step's result.
        if index >= warmup:
            times.append(time.perf_counter() - start)
    return times


def time_fit(preset, warmup_epochs: int, epochs: int, steps_per_epoch: int,
             real_images: int, bare_steps: int) -> dict[str, float]:
    """Per-step seconds of ``train_gan``'s fit loop and of the bare step, in this process.

    Both are timed on the same model in the same process (the bare step right after ``fit``),
    because the step time varies by a few percent from one process to the next.
    """
    from types import SimpleNamespace

    from cxr_gan.gan.config import GANRunConfig
    from cxr_gan.gan.batches import steps_per_epoch as real_steps_per_epoch
    from cxr_gan.gan.train import Trainer

    n_images = steps_per_epoch * preset.g_batch
    config = GANRunConfig(preset=preset, data="benchmark: random uint8 images", synthetic=True,
                          epochs=warmup_epochs + epochs, steps_per_epoch=steps_per_epoch,
                          checkpoint_every=10_000, deterministic=False)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, Path(tmp), SimpleNamespace(images=random_images(preset,
                                                                                   n_images)),
                           verbose=2)
        trainer.run()
        per_step = [row["seconds"] / row["steps"] for row in trainer.history[warmup_epochs:]]
        start = time.perf_counter()
        trainer.save_checkpoint()
        checkpoint_s = time.perf_counter() - start
        start = time.perf_counter()
        trainer.write_figures(trainer.history[-1]["epoch"])
        figures_s = time.perf_counter() - start
        bare = time_bare_step(trainer.gan, trainer.batches, trainer.global_step, 2, bare_steps)
    # A real run (real_images training images, default schedule) checkpoints and draws every
    # 10 epochs; spread that cost over its steps.
    defaults = GANRunConfig(preset=preset, data="", synthetic=False)
    real_spe = real_steps_per_epoch(real_images, preset)
    amortised = (checkpoint_s + figures_s) / (defaults.checkpoint_every * real_spe)
    fit_step = statistics.median(per_step)
    return {"fit_step_s": fit_step, "bare_step_s": statistics.median(bare),
            "checkpoint_s": checkpoint_s, "figures_s": figures_s,
            "amortised_bookkeeping_s": amortised, "fit_steps_timed": epochs * steps_per_epoch,
            "bare_steps_timed": len(bare), "steps_per_epoch": steps_per_epoch,
            "fit_overhead": (fit_step + amortised) / statistics.median(bare) - 1}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--mode", choices=("step", "authors", "fit"), default="step")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--steps", type=int, default=5, help="timed steps (median reported)")
    parser.add_argument("--jit", action="store_true", help="XLA-compile the step (step mode)")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="bfloat16 compute, float32 weights (step mode)")
    parser.add_argument("--fit-epochs", type=int, default=3, help="timed epochs in fit mode")
    parser.add_argument("--steps-per-epoch", type=int, default=None,
                        help="fit mode (default: a real run's, --real-images // batch)")
    parser.add_argument("--real-images", type=int, default=1341,
                        help="training images of the real run whose bookkeeping is amortised")
    parser.add_argument("--deterministic", action="store_true",
                        help="TensorFlow op determinism on (train_gan.py's default)")
    parser.add_argument("--gemm-size", type=int, default=4096,
                        help="side of the square float32 GEMM that measures the CPU's peak")
    parser.add_argument("--json", default=None, help="append the record to this JSON-lines file")
    args = parser.parse_args()
    if args.batch_size < 2 or args.steps < 1 or args.warmup < 0:
        raise SystemExit("--batch-size >= 2, --steps >= 1, --warmup >= 0")

    import keras

    from cxr_gan.backend import backend_versions, set_determinism
    from cxr_gan.gan.flops import gan_step_flops

    set_determinism(0, args.deterministic)
    preset = sized_preset(args.preset, args.batch_size)
    record = {"preset": args.preset, "batch_size": args.batch_size, "mode": args.mode,
              "real_batch": preset.real_batch, "fake_batch": preset.fake_batch,
              "g_batch": preset.g_batch, "jit": args.jit,
              "mixed_precision": args.mixed_precision, "deterministic": args.deterministic,
              "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
              **backend_versions()}
    record.update(gemm_rates(args.gemm_size))

    if args.mode == "step":
        times = time_fused_step(preset, args.warmup, args.steps, args.jit,
                                args.mixed_precision)
        record.update(step_s=statistics.median(times), steps_timed=len(times))
    elif args.mode == "authors":
        times = time_authors_loop(preset, args.warmup, args.steps)
        record.update(step_s=statistics.median(times), steps_timed=len(times))
    else:
        from cxr_gan.gan.batches import steps_per_epoch

        spe = args.steps_per_epoch or steps_per_epoch(args.real_images, preset)
        record.update(time_fit(preset, 1, args.fit_epochs, spe, args.real_images, args.steps))
        record["step_s"] = record["fit_step_s"] + record["amortised_bookkeeping_s"]

    from cxr_gan.gan.models import build_discriminator, build_generator

    flops = gan_step_flops(build_generator(preset), build_discriminator(preset),
                           preset.real_batch, preset.fake_batch, preset.g_batch)
    keras.backend.clear_session()
    record["step_gflop"] = flops.total / 1e9
    record["images_per_s"] = preset.g_batch / record["step_s"]
    record["achieved_gflops"] = record["step_gflop"] / record["step_s"]
    record["ratio_to_gemm"] = record["achieved_gflops"] / record["gemm_gflops"]
    # ru_maxrss is in KiB on Linux: the process's peak resident memory, GEMM test included.
    record["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    append_records(args.json, [record])
    print(key_values(record, ("preset", "batch_size", "mode", "step_s", "images_per_s",
                              "step_gflop", "achieved_gflops", "gemm_gflops", "ratio_to_gemm",
                              "peak_rss_gib")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
