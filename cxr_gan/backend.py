"""Backend-level run settings shared by the GAN and classifier runs: seeds, versions, machine."""

from __future__ import annotations

import platform
import random

import keras
import numpy as np

from cxr_gan import __version__
from cxr_gan.machine import cpu_description


def backend_versions() -> dict[str, str]:
    """Versions of what produced a result, and the CPU it ran on (times and oneDNN's kernels
    depend on it), for config.json."""
    versions = {
        "cxr_gan": __version__,
        "machine": cpu_description(),
        "keras": keras.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "backend": keras.backend.backend(),
    }
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
    elif keras.backend.backend() == "jax":
        import jax

        versions["jax"] = jax.__version__
        versions["jax_devices"] = ", ".join(str(d) for d in jax.devices())
    return versions


def set_determinism(seed: int, deterministic: bool) -> None:
    """Seeds Python, NumPy and the backend; asks TensorFlow for deterministic kernels.

    Every initialiser, dropout layer and noise draw of a run has its own explicit seed; the
    global seeds only guard against a stray unseeded draw. Under JAX, Keras's
    ``set_random_seed`` is avoided because it imports TensorFlow whenever it is installed.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        keras.utils.set_random_seed(seed)
        if deterministic:
            tf.config.experimental.enable_op_determinism()
    else:
        random.seed(seed)
        np.random.seed(seed)


def skip_failing_remapper() -> None:
    """Turns off Grappler's remapper pass for the GAN step under TensorFlow.

    On the GAN step that pass fails ("remapper failed: INVALID_ARGUMENT ... LeakyReluGrad ...
    missing node ... BiasAdd": it fuses a convolution's BiasAdd into a LeakyReLU whose gradient
    still reads the BiasAdd) and TensorFlow then drops its result for the whole step, after
    printing that line as an error. Off, the step runs the same graph, without the false alarm
    and no slower (measured: README, "Clean output"). Functions built afterwards in the process
    (sampling, FID) also skip the pass.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.optimizer.set_experimental_options({"remapping": False})
