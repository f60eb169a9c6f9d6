"""A GAN whose critic is linear, D(x) = w . x, for closed-form checks of the penalties:
grad_x D = w at every x, so R1 = gamma / 2 * |w|^2 and WGAN-GP = lambda * (|w| - 1)^2.
Imports no TensorFlow, so the JAX tests can use it with TensorFlow absent."""

import dataclasses

import keras
import numpy as np
from keras import layers

from cxr_gan.gan.batches import GANBatches, GANStepRange
from cxr_gan.gan.config import PRESETS, with_options
from cxr_gan.gan.dcgan import DCGAN

SIZE, LATENT = 8, 4
PRESET = dataclasses.replace(
    PRESETS["demo"], name="linear", latent_dim=LATENT, image_size=SIZE, g_base=(2, 2, 4),
    g_filters=(4,), real_batch=4, fake_batch=4, g_batch=4)


def _generator(name="generator"):
    z = keras.Input((LATENT,))
    x = layers.Dense(SIZE * SIZE * 3, kernel_initializer=keras.initializers.RandomNormal(
        seed=1), name="project")(z)
    x = layers.Reshape((SIZE, SIZE, 3))(x)
    return keras.Model(z, layers.Activation("tanh", name="to_image_tanh")(x), name=name)


def penalty_after_one_step(w: np.ndarray, **options) -> float:
    """The logged ``penalty`` of one training step with learning rates 0 (w unchanged)."""
    preset = with_options(PRESET, **options)
    image = keras.Input((SIZE, SIZE, 3))
    logit = layers.Dense(1, name="logit")(layers.Flatten()(image))
    discriminator = keras.Model(image, layers.Activation("sigmoid")(logit))
    discriminator.get_layer("logit").set_weights([w.reshape(-1, 1).astype(np.float32),
                                                  np.zeros(1, np.float32)])
    gan = DCGAN(_generator(), discriminator, options=preset.options)
    gan.compile(keras.optimizers.SGD(0.0), keras.optimizers.SGD(0.0))
    images = np.random.default_rng(0).integers(0, 256, (8, SIZE, SIZE, 1), dtype=np.uint8)
    history = gan.fit(GANStepRange(GANBatches(images, preset, 0), 0, 1), epochs=1, verbose=0)
    return float(history.history["penalty"][-1])


def ema_weights_follow_the_closed_form(decay: float = 0.9, steps: int = 4) -> float:
    """Largest gap between the EMA generator and a hand computation of the average."""
    from cxr_gan.gan.dcgan import make_gan

    preset = with_options(PRESET, ema_decay=decay)
    gan = make_gan(preset, seed=0)
    images = np.random.default_rng(0).integers(0, 256, (16, SIZE, SIZE, 1), dtype=np.uint8)
    batches = GANBatches(images, preset, 0)
    expected = [w.copy() for w in gan.generator.get_weights()]
    trainable = [v.trainable for v in gan.generator.weights]
    for t in range(1, steps + 1):
        gan.fit(GANStepRange(batches, t - 1, t), epochs=1, verbose=0)
        beta = min(decay, (1 + t) / (10 + t))
        expected = [beta * e + (1 - beta) * w if train else w
                    for e, w, train in zip(expected, gan.generator.get_weights(), trainable)]
    return max(float(np.abs(e - a).max())
               for e, a in zip(expected, gan.ema_generator.get_weights()))
