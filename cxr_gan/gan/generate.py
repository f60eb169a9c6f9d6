"""A saved generator -> seeded 8-bit grayscale PNGs.

Image ``i`` of a call with seed ``S`` comes from its own noise vector, drawn from a NumPy
generator seeded with ``(S, i)``: any image can be regenerated alone, and asking for more
images leaves the first ones unchanged.

The tanh output is mapped to 8 bits by ``round((x + 1) * 127.5)``, clipped to 0..255, after
averaging the three channels (the generator learned gray images replicated on three channels).
The authors' code instead wrote float arrays through imageio, which stretches every image to its
own min..max; ``stretch=True`` reproduces that for comparison only: it changes every image's
contrast and with it the FID.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from cxr_gan.cli import UserError
from cxr_gan.io import atomic_write_bytes


def noise_for_indices(seed: int, indices, latent_dim: int) -> np.ndarray:
    """Noise vectors of images ``indices`` of seed ``seed``, shape ``(len(indices), latent_dim)``."""
    return np.stack([
        np.random.default_rng([seed, int(i)]).standard_normal(latent_dim, dtype=np.float32)
        for i in indices
    ])


def generated_to_uint8(images: np.ndarray, stretch: bool = False) -> np.ndarray:
    """Generator output ``(n, h, w, c)`` in [-1, 1] -> uint8 gray ``(n, h, w)``."""
    gray = np.asarray(images, dtype=np.float64).mean(axis=-1)
    if stretch:
        low = gray.min(axis=(1, 2), keepdims=True)
        high = gray.max(axis=(1, 2), keepdims=True)
        scaled = (gray - low) / np.maximum(high - low, 1e-12) * 255.0
    else:
        scaled = (gray + 1.0) * 127.5
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def generate_uint8(generator, num_images: int, seed: int, batch_size: int = 64,
                   stretch: bool = False, start: int = 0) -> np.ndarray:
    """Runs ``generator`` on the seeded noise of images ``start .. start+num_images-1``."""
    if num_images < 1:
        raise ValueError(f"`num_images` must be >= 1. Received: num_images={num_images}")
    latent_dim = int(generator.input_shape[-1])
    out = []
    for first in range(start, start + num_images, batch_size):
        indices = range(first, min(first + batch_size, start + num_images))
        z = noise_for_indices(seed, indices, latent_dim)
        images = np.asarray(generator.predict_on_batch(z))
        out.append(generated_to_uint8(images, stretch=stretch))
    return np.concatenate(out)


def write_pngs(images: np.ndarray, out_dir: Path | str, seed: int, start: int = 0) -> list[Path]:
    """Writes uint8 ``(n, h, w)`` images as ``gen-s{seed}-{i:06d}.png`` atomically."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for offset, image in enumerate(images):
        path = out_dir / f"gen-s{seed}-{start + offset:06d}.png"
        buffer = io.BytesIO()
        Image.fromarray(image, mode="L").save(buffer, format="PNG")
        atomic_write_bytes(path, buffer.getvalue())
        paths.append(path)
    return paths


def load_generator(path: Path | str):
    """A saved ``generator.keras``, without its training state.

    Raises:
        UserError: No file at ``path``; the message says how to make one.
    """
    import keras

    path = Path(path)
    if not path.is_file():
        raise UserError(f"Generator not found: {path}. Train one with `python train_gan.py "
                        "--out RUN` and pass RUN/generator.keras.")
    return keras.models.load_model(path, compile=False)


def generate_pngs(generator_path: Path | str, num_images: int, seed: int, out_dir: Path | str,
                  stretch: bool = False, batch_size: int = 64) -> list[Path]:
    """Loads a saved ``generator.keras`` and writes ``num_images`` seeded PNGs to ``out_dir``.

    Raises:
        UserError: No generator at ``generator_path``, or ``out_dir`` already holds images of
            this seed (results are never overwritten).
    """
    import keras

    out_dir = Path(out_dir)
    if out_dir.is_dir() and any(out_dir.glob(f"gen-s{seed}-*.png")):
        raise UserError(f"{out_dir} already holds generated images of seed {seed}: choose a "
                        "new --out (images are never overwritten).")
    generator = load_generator(generator_path)
    progress = keras.utils.Progbar(num_images, unit_name="image")
    written = []
    for first in range(0, num_images, 1024):  # Bounded memory for large requests.
        count = min(1024, num_images - first)
        images = generate_uint8(generator, count, seed, batch_size, stretch, start=first)
        written += write_pngs(images, out_dir, seed, start=first)
        progress.add(count)
    return written
