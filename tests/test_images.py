"""cxr_gan.data.images: every Pillow mode to checked gray, and each kind of bad file."""

import warnings

import numpy as np
import pytest
from PIL import Image

from cxr_gan.data.images import ImageReadError, read_grayscale


def _gradient(size=8):
    return (np.arange(size * size, dtype=np.uint8).reshape(size, size) * 3)


def test_l_mode_is_kept_exactly(tmp_path):
    pixels = _gradient()
    Image.fromarray(pixels, mode="L").save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_grayscale(tmp_path / "a.png", 8), pixels)


def test_rgb_uses_itu_601_luma(tmp_path):
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 0] = 200  # Pure red: L = round(200 * 0.299) = 60 (Pillow rounds).
    Image.fromarray(rgb, mode="RGB").save(tmp_path / "red.png")
    assert np.all(read_grayscale(tmp_path / "red.png", 8) == 60)


def test_equal_rgb_channels_equal_gray(tmp_path):
    pixels = _gradient()
    Image.fromarray(np.repeat(pixels[..., None], 3, -1), mode="RGB").save(tmp_path / "g.png")
    np.testing.assert_array_equal(read_grayscale(tmp_path / "g.png", 8), pixels)


def test_rgba_ignores_alpha(tmp_path):
    pixels = _gradient()
    rgba = np.stack([pixels, pixels, pixels, np.zeros_like(pixels)], -1)
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_grayscale(tmp_path / "a.png", 8), pixels)


def test_sixteen_bit_is_min_max_scaled(tmp_path):
    values = np.array([[1000, 1000], [3000, 5000]], dtype=np.uint16)  # 12-bit data in 16 bits.
    Image.fromarray(values).save(tmp_path / "d.png")
    assert Image.open(tmp_path / "d.png").mode.startswith("I")
    out = read_grayscale(tmp_path / "d.png", 2)
    np.testing.assert_array_equal(out, [[0, 0], [128, 255]])  # (3000-1000)/4000*255 = 127.5


def test_palette_and_cmyk_and_bilevel(tmp_path):
    pixels = _gradient()
    Image.fromarray(pixels, mode="L").convert("P").save(tmp_path / "p.png")
    np.testing.assert_array_equal(read_grayscale(tmp_path / "p.png", 8), pixels)
    Image.fromarray(np.full((8, 8), 255, np.uint8), mode="L").convert("CMYK").save(
        tmp_path / "c.jpg", quality=100)
    assert abs(int(read_grayscale(tmp_path / "c.jpg", 8).mean()) - 255) <= 2
    Image.fromarray(np.eye(8, dtype=bool)).save(tmp_path / "b.png")
    np.testing.assert_array_equal(read_grayscale(tmp_path / "b.png", 8), np.eye(8) * 255)


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((8, 8), np.uint8)
    pixels[:2, :2] = 255  # Marker at the top-left of the stored image.
    image = Image.fromarray(pixels, mode="L")
    exif = image.getexif()
    exif[0x0112] = 6  # "Rotate 90 degrees clockwise to display".
    image.save(tmp_path / "r.jpg", exif=exif, quality=100)
    out = read_grayscale(tmp_path / "r.jpg", 8)
    # Displayed upright, the marker is at the top-right corner, and nothing is at the top-left.
    assert out[:2, -2:].mean() > 200 and out[:2, :2].mean() < 50


def test_resize_to_model_size(tmp_path):
    Image.fromarray(np.full((300, 200), 77, np.uint8), mode="L").save(tmp_path / "big.png")
    out = read_grayscale(tmp_path / "big.png", 128)
    assert out.shape == (128, 128) and out.dtype == np.uint8 and np.all(out == 77)


@pytest.mark.parametrize("content,reason", [
    (b"", "empty file"),
    (b"this is not an image at all", "not an image"),
])
def test_bad_files_name_the_file_and_reason(tmp_path, content, reason):
    path = tmp_path / "bad.jpeg"
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=reason) as info:
        read_grayscale(path, 8)
    assert info.value.path == str(path)


def test_truncated_jpeg_is_rejected(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(tmp_path / "ok.jpeg")
    data = (tmp_path / "ok.jpeg").read_bytes()
    (tmp_path / "cut.jpeg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="cannot decode"):
        read_grayscale(tmp_path / "cut.jpeg", 8)


def test_corrupt_body_is_rejected(tmp_path):
    Image.fromarray(_gradient(32)).save(tmp_path / "ok.png")
    data = bytearray((tmp_path / "ok.png").read_bytes())
    data[60:120] = b"\x00" * 60  # Destroys the compressed stream, keeps the header.
    (tmp_path / "bad.png").write_bytes(bytes(data))
    with pytest.raises(ImageReadError):
        read_grayscale(tmp_path / "bad.png", 8)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="size"):
        read_grayscale("x.png", 0)
    with pytest.raises(ValueError, match="resize_filter"):
        read_grayscale("x.png", 8, "cubic-spline")


@pytest.mark.parametrize("size, reason", [((1, 1), "1x1 pixels, below 32 a side"),
                                          ((10000, 10), "10000x10 pixels, below 32 a side"),
                                          ((1000, 100), "sides in a ratio beyond 4")])
def test_tiny_or_elongated_images_are_read_with_a_warning_and_refused_when_strict(
        tmp_path, size, reason):
    from cxr_gan.data import datasets
    from cxr_gan.data.images import UnusualImageWarning, read_grayscale

    path = tmp_path / "train" / "NORMAL" / "IM-0001-0001.png"
    path.parent.mkdir(parents=True)
    Image.new("L", size, 100).save(path)
    with pytest.warns(UnusualImageWarning, match=reason):
        assert read_grayscale(path, 16).shape == (16, 16)
    record = datasets.ImageRecord("train/NORMAL/IM-0001-0001.png", "train", "NORMAL", "IM-0001")
    with pytest.raises(datasets.ImageReadError, match=reason):
        datasets.load_images(tmp_path, [record], "train", 16, strict=True)
    Image.new("L", (64, 48), 100).save(path)  # An ordinary image: no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_grayscale(path, 16)
