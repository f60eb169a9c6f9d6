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

from cxr_gan.cli import BadFileError, MissingInputError, UserError
from cxr_gan.io import atomic_write_bytes, read_json, write_json


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


def check_generator(model, path: Path | str) -> None:
    """Refuses a model that does not map noise ``(None, d)`` to square images ``(None, s, s,
    1 or 3)`` (a discriminator passed as a generator, say)."""
    inputs, outputs = tuple(model.input_shape), tuple(model.output_shape)
    is_generator = (len(inputs) == 2 and len(outputs) == 4 and outputs[1] == outputs[2]
                    and outputs[3] in (1, 3))
    if not is_generator:
        hint = " (an image: is it a discriminator.keras?)" if len(inputs) == 4 else ""
        raise BadFileError(
            f"{path} is not a generator: it maps {inputs}{hint} to {outputs}, a generator maps "
            "noise (None, LATENT) to images (None, SIZE, SIZE, CHANNELS). Pass the "
            "generator.keras of a train_gan.py run.")


def _sha256(path: Path | str) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_generator(path: Path | str):
    """A saved ``generator.keras``, without its training state, checked to be a generator.

    Raises:
        MissingInputError: No file at ``path``; the message says how to make one.
        BadFileError: The file is not a Keras archive, cannot be loaded, or holds a model that
            is not a generator.
    """
    import zipfile

    import keras

    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"Generator not found: {path}. Train one with `python "
                                "train_gan.py --out RUN` and pass RUN/generator.keras.")
    if not zipfile.is_zipfile(path):
        raise BadFileError(f"{path} is not a Keras model file (a .keras file is a zip archive; "
                           "this one is damaged or another kind of file). Pass the "
                           "generator.keras of a train_gan.py run.")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as error:  # Keras raises many kinds for a bad archive; all mean "bad file".
        raise BadFileError(f"{path} cannot be loaded as a Keras model ({type(error).__name__}: "
                           f"{error}). Pass the generator.keras of a train_gan.py run.") from None
    check_generator(model, path)
    return model


PROVENANCE_NAME = "provenance.json"


def generator_provenance(generator_path: Path | str) -> dict:
    """What a generator learned from, read from its run folder (the folder holding it:
    ``config.json`` and ``manifest.csv`` of ``train_gan.py``). ``training_files`` (paths
    relative to ``data``) is None when the folder holds no such record (a generator copied out
    of its run): its provenance is then unknown.
    """
    import csv

    path = Path(generator_path).resolve()
    run_dir = path.parent
    provenance = {"path": str(path), "run": None, "data": None, "split": "unknown",
                  "split_seed": None, "label": None, "validation_seeds": None,
                  "training_images": None, "training_files": None}
    config_path, manifest_path = run_dir / "config.json", run_dir / "manifest.csv"
    if not (config_path.is_file() and manifest_path.is_file()):
        return provenance
    config = read_json(config_path)
    if "preset" not in config or "label" not in config:
        return provenance  # Another program's config.json.
    with open(manifest_path, newline="", encoding="utf-8") as handle:
        used = [row["path"] for row in csv.DictReader(handle) if row.get("status") == "used"]
    provenance.update({
        "run": str(run_dir), "data": config["data"], "split": config["split"],
        "split_seed": config["split_seed"], "label": config["label"],
        "validation_seeds": config.get("validation_seeds", []),
        "training_images": len(used), "training_files": used,
        "synthetic": config.get("synthetic", False),
    })
    return provenance


def folder_digest(folder: Path | str) -> str:
    """sha256 over every image file of ``folder`` (relative names and contents, sorted): the
    provenance records it, and the leak guard refuses a folder whose files changed since."""
    import hashlib

    from cxr_gan.io import list_images

    folder = Path(folder)
    digest = hashlib.sha256()
    for path in list_images(folder):
        digest.update(str(path.relative_to(folder)).encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def seal_folder(folder: Path | str) -> None:
    """Writes the folder's ``folder_digest`` into its ``provenance.json``."""
    provenance = read_folder_provenance(folder)
    write_json(Path(folder) / PROVENANCE_NAME, {**provenance, "files_sha256": folder_digest(folder)})


def read_folder_provenance(folder: Path | str) -> dict | None:
    """The ``provenance.json`` that ``generate_pngs`` wrote into a folder of images, or None."""
    path = Path(folder) / PROVENANCE_NAME
    return read_json(path) if path.is_file() else None


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
    provenance = {**generator_provenance(generator_path),
                  "generator_sha256": _sha256(generator_path)}
    previous = read_folder_provenance(out_dir)
    if previous and previous.get("generator_sha256") != provenance["generator_sha256"]:
        raise UserError(f"{out_dir} holds images of another generator ({previous['path']}): "
                        "choose a new --out, one folder per generator.")
    seeds = sorted({*(previous or {}).get("seeds", {}).items(), (str(seed), num_images)})
    write_json(out_dir / PROVENANCE_NAME,
               {**provenance, "seeds": dict(seeds), "stretch": stretch,
                "images": "gen-s{seed}-{index:06d}.png, noise seeded with (seed, index)"})
    progress = keras.utils.Progbar(num_images, unit_name="image")
    written = []
    for first in range(0, num_images, 1024):  # Bounded memory for large requests.
        count = min(1024, num_images - first)
        images = generate_uint8(generator, count, seed, batch_size, stretch, start=first)
        written += write_pngs(images, out_dir, seed, start=first)
        progress.add(count)
    seal_folder(out_dir)
    return written
