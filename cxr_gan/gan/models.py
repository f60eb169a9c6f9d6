"""The DCGAN generator and discriminator as named functional ``keras.Model``s.

``build_generator`` and ``build_discriminator`` follow the preset's ``style``:

``paper`` (the paper's text, Figs. 3-4)::

    z (100)
    -> Dense(8*8*1024, no bias) -> Reshape 8x8x1024 -> BN -> ReLU
    -> Conv2DTranspose(512, s2) -> BN -> ReLU          # 16x16x512
    -> Conv2DTranspose(256, s2) -> BN -> ReLU          # 32x32x256
    -> Conv2DTranspose(128, s2) -> BN -> ReLU          # 64x64x128
    -> Conv2DTranspose(3, s2) -> tanh                  # 128x128x3

    image 128x128x3
    -> Conv2D(64, s2) -> LeakyReLU                     # 64x64x64 (no BN on the input block)
    -> Conv2D(128, s2) -> BN -> LeakyReLU              # 32x32x128
    -> Conv2D(256, s2) -> BN -> LeakyReLU              # 16x16x256
    -> Conv2D(512, s2) -> BN -> LeakyReLU              # 8x8x512
    -> Conv2D(1024, s2) -> BN -> LeakyReLU             # 4x4x1024
    -> Flatten -> Dense(1) -> sigmoid

``paper-code`` (the authors' DCGAN.py)::

    z -> Dense(8*8*1024) -> LeakyReLU -> Reshape 8x8x1024
    -> 4 x [Conv2DTranspose(k4, s2) -> LeakyReLU] (512, 256, 128, 64)   # 128x128x64
    -> Conv2D(3, k5, tanh)                                               # 128x128x3

    image -> Conv2D(64, k5, s1) -> LeakyReLU                             # 128x128x64
    -> 4 x [Conv2D(k5, s2) -> LeakyReLU] (128, 256, 512, 1024)           # 8x8x1024
    -> Flatten -> Dropout(0.4) -> Dense(1, sigmoid)

``fastgan`` (Liu et al. 2021): the SLE generator and the self-supervised discriminator of
``cxr_gan.gan.fastgan`` (D's output layer ``"logit"`` holds its 5x5 patch logits, flattened);
``build_decoders`` adds its reconstruction decoders, trained with D and not saved with it.

Options (``preset.options``): ``spectral_norm`` wraps every discriminator layer with weights in
``keras.layers.SpectralNormalization``; with the ``wgan-gp`` loss the critic has no batch norm.

Every layer has a stable name, so weights and checkpoints can be matched by path. Every
random initialiser gets an explicit seed derived from ``seed``, so a model is a pure function
of (preset, seed). Only standard Keras layers are used: the saved ``.keras`` files load with
plain ``keras.models.load_model`` in code that never imports this project.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import keras
from keras import layers

from cxr_gan.gan import fastgan
from cxr_gan.gan.config import GANPreset

# Offsets that keep the generator's and discriminator's initialiser seeds apart.
_G_SEED_OFFSET = 0
_D_SEED_OFFSET = 1000


class _Initializers:
    """Hands out seeded kernel initialisers: N(0, stddev), or Keras's default glorot_uniform."""

    def __init__(self, stddev: float | None, seed: int):
        self._stddev = stddev
        self._seed = seed
        self._count = 0

    def __call__(self) -> keras.initializers.Initializer:
        self._count += 1
        seed = self._seed * 10_000 + self._count
        if self._stddev is None:
            return keras.initializers.GlorotUniform(seed=seed)
        return keras.initializers.RandomNormal(mean=0.0, stddev=self._stddev, seed=seed)


def _batch_norm(name: str, synchronized: bool) -> layers.BatchNormalization:
    # DCGAN's batch norm: momentum 0.9 on the running statistics, epsilon 1e-5.
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=synchronized,
                                     name=name)


@contextlib.contextmanager
def dtype_policy(mixed_precision: bool) -> Iterator[None]:
    """Layers built inside compute in bfloat16 with float32 weights when ``mixed_precision``.

    bfloat16 keeps float32's exponent range, so no loss scaling is needed; the networks'
    outputs (image, logit) are float32 layers either way.
    """
    if not mixed_precision:
        yield
        return
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _check_seed(seed: int) -> None:
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer. Received: seed={seed!r}")


# -- blocks: each holds the flags of one kind of layer group ----------------------------------
def _up_block(x, filters: int, index: int, preset: GANPreset, init: _Initializers,
              batch_norm: bool, synchronized_bn: bool):
    """Stride-2 transposed convolution, then BN + ReLU (paper) or LeakyReLU (paper-code)."""
    x = layers.Conv2DTranspose(filters, preset.g_kernel, strides=2, padding="same",
                               use_bias=not batch_norm, kernel_initializer=init(),
                               name=f"up{index}_deconv")(x)
    if batch_norm:
        x = _batch_norm(f"up{index}_bn", synchronized_bn)(x)
        return layers.ReLU(name=f"up{index}_relu")(x)
    return layers.LeakyReLU(negative_slope=preset.leaky_slope, name=f"up{index}_lrelu")(x)


