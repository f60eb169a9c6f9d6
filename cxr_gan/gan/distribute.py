"""Data-parallel GAN training through the frameworks' own engines.

- TensorFlow: ``tf.distribute.MirroredStrategy`` over every visible GPU (or, without GPUs, every
  logical CPU device). Each replica runs ``DCGAN.train_step`` on its slice of the global batch;
  the optimizers sum the replicas' gradients, so the step divides each loss by the number of
  replicas (the gradient is then that of the global-batch mean, as on one device). Batch norm is
  built ``synchronized=True`` so its statistics are those of the global batch, as on one device;
  the saved ``.keras`` models are rebuilt without that flag so they load under any backend.
- JAX: ``keras.distribution.DataParallel`` over ``keras.distribution.list_devices()``. The
  variables are replicated and the batch sharded; the compiled step is the same global
  computation as on one device (XLA inserts the all-reduces), so batch norm and the losses need
  no change.

One host only. Several hosts (JAX after ``keras.distribution.initialize()``, or TensorFlow's
``MultiWorkerMirroredStrategy``) would need three things this version does not have: each
process feeding only its slice of the global batch, one process writing the run directory, and
checkpoints gathered from arrays other hosts hold. ``data_parallel`` refuses such a setup
rather than train on duplicated data.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Iterator

import keras

from cxr_gan.gan.config import GANPreset


@dataclasses.dataclass(frozen=True)
class Replicas:
    """Where a run's steps execute."""

    backend: str
    devices: tuple[str, ...]
    engine: str

    @property
    def count(self) -> int:
        return len(self.devices)

    @property
    def synchronized_batch_norm(self) -> bool:
        """True when batch norm must all-reduce its statistics itself (TensorFlow replicas)."""
        return self.backend == "tensorflow" and self.count > 1


SINGLE_DEVICE = "single device"


def check_divisible(preset: GANPreset, replicas: int) -> None:
    """Every batch of the step must split evenly over the replicas.

    Raises:
        ValueError: Naming the batch sizes and the replica count.
    """
    sizes = {"real_batch": preset.real_batch, "fake_batch": preset.fake_batch,
             "g_batch": preset.g_batch}
    uneven = {k: v for k, v in sizes.items() if v % replicas}
    if uneven:
        raise ValueError(
            f"Data-parallel training over {replicas} devices needs batch sizes divisible by "
            f"{replicas}. Received: {uneven} (preset {preset.name!r}); choose --batch-size as a "
            f"multiple of {2 * replicas}."
        )


@contextlib.contextmanager
def data_parallel(enabled: bool) -> Iterator[Replicas]:
    """Context inside which models are built and trained, data-parallel when ``enabled``.

    Yields:
        The ``Replicas`` in use (one device when not enabled).
    """
    backend = keras.backend.backend()
    if not enabled:
        yield Replicas(backend, ("default",), SINGLE_DEVICE)
        return
    if backend == "tensorflow":
        import tensorflow as tf

        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        names = tuple(d.name for d in devices)
        strategy = tf.distribute.MirroredStrategy(list(names))
        with strategy.scope():
            yield Replicas(backend, names, "tf.distribute.MirroredStrategy")
    elif backend == "jax":
        import jax

        if jax.process_count() > 1:
            raise RuntimeError(
                f"{jax.process_count()} JAX processes: data-parallel training here is for one "
                "host with several devices (see cxr_gan/gan/distribute.py). Run one process "
                "per host group instead."
            )
        devices = keras.distribution.list_devices()
        distribution = keras.distribution.DataParallel(devices=devices)
        with distribution.scope():
            yield Replicas(backend, tuple(str(d) for d in devices),
                           "keras.distribution.DataParallel")
    else:
        raise ValueError(
            f"Data-parallel training supports the tensorflow and jax backends. Received: {backend}"
        )
