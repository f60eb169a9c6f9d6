"""Training batches as a pure function of (seed, global step).

Batch ``s`` holds the real images, the discriminator's noise and the generator's noise of step
``s``, each drawn from a NumPy generator seeded with ``(seed, stream, s)`` (or ``(seed, stream,
epoch)`` for the epoch permutation), and, when the preset's options need them, DiffAugment's
parameters, WGAN-GP's interpolation weights and FastGAN's reconstruction quarters. Nothing depends on what came before, so a run
resumed at step ``s`` sees exactly the batches it would have seen, and TensorFlow and JAX see
the same.

The discriminator's inputs carry a critic axis after the batch axis, one slice per critic
update (``n_critic``, 1 unless WGAN-GP): ``real`` is ``(real_batch, n_critic, H, W, 1)`` and
``z_d`` ``(fake_batch, n_critic, latent)``. Critic update ``k`` of step ``s`` reads its real
images as "virtual step" ``s * n_critic + k`` would, so with one critic update a step the
batches are those of the plain DCGAN.
"""

from __future__ import annotations

import keras
import numpy as np

from cxr_gan.cli import OptionError
from cxr_gan.gan.augment import draw_parameters
from cxr_gan.gan.config import GANPreset

_STREAM_PERMUTATION = 0
_STREAM_REPLACEMENT = 1
_STREAM_Z_D = 2
_STREAM_Z_G = 3
_STREAM_AUGMENT = 4
_STREAM_ALPHA = 5
_STREAM_CROP = 6


def steps_per_epoch(n_images: int, preset: GANPreset) -> int:
    """Generator updates per epoch: ``floor(n_images / g_batch)`` (the authors' count), >= 1."""
    return max(1, n_images // preset.g_batch)


class GANBatches:
    """Yields ``{"real", "z_d", "z_g"}`` batches from a uint8 image array.

    Args:
        images: uint8 ``(n, size, size, 1)`` training images.
        preset: Gives batch sizes, latent size and the sampling scheme.
        seed: Seeds every draw.
    """

    def __init__(self, images: np.ndarray, preset: GANPreset, seed: int):
        if images.dtype != np.uint8 or images.ndim != 4:
            raise ValueError(
                f"`images` must be uint8 (n, h, w, 1). Received: {images.dtype} {images.shape}"
            )
        if preset.sampling == "permutation" and len(images) < preset.real_batch:
            raise OptionError(
                f"{len(images)} training images are fewer than one real batch "
                f"({preset.real_batch}) of preset {preset.name!r}: give a smaller --batch-size "
                "or --preset demo."
            )
        self.images = images
        self.preset = preset
        self.seed = seed
        self.steps_per_epoch = steps_per_epoch(len(images), preset)
        self._permutation_epoch = -1
        self._permutation = None

    def real_indices(self, step: int) -> np.ndarray:
        """Indices of the real images of global step ``step``."""
        batch = self.preset.real_batch
        if self.preset.sampling == "replacement":
            rng = np.random.default_rng([self.seed, _STREAM_REPLACEMENT, step])
            return rng.integers(0, len(self.images), size=batch)
        epoch, position = divmod(step, self.steps_per_epoch)
        if epoch != self._permutation_epoch:
            rng = np.random.default_rng([self.seed, _STREAM_PERMUTATION, epoch])
            self._permutation = rng.permutation(len(self.images))
            self._permutation_epoch = epoch
        # With steps_per_epoch = floor(n / g_batch) and real_batch <= g_batch the slices stay
        # inside the permutation; the remainder is dropped, as a drop_remainder loader does.
        start = (position * batch) % (len(self.images) - batch + 1)
        return self._permutation[start:start + batch]

    def noise(self, step: int, stream: int, batch: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, stream, step])
        return rng.standard_normal((batch, self.preset.latent_dim), dtype=np.float32)

    def batch(self, step: int) -> dict[str, np.ndarray]:
        preset, options = self.preset, self.preset.options
        n_critic = options.n_critic
        real = np.stack([self.images[self.real_indices(step * n_critic + k)]
                         for k in range(n_critic)], axis=1)
        z_d = self.noise(step, _STREAM_Z_D, preset.fake_batch * n_critic)
        out = {
            "real": real,
            "z_d": z_d.reshape(n_critic, preset.fake_batch, -1).transpose(1, 0, 2),
            "z_g": self.noise(step, _STREAM_Z_G, preset.g_batch),
        }
        if options.augments:
            rng = np.random.default_rng([self.seed, _STREAM_AUGMENT, step])
            size = preset.image_size

            def draw(batch, critic_axis=True):
                params = draw_parameters(rng, batch * (n_critic if critic_axis else 1), size)
                return params.reshape(batch, n_critic, -1) if critic_axis else params

            out["aug_real"] = draw(preset.real_batch)
            out["aug_fake"] = draw(preset.fake_batch)
            out["aug_gen"] = draw(preset.g_batch, critic_axis=False)
        if options.reconstruction > 0:
            # FastGAN's quarter to reconstruct, one per real image, as one-hot rows.
            rng = np.random.default_rng([self.seed, _STREAM_CROP, step])
            quarters = rng.integers(0, 4, size=(preset.real_batch, n_critic))
            out["crop"] = np.eye(4, dtype=np.float32)[quarters]
        if options.gradient_penalty:
            rng = np.random.default_rng([self.seed, _STREAM_ALPHA, step])
            out["alpha"] = rng.random((preset.real_batch, n_critic), dtype=np.float32)
        return out


class GANStepRange(keras.utils.PyDataset):
    """Global steps ``[start, stop)`` of ``GANBatches`` as an indexed Keras dataset.

    ``fit`` reads batch ``i`` as global step ``start + i``, so which batch a step sees never
    depends on how the data pipeline consumes or prefetches its input. (A plain Python
    generator of the same batches does: under ``tf.distribute.MirroredStrategy`` Keras's generator adapter fed the
    third step a batch other than the third.) With ``steps_per_epoch`` given, Keras walks the
    indices in order across epochs without restarting.
    """

    def __init__(self, batches: GANBatches, start: int, stop: int):
        super().__init__(workers=1, use_multiprocessing=False)
        if not 0 <= start < stop:
            raise ValueError(f"Need 0 <= start < stop. Received: start={start}, stop={stop}")
        self.batches = batches
        self.start = start
        self.stop = stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, index: int) -> tuple[dict[str, np.ndarray]]:
        if not 0 <= index < len(self):
            raise IndexError(f"Step index {index} is outside 0..{len(self) - 1}.")
        return (self.batches.batch(self.start + index),)