def _discriminator_layer(layer: layers.Layer, preset: GANPreset) -> layers.Layer:
    """``layer``, spectrally normalised when the preset asks (the wrapper takes its name)."""
    if not preset.options.spectral_norm:
        return layer
    name = layer.name
    layer.name = f"{name}_inner"
    return layers.SpectralNormalization(layer, name=name)


def _down_block(x, filters: int, index: int, preset: GANPreset, init: _Initializers,
                batch_norm: bool, synchronized_bn: bool):
    """Strided convolution [-> BN] -> LeakyReLU. With BN after it, a convolution's bias is
    redundant (BN's beta replaces it). WGAN-GP's critic never has BN."""
    batch_norm = batch_norm and preset.options.critic_batch_norm
    strides = preset.d_first_stride if index == 1 else 2
    conv = layers.Conv2D(filters, preset.d_kernel, strides=strides, padding="same",
                         use_bias=not batch_norm, kernel_initializer=init(),
                         name=f"down{index}_conv")
    x = _discriminator_layer(conv, preset)(x)
    if batch_norm:
        x = _batch_norm(f"down{index}_bn", synchronized_bn)(x)
    return layers.LeakyReLU(negative_slope=preset.leaky_slope, name=f"down{index}_lrelu")(x)


# -- one body per architecture style (module docstring); the caller adds input and output -----
def _paper_generator_body(z, preset: GANPreset, init: _Initializers, synchronized_bn: bool):
    height, width, filters = preset.g_base
    x = layers.Dense(height * width * filters, use_bias=False, kernel_initializer=init(),
                     name="project")(z)
    x = layers.Reshape((height, width, filters), name="project_reshape")(x)
    x = _batch_norm("project_bn", synchronized_bn)(x)
    x = layers.ReLU(name="project_relu")(x)
    for index, block_filters in enumerate(preset.g_filters, start=1):
        x = _up_block(x, block_filters, index, preset, init, True, synchronized_bn)
    return layers.Conv2DTranspose(preset.channels, preset.g_kernel, strides=2, padding="same",
                                  kernel_initializer=init(), name="to_image_deconv")(x)


def _paper_code_generator_body(z, preset: GANPreset, init: _Initializers, synchronized_bn: bool):
    height, width, filters = preset.g_base
    x = layers.Dense(height * width * filters, kernel_initializer=init(), name="project")(z)
    x = layers.LeakyReLU(negative_slope=preset.leaky_slope, name="project_lrelu")(x)
    x = layers.Reshape((height, width, filters), name="project_reshape")(x)
    for index, block_filters in enumerate(preset.g_filters, start=1):
        x = _up_block(x, block_filters, index, preset, init, False, synchronized_bn)
    return layers.Conv2D(preset.channels, 5, padding="same", kernel_initializer=init(),
                         name="to_image_conv")(x)


def _paper_discriminator_body(x, preset: GANPreset, init: _Initializers, synchronized_bn: bool):
    for index, block_filters in enumerate(preset.d_filters, start=1):
        # No BN on the input block (Radford et al.).
        x = _down_block(x, block_filters, index, preset, init, index > 1, synchronized_bn)
    return layers.Flatten(name="flatten")(x)


def _paper_code_discriminator_body(x, preset: GANPreset, init: _Initializers,
                                   synchronized_bn: bool):
    for index, block_filters in enumerate(preset.d_filters, start=1):
        x = _down_block(x, block_filters, index, preset, init, False, synchronized_bn)
    return layers.Flatten(name="flatten")(x)


def _dense_logit(x, preset: GANPreset, init: _Initializers, seed: int):
    """[Dropout ->] Dense(1) named ``"logit"`` on the DCGAN styles' flattened features."""
    if preset.d_dropout > 0:
        x = layers.Dropout(preset.d_dropout, seed=seed + _D_SEED_OFFSET, name="dropout")(x)
    logit = layers.Dense(1, kernel_initializer=init(), dtype="float32", name="logit")
    return _discriminator_layer(logit, preset)(x)


def _fastgan_discriminator_logits(x, preset: GANPreset, init: _Initializers, seed: int,
                                  synchronized_bn: bool):
    wrap = lambda layer: _discriminator_layer(layer, preset)  # noqa: E731
    return fastgan.discriminator_body(x, preset, init, synchronized_bn, wrap)


def _dcgan_discriminator_logits(body):
    def logits(x, preset: GANPreset, init: _Initializers, seed: int, synchronized_bn: bool):
        return _dense_logit(body(x, preset, init, synchronized_bn), preset, init, seed)

    return logits


