"""The paper's augmentations, equal to TensorFlow's ``tf.image`` functions, in NumPy.

Images are float32 ``(..., h, w, c)`` in [0, 1]. Each function equals its ``tf.image`` twin
of the same name (tests prove it under TensorFlow) and needs no TensorFlow, so the pipeline
also runs under JAX on a machine without it:

    flip_left_right(x)               == tf.image.flip_left_right
    crop_to_bounding_box(x, ...)     == tf.image.crop_to_bounding_box
    resize_bilinear(x, h, w)         == tf.image.resize(method="bilinear", antialias=False)
    clip_by_value(x, lo, hi)         == tf.clip_by_value
    adjust_brightness(x, delta)      == tf.image.adjust_brightness (float: x + delta)
    adjust_contrast(x, factor)       == tf.image.adjust_contrast ((x - mean) * f + mean,
                                        mean over height and width, per channel)

Top-up protocol (the default, the same for every method): the NORMAL class of the training
split is topped up to the PNEUMONIA count with images the method makes from randomly drawn
NORMAL training images (3875 - 1341 = 2534 with the full data), so the methods differ only in
where the extra images come from. Random parameters are drawn per extra image from a seeded
generator; the ranges are in ``AugmentConfig``. Extra images are stored as 8-bit like the
originals: values are clipped to [0, 1] and rounded, which is the one place they differ from
the float ``tf.image`` output.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from cxr_gan.imageops import resize_bilinear_half_pixel



@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Parameters of the augmentations (all in the [0, 1] intensity scale).

    Attributes:
        crop_fraction: Side of the random crop as a fraction of the image side; the crop is
            resized back to full size (bilinear, as tf.image.resize).
        clip_range: (low, high) of clip_by_value.
        brightness_max_delta: delta ~ U(-d, d), as tf.image.random_brightness(max_delta=d).
        contrast_range: factor ~ U(lower, upper), as tf.image.random_contrast(lower, upper).
    """

    crop_fraction: float = 0.875
    clip_range: tuple[float, float] = (0.1, 0.9)
    brightness_max_delta: float = 0.2
    contrast_range: tuple[float, float] = (0.8, 1.2)


@dataclasses.dataclass(frozen=True)
class Method:
    """One classifier augmentation method.

    Attributes:
        name: What ``--augment`` calls it.
        uses_generator: Its extra images come from a GAN (``--generator`` / ``--gan-images``),
            so the leak guard checks them.
        stream_id: Second word of its random stream's seed ``[seed, stream_id]``: fixed per
            method (never its position in a list), so adding a method changes no other
            method's draws.
        transform: The image transform applied to its sources (``None``: the sources as
            they are).
        on_the_fly: Whether ``--on-the-fly`` can apply it to every training image.
        description: One line for help texts and reports.
        tops_up: Whether it adds images to the classes below the largest (the top-up
            protocol); ``none`` and the loss- or batch-level controls add none.
        online: Augmentation of every training batch while training, by Keras preprocessing
            layers (``cxr_gan.classifier.online``): ``"standard"`` or ``"mixup"``; None: none.
        class_weighted: The loss weighs each class by its inverse frequency (scikit-learn's
            ``"balanced"`` weights) instead of adding images.
    """

    name: str
    uses_generator: bool
    stream_id: int
    transform: str | None
    on_the_fly: bool
    description: str
    tops_up: bool = True
    online: str | None = None
    class_weighted: bool = False


# The ids of the first eight are their positions in the tuple earlier versions drew from
# (``METHODS.index``), so committed runs draw the same streams.
METHOD_REGISTRY: dict[str, Method] = {m.name: m for m in (
    Method("none", False, 0, None, False, "no extra images (the imbalanced baseline)",
           tops_up=False),
    Method("flip", False, 1, "flip", True, "tf.image.flip_left_right of NORMAL images"),
    Method("crop", False, 2, "crop", True, "random crop of 0.875 of the side, resized back"),
    Method("clip", False, 3, "clip", True, "tf.clip_by_value to [0.1, 0.9]"),
    Method("brightness", False, 4, "brightness", True, "adjust_brightness, delta U(-0.2, 0.2)"),
    Method("contrast", False, 5, "contrast", True, "adjust_contrast, factor U(0.8, 1.2)"),
    Method("gan", True, 6, None, False, "generated NORMAL images"),
    Method("gan+crop", True, 7, "crop", False, "generated NORMAL images, randomly cropped"),
    # The controls a reviewer asks for first (issue #26).
    Method("duplicate", False, 8, None, False,
           "unaltered copies of randomly drawn minority images (the count-matched control)"),
    Method("class-weight", False, 9, None, False,
           "no extra images; the loss weighted by inverse class frequency", tops_up=False,
           class_weighted=True),
    Method("standard", False, 10, None, False,
           "no extra images; every training image augmented each epoch (flip, rotation, zoom, "
           "shift, brightness, contrast)", tops_up=False, online="standard"),
    Method("mixup", False, 11, None, False, "no extra images; Keras MixUp of every batch",
           tops_up=False, online="mixup"),
    Method("gan+standard", True, 12, None, False,
           "generated minority images, then every training image augmented each epoch",
           online="standard"),
)}
METHODS = tuple(METHOD_REGISTRY)
GAN_METHODS = tuple(name for name, m in METHOD_REGISTRY.items() if m.uses_generator)
PAPER_METHODS = METHODS[:8]  # The paper's arms (Table 1): none ... gan+crop.
TOP_UP_METHODS = tuple(name for name, m in METHOD_REGISTRY.items() if m.tops_up)


