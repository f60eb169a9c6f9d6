"""GAN step time with TensorFlow's Grappler remapper on (it fails on the step) and off.

    python benchmarks/bench_remapper.py on demo 32 40
    python benchmarks/bench_remapper.py off demo 32 40

Arguments: remapper on|off, preset, generator batch, timed steps. Run on and off alternately,
each in its own process; prints the median step time. Random uint8 images, seed 0 weights.
"""

import dataclasses
import os
import sys
import time

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from cxr_gan.gan.batches import GANBatches, GANStepRange  # noqa: E402
from cxr_gan.gan.config import PRESETS  # noqa: E402
from cxr_gan.gan.dcgan import make_gan  # noqa: E402


def main() -> int:
    mode, name, batch, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if mode == "off":
        tf.config.optimizer.set_experimental_options({"remapping": False})
    preset = PRESETS[name]
    d_batch = batch * preset.real_batch // preset.g_batch
    preset = dataclasses.replace(preset, g_batch=batch, real_batch=d_batch, fake_batch=d_batch)
    images = np.random.default_rng(0).integers(
        0, 256, (batch * 4, preset.image_size, preset.image_size, 1), dtype=np.uint8)
    gan = make_gan(preset, 0)
    batches = GANBatches(images, preset, 0)
    gan.fit(GANStepRange(batches, 0, 3), epochs=1, verbose=0)  # Compile and warm up.
    times = []

    class StepTimer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter() - self.start)

    gan.fit(GANStepRange(batches, 3, 3 + steps), epochs=1, verbose=0, callbacks=[StepTimer()])
    print(f"remapper={mode} preset={name} batch={batch} steps={steps} "
          f"median_step_s={np.median(times):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