_GENERATOR_BODIES = {"paper": _paper_generator_body, "paper-code": _paper_code_generator_body,
                     "fastgan": fastgan.generator_body}
# Each maps the image to D's logits (a layer named "logit").
_DISCRIMINATOR_LOGITS = {"paper": _dcgan_discriminator_logits(_paper_discriminator_body),
                         "paper-code": _dcgan_discriminator_logits(_paper_code_discriminator_body),
                         "fastgan": _fastgan_discriminator_logits}


def build_generator(preset: GANPreset, seed: int = 0,
                    synchronized_bn: bool = False) -> keras.Model:
    """Builds the generator ``z -> image in [-1, 1]`` of ``preset`` (its ``style``'s body).

    Args:
        preset: Architecture, see ``cxr_gan.gan.config.PRESETS``.
        seed: Seeds every initialiser.
        synchronized_bn: Batch norm over the global batch of all TensorFlow replicas (for
            ``tf.distribute`` training; see ``cxr_gan.gan.distribute``).

    Returns:
        A functional ``keras.Model`` named ``"generator"``: ``(batch, latent_dim)`` ->
        ``(batch, image_size, image_size, channels)``.
    """
    _check_seed(seed)
    init = _Initializers(preset.init_stddev, seed + _G_SEED_OFFSET)
    z = keras.Input(shape=(preset.latent_dim,), name="z")
    x = _GENERATOR_BODIES[preset.style](z, preset, init, synchronized_bn)
    # Outputs stay float32 under a mixed-precision policy (stable losses, exact image range).
    image = layers.Activation("tanh", dtype="float32", name="to_image_tanh")(x)
    return keras.Model(z, image, name="generator")


def build_discriminator(preset: GANPreset, seed: int = 0,
                        synchronized_bn: bool = False) -> keras.Model:
    """Builds the discriminator ``image -> P(real)`` of ``preset`` (its ``style``'s body).

    Args:
        preset: Architecture, see ``cxr_gan.gan.config.PRESETS``.
        seed: Seeds every initialiser and the dropout.
        synchronized_bn: As in ``build_generator``.

    Returns:
        A functional ``keras.Model`` named ``"discriminator"``: ``(batch, size, size,
        channels)`` in [-1, 1] -> ``(batch, 1)`` probabilities. Its layer ``"logit"`` gives the
        pre-sigmoid output that training uses.
    """
    _check_seed(seed)
    init = _Initializers(preset.init_stddev, seed + _D_SEED_OFFSET)
    image = keras.Input(shape=(preset.image_size, preset.image_size, preset.channels),
                        name="image")
    x = _DISCRIMINATOR_LOGITS[preset.style](image, preset, init, seed, synchronized_bn)
    probability = layers.Activation("sigmoid", dtype="float32", name="probability")(x)
    return keras.Model(image, probability, name="discriminator")


# Offset of the decoders' initialiser seeds (apart from G's and D's).
_DECODER_SEED_OFFSET = 2000


def build_decoders(preset: GANPreset, discriminator: keras.Model, seed: int = 0,
                   synchronized_bn: bool = False) -> keras.Model:
    """FastGAN's self-supervision decoders for ``discriminator`` (``cxr_gan.gan.fastgan``).

    Returns:
        A functional ``keras.Model`` named ``"decoders"``: ``(gated 8x8 features, 8x8 quarter
        of the 16x16 features)`` -> ``(whole image, one quarter)``, each ``(batch, S/2, S/2,
        channels)`` in [-1, 1]. Trained with D; not part of the saved discriminator.
    """
    _check_seed(seed)
    if preset.style != "fastgan" or not preset.decoder_filters:
        raise ValueError(f"Preset {preset.name!r} has no decoders (style fastgan with "
                         "decoder_filters).")
    init = _Initializers(preset.init_stddev, seed + _DECODER_SEED_OFFSET)
    feat16, feat8 = (discriminator.get_layer(name).output for name in fastgan.FEATURE_LAYERS)
    feat8_in = keras.Input(shape=tuple(feat8.shape[1:]), name="feat8")
    quarter_in = keras.Input(shape=(feat16.shape[1] // 2, feat16.shape[2] // 2,
                                    feat16.shape[3]), name="feat16_quarter")
    whole, part = fastgan.decoders_body(feat8_in, quarter_in, preset, init, synchronized_bn)
    return keras.Model([feat8_in, quarter_in], [whole, part], name="decoders")


def discriminator_features(discriminator: keras.Model) -> keras.Model:
    """``image -> (logits, 16x16 features, gated 8x8 features)`` of a fastgan discriminator,
    sharing its layers (and so its variables)."""
    outputs = [discriminator.get_layer("logit").output] + [
        discriminator.get_layer(name).output for name in fastgan.FEATURE_LAYERS]
    return keras.Model(discriminator.input, outputs, name="discriminator_features")
