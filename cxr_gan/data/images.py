"""Any image file -> a checked 8-bit grayscale array at a fixed size, or a clear reason why not.

Chest radiographs arrive in every format Pillow can open: 8-bit grayscale JPEGs (Kermany),
RGB copies with three equal channels, 16-bit PNGs exported from DICOM, palette or CMYK files
from slide decks, phone photos with an EXIF orientation tag. All of them are reduced here to
one representation, so that nothing downstream needs to care:

1. EXIF orientation is applied (``ImageOps.exif_transpose``), so a rotated phone photo is upright.
2. The mode is reduced to 8-bit luminance ``L``:
   - ``L`` is kept; ``1``, ``P``, ``RGB``, ``RGBA``, ``LA``, ``CMYK``, ``YCbCr`` go through RGB and
     then Pillow's ITU-R 601-2 luma (``L = 0.299 R + 0.587 G + 0.114 B``). Alpha is ignored:
     a radiograph has no meaningful transparency.
   - High bit depth (``I;16*``, ``I``, ``F``) is rescaled linearly from the image's own minimum
     and maximum to 0..255. The bit depth actually used varies (12-bit data in 16-bit
     containers is common), so a fixed divisor would leave many images nearly black.
3. The image is resized to ``size x size`` with the filter named in ``RESIZE_FILTERS``
   (default Pillow ``BILINEAR``, which widens its support when shrinking, i.e. antialiases).
   The aspect ratio is not kept: the Kermany copies here are already squashed to 224x224, and
   the paper's models take square inputs.

Model code maps the uint8 result to [-1, 1] by ``x / 127.5 - 1``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cxr_gan.cli import UserError


RESIZE_FILTERS = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "nearest": Image.Resampling.NEAREST,
}


_HIGH_BIT_DEPTH = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


class ImageReadError(UserError, ValueError):
    """An image file that cannot be used, with the file and the reason."""

    def __init__(self, path: Path | str, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def _to_luminance(image: Image.Image) -> Image.Image:
    """Reduces any Pillow mode to 8-bit ``L`` (see the module docstring for the rules)."""
    if image.mode == "L":
        return image
    if image.mode in _HIGH_BIT_DEPTH:
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scale = 255.0 / (high - low) if high > low else 0.0
        scaled = np.clip(np.rint((values - low) * scale), 0, 255).astype(np.uint8)
        return Image.fromarray(scaled, mode="L")
    return image.convert("RGB").convert("L")


def _check_arguments(size: int, resize_filter: str) -> None:
    if size <= 0:
        raise ValueError(f"`size` must be a positive integer. Received: size={size}")
    if resize_filter not in RESIZE_FILTERS:
        raise ValueError(
            f"`resize_filter` must be one of {sorted(RESIZE_FILTERS)}. "
            f"Received: resize_filter={resize_filter!r}"
        )


def open_image(path: Path | str) -> Image.Image:
    """Decodes one image file, upright, with high bit depths reduced to 8-bit ``L`` by the
    min..max rule (module docstring); 8-bit modes (``L``, ``RGB``, ...) are kept as they are.

    The one reader of image files: training reduces the result to gray, FID converts it to RGB
    (an 8-bit gray image gives the same RGB either way, and a 16-bit one the same stretch).

    Raises:
        ImageReadError: The file is empty, truncated, not an image, too large to be a
            radiograph, or cannot be decoded; the message names the file and the reason.
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise ImageReadError(path, "empty file (0 bytes)")
        with warnings.catch_warnings():
            # A decompression-bomb warning becomes an error: such a file is not a radiograph.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()  # Decode now: truncated data raises here, not later.
                upright = ImageOps.exif_transpose(image)
                if upright.mode in _HIGH_BIT_DEPTH:
                    return _to_luminance(upright)
                return upright.copy() if upright is image else upright
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError(path, "not an image Pillow can identify") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
        raise ImageReadError(path, f"image too large ({error})") from None
    except (OSError, SyntaxError, ValueError) as error:
        # Pillow reports truncated or corrupt data as OSError ("image file is truncated",
        # "broken data stream") and some malformed headers as SyntaxError or ValueError.
        raise ImageReadError(path, f"cannot decode: {error}") from None


# Below this side, or beyond this ratio of the sides, a file is unlikely to be a radiograph (an
# icon, a thumbnail, a strip cut from a page): it is read with a warning (``--strict``: refused).
MIN_SIDE = 32
MAX_ASPECT = 4.0


class UnusualImageWarning(UserWarning):
    """An image that decodes but is very small or very elongated for a radiograph."""

    def __init__(self, path: Path | str, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"{path}: {reason}: unusual for a radiograph (check the file; "
                         "--strict refuses it)")


def warn_if_unusual(path: Path | str, width: int, height: int) -> None:
    """Warns (``UnusualImageWarning``) about an image below ``MIN_SIDE`` pixels a side or with
    sides in a ratio beyond ``MAX_ASPECT``."""
    short, long = sorted((width, height))
    if short < MIN_SIDE:
        reason = f"{width}x{height} pixels, below {MIN_SIDE} a side"
    elif long / short > MAX_ASPECT:
        reason = f"{width}x{height} pixels, sides in a ratio beyond {MAX_ASPECT:g}"
    else:
        return
    warnings.warn(UnusualImageWarning(path, reason), stacklevel=3)


def read_native_gray(path: Path | str) -> np.ndarray:
    """One image file as uint8 gray at its own size (the pixels a re-encoded copy keeps)."""
    return np.asarray(_to_luminance(open_image(path)), dtype=np.uint8)


def read_grayscale(path: Path | str, size: int, resize_filter: str = "bilinear") -> np.ndarray:
    """Reads one image file as a ``(size, size)`` uint8 grayscale array.

    Args:
        path: An image file Pillow can decode.
        size: Output height and width in pixels.
        resize_filter: A key of ``RESIZE_FILTERS``.

    Returns:
        The image as ``np.uint8`` of shape ``(size, size)``.

    Raises:
        ImageReadError: See ``open_image``.
        ValueError: ``size`` or ``resize_filter`` is invalid.
    """
    _check_arguments(size, resize_filter)
    gray = _to_luminance(open_image(path))
    warn_if_unusual(path, *gray.size)
    if gray.size != (size, size):
        gray = gray.resize((size, size), RESIZE_FILTERS[resize_filter])
    return np.asarray(gray, dtype=np.uint8).copy()
