"""The FID Inception network ("inception-2015-12-05") as a functional Keras model.

This is not ``keras.applications.InceptionV3``: the 2015 graph that FID figures come from
differs in its pooling (pytorch-fid's ``FIDInceptionA/C/E``): the average pools inside
Mixed_5b..5d, Mixed_6b..6e and Mixed_7b exclude padding from their counts, and Mixed_7c's
pool branch is a *max* pool. Every convolution is conv (no bias) -> batch norm with gamma = 1,
eps = 1e-3 -> ReLU; we fold the batch norm into the convolution's kernel and bias
(``W / sqrt(var + eps)``, ``beta - mean / sqrt(var + eps)``), which is exact up to float32
rounding. Stages (input 299x299x3, values (x - 128) / 128)::

    conv 3x3 s2 (32) -> conv 3x3 (32) -> conv 3x3 pad 1 (64) -> maxpool 3 s2      # 73x73x64
    conv 1x1 (80) -> conv 3x3 (192) -> maxpool 3 s2                               # 35x35x192
    mixed, mixed_1, mixed_2   (Mixed_5b..5d, InceptionA)                          # 35x35x288
    mixed_3                   (Mixed_6a, InceptionB)                              # 17x17x768
    mixed_4 .. mixed_7        (Mixed_6b..6e, InceptionC)                          # 17x17x768
    mixed_8                   (Mixed_7a, InceptionD)                              # 8x8x1280
    mixed_9, mixed_10         (Mixed_7b, 7c, InceptionE)                          # 8x8x2048
    average pool 8x8 -> pool3                                                     # 2048

Outputs: ``f768``, Mixed_6e (``mixed_7``) averaged over its 17x17 positions, the
"pre-aux-classifier" features the paper used; and ``f2048``, pool3, the usual FID features.
Layer names follow the archive's module paths (``mixed_7.tower_1.conv_2`` -> ``mixed_7_tower_1_conv_2``).
"""

from __future__ import annotations

from typing import Any, Mapping

import keras
import numpy as np
from keras import layers

INPUT_SIZE = 299
_BN_EPSILON = 1e-3


class _Builder:
    def __init__(self, params: Mapping[str, Any]):
        self.params = params

    def conv(self, x, path: str):
        weight = np.asarray(self.params[f"{path}.weight"], dtype=np.float64)
        scale = 1.0 / np.sqrt(np.asarray(self.params[f"{path}.var"], np.float64) + _BN_EPSILON)
        bias = (np.asarray(self.params[f"{path}.beta"], np.float64)
                - np.asarray(self.params[f"{path}.mean"], np.float64) * scale)
        kernel = (weight * scale[:, None, None, None]).transpose(2, 3, 1, 0)  # OIHW -> HWIO
        stride = int(self.params[f"{path}.stride"])
        padding = self.params[f"{path}.padding"]
        pad_h, pad_w = (padding, padding) if np.isscalar(padding) else tuple(padding)
        name = path.replace(".", "_")
        if pad_h or pad_w:
            x = layers.ZeroPadding2D(((pad_h, pad_h), (pad_w, pad_w)), name=f"{name}_pad")(x)
        conv = layers.Conv2D(kernel.shape[-1], kernel.shape[:2], strides=stride, padding="valid",
                             activation="relu", name=name)
        x = conv(x)
        conv.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
        return x

    def tower(self, x, path: str):
        """A Sequential of ``conv``, ``conv_1``, ... (and a leading ``pool`` if present)."""
        index = 0
        while True:
            key = "conv" if index == 0 else f"conv_{index}"
            if f"{path}.{key}.weight" not in self.params:
                return x
            x = self.conv(x, f"{path}.{key}")
            index += 1


def _avg_pool_same(x, name):
    # Keras's "same" average pooling divides by the number of real (unpadded) inputs, which
    # is PyTorch's count_include_pad=False: the 2015 graph's behaviour.
    return layers.AveragePooling2D(3, strides=1, padding="same", name=name)(x)


def _inception_a(b: _Builder, x, p: str):
    return layers.Concatenate(name=p)([
        b.conv(x, f"{p}.conv"),
        b.tower(x, f"{p}.tower"),
        b.tower(x, f"{p}.tower_1"),
        b.conv(_avg_pool_same(x, f"{p}_tower_2_pool"), f"{p}.tower_2.conv"),
    ])


def _inception_b(b: _Builder, x, p: str):
    return layers.Concatenate(name=p)([
        b.conv(x, f"{p}.conv"),
        b.tower(x, f"{p}.tower"),
        layers.MaxPooling2D(3, strides=2, name=f"{p}_pool")(x),
    ])


def _inception_d(b: _Builder, x, p: str):
    return layers.Concatenate(name=p)([
        b.tower(x, f"{p}.tower"),
        b.tower(x, f"{p}.tower_1"),
        layers.MaxPooling2D(3, strides=2, name=f"{p}_pool")(x),
    ])


def _inception_e(b: _Builder, x, p: str, max_pool: bool):
    a = b.conv(x, f"{p}.tower_conv")
    c = b.conv(b.conv(x, f"{p}.tower_1_conv"), f"{p}.tower_1_conv_1")
    if max_pool:  # Mixed_7c in the 2015 graph.
        pooled = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{p}_tower_2_pool")(x)
    else:
        pooled = _avg_pool_same(x, f"{p}_tower_2_pool")
    return layers.Concatenate(name=p)([
        b.conv(x, f"{p}.conv"),
        b.conv(a, f"{p}.tower_mixed_conv"),
        b.conv(a, f"{p}.tower_mixed_conv_1"),
        b.conv(c, f"{p}.tower_1_mixed_conv"),
        b.conv(c, f"{p}.tower_1_mixed_conv_1"),
        b.conv(pooled, f"{p}.tower_2_conv"),
    ])


def build_fid_inception(params: Mapping[str, Any]) -> keras.Model:
    """Builds the network with ``params`` from ``cxr_gan.fid.weights.load_fid_parameters``.

    Returns:
        A functional model ``"fid_inception"``: ``(batch, 299, 299, 3)`` float32 in
        [-1, 1) -> ``{"f768": (batch, 768), "f2048": (batch, 2048)}``.
    """
    b = _Builder(params)
    image = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="image")
    x = b.conv(image, "conv")                                     # 149x149x32
    x = b.conv(x, "conv_1")                                       # 147x147x32
    x = b.conv(x, "conv_2")                                       # 147x147x64
    x = layers.MaxPooling2D(3, strides=2, name="pool0")(x)        # 73x73x64
    x = b.conv(x, "conv_3")                                       # 73x73x80
    x = b.conv(x, "conv_4")                                       # 71x71x192
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)        # 35x35x192
    for name in ("mixed", "mixed_1", "mixed_2"):
        x = _inception_a(b, x, name)                              # 35x35x256/288/288
    x = _inception_b(b, x, "mixed_3")                             # 17x17x768
    for name in ("mixed_4", "mixed_5", "mixed_6", "mixed_7"):
        x = _inception_a(b, x, name)  # InceptionC has InceptionA's shape: 4 branches.
    f768 = layers.GlobalAveragePooling2D(name="f768")(x)          # Mixed_6e pooled: 768
    x = _inception_d(b, x, "mixed_8")                             # 8x8x1280
    x = _inception_e(b, x, "mixed_9", max_pool=False)             # 8x8x2048
    x = _inception_e(b, x, "mixed_10", max_pool=True)             # 8x8x2048
    f2048 = layers.GlobalAveragePooling2D(name="f2048")(x)        # pool3: 2048
    return keras.Model(image, {"f768": f768, "f2048": f2048}, name="fid_inception")
