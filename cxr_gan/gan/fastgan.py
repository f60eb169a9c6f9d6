"""FastGAN (Liu et al., ICLR 2021) as standard-Keras functional models, and its mathematics.

"Towards Faster and Stabilized GAN Training for High-fidelity Few-shot Image Synthesis", built
from the paper and its reference code's design, at the generator's resolution ``S`` (128 or
256; 64 for tests):

Generator (``g_base`` = (4, 4, c4), ``g_filters`` = the widths at 8, 16, ..., S)::

    z -> InitLayer: 1x1 -> 4x4 transposed conv, BN, GLU                  # 4x4xc4
    -> up blocks to S; at 8, 32, 128: "comp" (two GLU convs), else one
       up block = nearest x2 upsampling, then per GLU: 3x3 conv (value) and 3x3 conv (gate),
       each with BN, value * sigmoid(gate)
    -> SLE at every resolution r >= 64: features(r) * SE(features(r / 16))
       SE(x) = sigmoid(conv1x1(swish(conv4x4_valid(avgpool_to_4x4(x)))))   # (B, 1, 1, c_r)
    -> 3x3 conv to the image's channels (tanh added by ``build_generator``)

Discriminator (``d_filters`` = stem, the down blocks' widths, the logit head's width)::

    image SxS -> 4x4 stride-2 conv, LeakyReLU                             # S/2 ("stem")
    -> down blocks to 8x8: (main: 4x4 s2 conv, BN, LReLU, 3x3 conv, BN, LReLU
                            + direct: 2x2 average pool, 1x1 conv, BN, LReLU) / 2
    -> SLE: features(8) * SE(stem)   (FastGAN's se_8_64 ratio, S/2 -> 8 at S = 128)
    -> 1x1 conv, BN, LReLU, 4x4 valid conv -> 5x5 logits, flattened (layer ``"logit"``)

Self-supervision (``options.reconstruction`` > 0; ``build_decoders``): two small decoders
reconstruct, from D's features of a *real* image, (a) the whole image from the 8x8 features
and (b) one quarter of the image from the matching 8x8 quarter of the 16x16 features; each
decoder is up blocks (one GLU each) from 8x8 to S/2, then a 3x3 conv and tanh. The loss is L1
between each output and its target, the D input (after DiffAugment, as the reference code
reconstructs the augmented image) average-pooled to S/2 (whole) or its quarter at S/2.

Where this differs from the reference code, and why:

- **L1, not LPIPS**: LPIPS needs VGG weights, which cannot be fetched here.
- **No noise injection** in the generator's comp blocks: it is not a standard Keras layer and
  its noise would have to come from the data pipeline for bitwise resume; its weight starts at
  0 in the reference code.
- **No spectral norm in the generator**: every generator conv but the last is followed by batch
  norm, which undoes a rescaling of its kernel; and ``keras.layers.SpectralNormalization``'s
  in-place kernel write is lost under JAX's stateless calls, so a JAX-trained generator would
  sample with unnormalised kernels. The discriminator has spectral norm
  (``options.spectral_norm``).
- **One resolution in D**: no second branch on a half-size copy of the image (and so no third
  "small" decoder); **decoders output S/2**, not 128: compute for a 2-core CPU.
- **One quarter per image** (the reference code draws one per batch), and plain hinge loss
  (the reference code's hinge margin is drawn from U(0.8, 1.0) per logit).
"""

from __future__ import annotations

from keras import layers, ops

from cxr_gan.gan.fastgan_shape import COMP_RESOLUTIONS, N_QUARTERS, SLE_MIN_RESOLUTION, SLE_RATIO


# -- pure mathematics (keras.ops, both backends) ----------------------------------------------
def select_quarter(x, crop):
    """Quarter ``argmax(crop[i])`` of each ``x[i]``.

    Args:
        x: ``(B, H, W, C)`` with even H and W.
        crop: ``(B, 4)`` one-hot rows (quarter 0 top-left, 1 top-right, 2 bottom-left, 3
            bottom-right).

    Returns:
        ``(B, H / 2, W / 2, C)``: a weighted sum of the four quarters, so that gradients flow
        to the selected one only.
    """
    h, w = x.shape[1] // 2, x.shape[2] // 2
    quarters = ops.stack([x[:, :h, :w], x[:, :h, w:], x[:, h:, :w], x[:, h:, w:]], axis=1)
    weights = ops.reshape(ops.cast(crop, quarters.dtype), (-1, N_QUARTERS, 1, 1, 1))
    return ops.sum(quarters * weights, axis=1)


