"""The fastgan style's shape rules: which widths fit which resolution.

Plain Python (no Keras), so that a preset is checked when it is made, before any backend loads
(the scripts check their arguments first). ``cxr_gan/gan/fastgan.py`` builds from these.
"""

from __future__ import annotations

import math

# Quarter ``k`` of an image or feature map (rows, then columns): 0 top-left, 1 top-right,
# 2 bottom-left, 3 bottom-right, as the reference code's ``crop_image_by_part``.
N_QUARTERS = 4

# At these generator resolutions an up block has two GLU convolutions ("UpBlockComp").
COMP_RESOLUTIONS = (8, 32, 128, 512)
# Resolution ratio of the skip-layer excitation: r is gated by r / 16 in the generator.
SLE_RATIO = 16
SLE_MIN_RESOLUTION = 64


def n_down_blocks(image_size: int) -> int:
    """Down blocks from the stem (S/2) to 8x8."""
    return int(math.log2(image_size // 2 // 8))


def n_decoder_blocks(image_size: int) -> int:
    """Decoder up blocks from 8x8 to S/2."""
    return int(math.log2(image_size // 2 // 8))


def check_shape(image_size: int, g_base, g_filters, d_filters, decoder_filters) -> None:
    """Raises ``ValueError`` when the widths do not match the resolution."""
    if image_size not in (64, 128, 256):
        # 64 px is the smallest with 16x16 features in D (the tests' size).
        raise ValueError(f"The fastgan style builds 64, 128 or 256 px. Received: {image_size}")
    if tuple(g_base[:2]) != (4, 4):
        raise ValueError(f"fastgan's g_base must start at 4x4. Received: {g_base}")
    expected_g = int(math.log2(image_size // 4))
    if len(g_filters) != expected_g:
        raise ValueError(f"fastgan at {image_size}px needs {expected_g} g_filters (8.."
                         f"{image_size}). Received: {g_filters}")
    expected_d = n_down_blocks(image_size) + 2
    if len(d_filters) != expected_d:
        raise ValueError(f"fastgan at {image_size}px needs {expected_d} d_filters (stem, "
                         f"down blocks, head). Received: {d_filters}")
    if decoder_filters and len(decoder_filters) != n_decoder_blocks(image_size):
        raise ValueError(f"fastgan at {image_size}px needs {n_decoder_blocks(image_size)} "
                         f"decoder_filters. Received: {decoder_filters}")
