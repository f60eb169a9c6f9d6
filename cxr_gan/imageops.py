"""Image operations shared by the FID preprocessing and the classifier's augmentations."""

from __future__ import annotations

import numpy as np


def _resize_axis_half_pixel(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Linear interpolation along one axis as ``torch.nn.functional.interpolate(mode=
    "bilinear", align_corners=False)`` does: half-pixel centres, source clamped at 0, no
    antialiasing when shrinking."""
    n = x.shape[axis]
    # In float32, as PyTorch's CPU kernel computes source positions and weights.
    scale = np.float32(n / size)
    source = scale * (np.arange(size, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5)
    source = np.maximum(source, np.float32(0.0))
    low = np.minimum(np.floor(source).astype(int), n - 1)
    high = np.minimum(low + 1, n - 1)
    weight = (source - low.astype(np.float32)).astype(np.float32)
    shape = [1] * x.ndim
    shape[axis] = size
    weight = weight.reshape(shape)
    return np.take(x, low, axis=axis) * (1 - weight) + np.take(x, high, axis=axis) * weight


def resize_bilinear_half_pixel(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """``(..., h, w, c)`` float images resized to ``(..., height, width, c)``.

    Equal (to float32 rounding) to ``torch.nn.functional.interpolate(mode="bilinear",
    align_corners=False)`` (pytorch-fid's resize) and to ``tf.image.resize(method="bilinear",
    antialias=False)``: both use half-pixel centres and no antialiasing.
    """
    return _resize_axis_half_pixel(_resize_axis_half_pixel(x, height, x.ndim - 3), width,
                                   x.ndim - 2)