def average_pool(x, factor: int):
    """Mean over non-overlapping ``factor x factor`` blocks of ``(B, H, W, C)`` (1: ``x``)."""
    if factor == 1:
        return x
    _, h, w, c = x.shape
    blocks = ops.reshape(x, (-1, h // factor, factor, w // factor, factor, c))
    return ops.mean(blocks, axis=(2, 4))


def reconstruction_l1(whole, part, image, crop):
    """FastGAN's reconstruction term with L1: ``mean|whole - pool(image)| + mean|part -
    pool(quarter(image))|``.

    Args:
        whole, part: The decoders' outputs, ``(B, s, s, C)``.
        image: What D saw, ``(B, S, S, C)`` with ``S`` a multiple of ``2 s``.
        crop: ``(B, 4)`` one-hot quarters.
    """
    image = ops.cast(image, "float32")
    size = image.shape[1]
    target_whole = average_pool(image, size // whole.shape[1])
    target_part = average_pool(select_quarter(image, crop), size // 2 // part.shape[1])
    return (ops.mean(ops.abs(ops.cast(whole, "float32") - target_whole))
            + ops.mean(ops.abs(ops.cast(part, "float32") - target_part)))


# -- blocks -----------------------------------------------------------------------------------
def _batch_norm(name: str, synchronized: bool) -> layers.BatchNormalization:
    # PyTorch's BatchNorm2d defaults, as the reference code: momentum 0.1 (Keras 0.9), eps 1e-5.
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=synchronized,
                                     name=name)


def glu_conv(x, filters: int, name: str, conv, synchronized_bn: bool):
    """GLU as two convolutions and a sigmoid gate: ``BN(conv_v(x)) * sigmoid(BN(conv_g(x)))``.

    The reference code's ``GLU(BN(conv(x, 2 * filters)))`` splits one convolution's channels
    in half; two convolutions with their own batch norm compute exactly that (batch norm is
    per channel).
    """
    value = _batch_norm(f"{name}_value_bn", synchronized_bn)(conv(filters, f"{name}_value")(x))
    gate = _batch_norm(f"{name}_gate_bn", synchronized_bn)(conv(filters, f"{name}_gate")(x))
    gate = layers.Activation("sigmoid", name=f"{name}_gate_sigmoid")(gate)
    return layers.Multiply(name=f"{name}_glu")([value, gate])


def skip_excitation(small, big, name: str, conv2d):
    """SLE: ``big * sigmoid(conv1x1(swish(conv4x4(avgpool_to_4x4(small)))))``."""
    pool = small.shape[1] // 4
    x = layers.AveragePooling2D(pool, name=f"{name}_pool")(small) if pool > 1 else small
    channels = big.shape[-1]
    x = conv2d(channels, 4, 1, "valid", f"{name}_conv4")(x)
    x = layers.Activation("silu", name=f"{name}_swish")(x)
    x = conv2d(channels, 1, 1, "valid", f"{name}_conv1")(x)
    x = layers.Activation("sigmoid", name=f"{name}_gate")(x)
    return layers.Multiply(name=f"{name}_apply")([big, x])


def _conv_factory(init, kernel: int):
    """``conv(filters, name)``: a bias-free ``kernel x kernel`` same-padded convolution."""

    def conv(filters: int, name: str):
        return layers.Conv2D(filters, kernel, padding="same", use_bias=False,
                             kernel_initializer=init(), name=name)

    return conv


def _conv2d_factory(init, wrap=None):
    """``conv2d(filters, kernel, strides, padding, name)``, bias-free."""

    def conv2d(filters: int, kernel: int, strides: int, padding: str, name: str):
        layer = layers.Conv2D(filters, kernel, strides=strides, padding=padding,
                              use_bias=False, kernel_initializer=init(), name=name)
        return wrap(layer) if wrap else layer

    return conv2d


# -- generator --------------------------------------------------------------------------------
def generator_body(z, preset, init, synchronized_bn: bool):
    """``z -> pre-tanh image`` (module docstring)."""
    c4 = preset.g_base[2]
    x = layers.Reshape((1, 1, preset.latent_dim), name="init_reshape")(z)

    def init_conv(filters, name):
        return layers.Conv2DTranspose(filters, 4, padding="valid", use_bias=False,
                                      kernel_initializer=init(), name=name)

    features = {4: glu_conv(x, c4, "init", init_conv, synchronized_bn)}
    conv3 = _conv_factory(init, 3)
    conv2d = _conv2d_factory(init)
    x = features[4]
    for index, filters in enumerate(preset.g_filters):
        resolution = 8 * 2**index
        name = f"up{resolution}"
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_upsample")(x)
        x = glu_conv(x, filters, f"{name}_a", conv3, synchronized_bn)
        if resolution in COMP_RESOLUTIONS:
            x = glu_conv(x, filters, f"{name}_b", conv3, synchronized_bn)
        if resolution >= SLE_MIN_RESOLUTION:
            x = skip_excitation(features[resolution // SLE_RATIO], x, f"sle{resolution}",
                                conv2d)
        features[resolution] = x
    return layers.Conv2D(preset.channels, 3, padding="same", use_bias=False,
                         kernel_initializer=init(), name="to_image_conv")(x)


# -- discriminator ----------------------------------------------------------------------------
def _down_block(x, filters: int, resolution: int, conv2d, preset, synchronized_bn: bool):
    slope = preset.leaky_slope
    name = f"down{resolution}"
    main = conv2d(filters, 4, 2, "same", f"{name}_main_conv4")(x)
    main = _batch_norm(f"{name}_main_bn1", synchronized_bn)(main)
    main = layers.LeakyReLU(negative_slope=slope, name=f"{name}_main_lrelu1")(main)
    main = conv2d(filters, 3, 1, "same", f"{name}_main_conv3")(main)
    main = _batch_norm(f"{name}_main_bn2", synchronized_bn)(main)
    main = layers.LeakyReLU(negative_slope=slope, name=f"{name}_main_lrelu2")(main)
    direct = layers.AveragePooling2D(2, name=f"{name}_direct_pool")(x)
    direct = conv2d(filters, 1, 1, "same", f"{name}_direct_conv1")(direct)
    direct = _batch_norm(f"{name}_direct_bn", synchronized_bn)(direct)
    direct = layers.LeakyReLU(negative_slope=slope, name=f"{name}_direct_lrelu")(direct)
    return layers.Average(name=f"feat{resolution}")([main, direct])


def discriminator_body(image, preset, init, synchronized_bn: bool, wrap):
    """``image -> flattened 5x5 logits`` (layer ``"logit"``); ``wrap`` adds spectral norm.

    Layers ``FEATURE_LAYERS`` hold the features the decoders read."""
    conv2d = _conv2d_factory(init, wrap)
    slope = preset.leaky_slope
    stem_filters, *down_filters, head_filters = preset.d_filters
    stem = conv2d(stem_filters, 4, 2, "same", "stem_conv")(image)
    stem = layers.LeakyReLU(negative_slope=slope, name="stem_lrelu")(stem)
    x = stem
    resolution = preset.image_size // 2
    for filters in down_filters:
        resolution //= 2
        x = _down_block(x, filters, resolution, conv2d, preset, synchronized_bn)
    # The last block's output (8x8) gated by the stem; its layer "sle8_apply" feeds a decoder.
    x = skip_excitation(stem, x, "sle8", conv2d)
    x = conv2d(head_filters, 1, 1, "same", "head_conv1")(x)
    x = _batch_norm("head_bn", synchronized_bn)(x)
    x = layers.LeakyReLU(negative_slope=slope, name="head_lrelu")(x)
    x = wrap(layers.Conv2D(1, 4, padding="valid", use_bias=False, kernel_initializer=init(),
                           dtype="float32", name="logit_conv"))(x)
    return layers.Flatten(dtype="float32", name="logit")(x)


# The 16x16 features (a quarter of them feeds the part decoder), the gated 8x8 ones.
FEATURE_LAYERS = ("feat16", "sle8_apply")


# -- decoders ---------------------------------------------------------------------------------
def _decoder(features, preset, init, name: str, synchronized_bn: bool):
    conv3 = _conv_factory(init, 3)
    x = features
    for index, filters in enumerate(preset.decoder_filters):
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}{index}_upsample")(x)
        x = glu_conv(x, filters, f"{name}{index}", conv3, synchronized_bn)
    x = layers.Conv2D(preset.channels, 3, padding="same", use_bias=False,
                      kernel_initializer=init(), name=f"{name}_to_image")(x)
    return layers.Activation("tanh", dtype="float32", name=f"{name}_tanh")(x)


def decoders_body(feat8, quarter16, preset, init, synchronized_bn: bool):
    """``(8x8 features, 8x8 quarter of the 16x16 features) -> (whole, part)`` images."""
    whole = _decoder(feat8, preset, init, "decode_whole", synchronized_bn)
    part = _decoder(quarter16, preset, init, "decode_part", synchronized_bn)
    return whole, part