def get_method(name: str) -> Method:
    """The registered method ``name``."""
    if name not in METHOD_REGISTRY:
        raise ValueError(f"Unknown method {name!r}. Expected one of {METHODS}.")
    return METHOD_REGISTRY[name]


def uses_generator(name: str) -> bool:
    """Whether method ``name`` takes its extra images from a GAN."""
    return get_method(name).uses_generator


def flip_left_right(x: np.ndarray) -> np.ndarray:
    return np.flip(x, axis=-2).copy()


def crop_to_bounding_box(x: np.ndarray, offset_height: int, offset_width: int,
                         target_height: int, target_width: int) -> np.ndarray:
    return x[..., offset_height:offset_height + target_height,
             offset_width:offset_width + target_width, :].copy()


def resize_bilinear(x: np.ndarray, height: int, width: int) -> np.ndarray:
    return resize_bilinear_half_pixel(x, height, width).astype(np.float32)


def clip_by_value(x: np.ndarray, low: float, high: float) -> np.ndarray:
    return np.clip(x, low, high).astype(np.float32)


def adjust_brightness(x: np.ndarray, delta: float) -> np.ndarray:
    return (x + np.float32(delta)).astype(np.float32)


def adjust_contrast(x: np.ndarray, factor: float) -> np.ndarray:
    mean = x.mean(axis=(-3, -2), keepdims=True, dtype=np.float32)
    return ((x - mean) * np.float32(factor) + mean).astype(np.float32)


def random_crop_resized(x: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A random square crop of ``fraction`` of the side, resized back to full size."""
    height, width = x.shape[-3], x.shape[-2]
    side_h, side_w = int(round(height * fraction)), int(round(width * fraction))
    top = int(rng.integers(0, height - side_h + 1))
    left = int(rng.integers(0, width - side_w + 1))
    return resize_bilinear(crop_to_bounding_box(x, top, left, side_h, side_w), height, width)


def transform_for(method: str, config: AugmentConfig) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    """The per-image transform of ``method`` (image, rng) -> image."""
    kind = get_method(method).transform
    if kind is None:
        raise ValueError(f"Method {method!r} has no image transform.")
    return _TRANSFORMS[kind](config)


_TRANSFORMS = {
    "flip": lambda config: lambda x, rng: flip_left_right(x),
    "crop": lambda config: lambda x, rng: random_crop_resized(x, config.crop_fraction, rng),
    "clip": lambda config: lambda x, rng: clip_by_value(x, *config.clip_range),
    "brightness": lambda config: lambda x, rng: adjust_brightness(
        x, rng.uniform(-config.brightness_max_delta, config.brightness_max_delta)),
    "contrast": lambda config: lambda x, rng: adjust_contrast(
        x, rng.uniform(*config.contrast_range)),
}


def on_the_fly_transform(method: str, config: AugmentConfig):
    """The transform applied to every training image while training (``--on-the-fly``).

    As ``tf.image.random_flip_left_right``, ``flip`` mirrors each image with probability 1/2;
    the other methods transform every image with freshly drawn random parameters. Values stay
    float (no 8-bit rounding).
    """
    if not get_method(method).on_the_fly:
        raise ValueError(f"Method {method!r} cannot be applied on the fly.")
    if method == "flip":
        return lambda x, rng: flip_left_right(x) if rng.random() < 0.5 else x
    return transform_for(method, config)


def to_unit(images_uint8: np.ndarray) -> np.ndarray:
    return images_uint8.astype(np.float32) / 255.0


def to_uint8(images: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8)


def top_up(normal: np.ndarray, n_extra: int, method: str, config: AugmentConfig, seed: int,
           gan_images: np.ndarray | None = None, stream: int = 0) -> np.ndarray:
    """Makes ``n_extra`` images of one class with ``method``.

    Args:
        normal: uint8 ``(n, h, w, 1)`` training images of the class topped up (NORMAL in the
            paper's task).
        n_extra: How many images to make.
        method: One of ``METHODS`` other than ``none``.
        config: Augmentation parameters.
        seed: Seeds the source draws and the random parameters.
        gan_images: uint8 ``(m >= n_extra, h, w, 1)`` generated images (``gan``, ``gan+crop``).
        stream: Which topped-up class this is (0, 1, ... in class order): the first draws the
            stream ``[seed, stream_id]`` of a two-class run, the others ``[seed, stream_id,
            stream]``, so classes never share draws.

    Returns:
        uint8 ``(n_extra, h, w, 1)``.
    """
    if method not in METHODS or not get_method(method).tops_up:
        raise ValueError(f"`method` must be one of {TOP_UP_METHODS}. Received: {method!r}")
    spec = get_method(method)
    rng = np.random.default_rng([seed, spec.stream_id] + ([stream] if stream else []))
    if spec.uses_generator:
        if gan_images is None or len(gan_images) < n_extra:
            have = 0 if gan_images is None else len(gan_images)
            raise ValueError(f"Method {method!r} needs {n_extra} generated images; got {have}. "
                             "Pass --generator or a --gan-images folder with enough PNGs.")
        sources = gan_images[:n_extra]
    else:
        sources = normal[rng.integers(0, len(normal), size=n_extra)]
    if spec.transform is None:
        return sources.copy()
    transform = transform_for(method, config)
    out = np.empty_like(sources)
    for i, image in enumerate(sources):
        out[i] = to_uint8(transform(to_unit(image), rng))
    return out
