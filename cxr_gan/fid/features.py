"""Images -> FID features (768-d and 2048-d), and cached statistics of a real set.

Files are decoded by the project's one image reader (``cxr_gan.data.images.open_image``: EXIF
orientation, 16-bit images stretched to 8 bits by the rule training uses). Preprocessing
(default ``"pil-bilinear"``), the recipe of ``../shared/fid`` and of clean comparisons:
``.convert("RGB")``, ``resize((299, 299), BILINEAR)``
(Pillow's bilinear widens its support when shrinking), float32, ``(x - 128) / 128``. Generated
images go through the same path as real ones: they are written as 8-bit PNGs first (or given
as the same uint8 arrays), so both sides share one quantisation.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from cxr_gan.cli import UserError
from cxr_gan.data.images import ImageReadError, open_image, read_grayscale
from cxr_gan.imageops import resize_bilinear_half_pixel
from cxr_gan.io import atomic_write_bytes, list_images

PREPROCESSINGS = {
    "pil-bilinear": "convert('RGB'), PIL resize((299, 299), BILINEAR), (x - 128) / 128",
    "pytorch-fid": "convert('RGB'), x / 255, torch-style bilinear resize to 299 "
                   "(align_corners=False, no antialiasing), 2x - 1",
}


def preprocess(image: Image.Image, preprocessing: str = "pil-bilinear") -> np.ndarray:
    """One PIL image -> ``(299, 299, 3)`` float32 network input.

    ``"pil-bilinear"`` (default) is the recipe of ``../shared/fid`` and of this project's
    figures; ``"pytorch-fid"`` mimics pytorch-fid, which the paper used, for reproduction.
    """
    if preprocessing == "pil-bilinear":
        resized = image.convert("RGB").resize((299, 299), Image.Resampling.BILINEAR)
        return (np.asarray(resized, dtype=np.float32) - 128.0) / 128.0
    if preprocessing == "pytorch-fid":
        x = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
        return (2.0 * resize_bilinear_half_pixel(x, 299, 299) - 1.0).astype(np.float32)
    raise ValueError(f"`preprocessing` must be one of {sorted(PREPROCESSINGS)}. "
                     f"Received: {preprocessing!r}")


def _as_given(meta: dict, paths: Sequence[Path], name: str) -> dict:
    """Cached ``meta`` with the paths spelled as this caller gave them (the cache key holds
    resolved paths, so a hit may come from a call that named the same files otherwise: an
    absolute data folder, another working directory)."""
    given = {str(path.resolve()): str(path) for path in paths}

    def spelled(path: str) -> str:
        return given.get(str(Path(path).resolve()), path)

    return {**meta, "folder": name, "paths": [spelled(p) for p in meta["paths"]],
            "skipped": [(spelled(p), reason) for p, reason in meta["skipped"]]}


# The network of each weights file (by digest), built once a process: building and tracing it
# costs seconds, and the scoring steps of one command (or one test worker) would redo it.
_NETWORKS: dict[str, object] = {}


class FeatureExtractor:
    """The FID network with its weights, applied in batches.

    Args:
        weights: TorchScript archive path (default: ``find_weights()``).
        cache_dir: Where converted weights and statistics are cached.
    """

    def __init__(self, weights: Path | str | None = None, cache_dir: Path | str | None = None,
                 preprocessing: str = "pil-bilinear"):
        from cxr_gan.fid.network import build_fid_inception
        from cxr_gan.fid.weights import find_weights, load_fid_parameters, sha256_of

        if preprocessing not in PREPROCESSINGS:
            raise ValueError(f"`preprocessing` must be one of {sorted(PREPROCESSINGS)}. "
                             f"Received: {preprocessing!r}")
        self.preprocessing = preprocessing
        self.weights_path = find_weights(weights)
        self.weights_sha256 = sha256_of(self.weights_path)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        if self.weights_sha256 not in _NETWORKS:
            _NETWORKS[self.weights_sha256] = build_fid_inception(
                load_fid_parameters(self.weights_path, cache_dir))
        self.model = _NETWORKS[self.weights_sha256]

    def from_arrays(self, batch: np.ndarray, pad_to: int | None = None) -> dict[str, np.ndarray]:
        """Features of a batch of network inputs. ``pad_to``: a shorter batch is padded with
        zeros to that size and the padding's rows dropped, so every call has one shape and the
        compiled network is traced once, not again for each set's last, partial batch."""
        n = len(batch)
        if pad_to and n < pad_to:
            batch = np.concatenate([batch, np.zeros((pad_to - n, *batch.shape[1:]), batch.dtype)])
        out = self.model.predict_on_batch(batch)
        return {k: np.asarray(v, dtype=np.float32)[:n] for k, v in out.items()}

    def from_images(self, images: Sequence[Image.Image], batch_size: int = 32,
                    verbose: int = 1):
        """768-d and 2048-d features of PIL images; a progress bar when ``verbose``."""
        import keras

        progress = keras.utils.Progbar(len(images), verbose=verbose, unit_name="image")
        chunks = {"f768": [], "f2048": []}
        for first in range(0, len(images), batch_size):
            batch = np.stack([preprocess(im, self.preprocessing)
                              for im in images[first:first + batch_size]])
            for key, value in self.from_arrays(batch, pad_to=batch_size).items():
                chunks[key].append(value)
            progress.add(len(batch))
        return {k: np.concatenate(v) for k, v in chunks.items()}

    def from_files(self, paths: Sequence[Path], batch_size: int = 32, verbose: int = 1,
                   at_size: int | None = None, resize_filter: str = "bilinear"):
        """Features of image files, read by the project's one reader (``open_image``: 16-bit
        images stretched as in training) and streamed: only one batch of decoded images is held
        at a time, whatever their size. Unreadable files are skipped with a warning.
        ``at_size``: each image first becomes what a GAN of that resolution trains on
        (``read_grayscale``: gray, resized to ``at_size`` with ``resize_filter``, uint8), so
        that it reaches the network as a generated image of that size does.

        Returns:
            ``(features, used, skipped)``: ``used`` the paths read, ``skipped`` ``(path,
            reason)`` pairs.
        """
        import warnings

        import keras

        progress = keras.utils.Progbar(len(paths), verbose=verbose, unit_name="image")
        chunks: dict[str, list] = {"f768": [], "f2048": []}
        batch, used, skipped = [], [], []

        def flush():
            if batch:
                for key, value in self.from_arrays(np.stack(batch), pad_to=batch_size).items():
                    chunks[key].append(value)
                batch.clear()

        for path in paths:
            try:
                image = (open_image(path) if at_size is None else Image.fromarray(
                    read_grayscale(path, at_size, resize_filter), mode="L"))
                batch.append(preprocess(image, self.preprocessing))
                used.append(str(path))
            except ImageReadError as error:
                warnings.warn(f"Skipping {error.path}: {error.reason}", stacklevel=2)
                skipped.append((error.path, error.reason))
            if len(batch) == batch_size:
                flush()
            progress.add(1)
        flush()
        if len(used) < 2:
            where = Path(paths[0]).parent if paths else "the folder"
            raise UserError(f"Fewer than 2 readable images among {len(paths)} files in {where}: "
                            "FID needs at least 2 images a side (and 2048 for FID-2048).")
        return {k: np.concatenate(v) for k, v in chunks.items()}, used, skipped

    def folder_statistics(self, folder: Path | str):
        """Features and statistics of a folder's images (``files_statistics``); entries that
        are not image files (FIFOs, broken links, other suffixes) are listed in ``skipped``."""
        unread: list[tuple[str, str]] = []
        features, meta = self.files_statistics(list_images(folder, skipped=unread), str(folder))
        return features, {**meta, "skipped": unread + list(meta["skipped"])}

    def files_statistics(self, paths: Sequence[Path], name: str, at_size: int | None = None,
                         resize_filter: str = "bilinear"):
        """Features of ``paths``, cached by file list, contents, network, preprocessing and
        ``at_size`` (see ``from_files``).

        Returns:
            ``(features, meta)``: ``{"f768", "f2048"}`` arrays and ``{"folder": name, "n",
            "skipped", "paths"}``.
        """
        paths = [Path(p) for p in paths]
        key = hashlib.sha256(b"stats-v3")  # Bumped whenever the cached content changes.
        for path in paths:
            key.update(str(path.resolve()).encode())
            key.update(hashlib.sha256(path.read_bytes()).digest())
        key.update(self.weights_sha256.encode())
        key.update(self.preprocessing.encode())
        if at_size is not None:
            key.update(f"at {at_size} px, {resize_filter}".encode())
        cache = self.cache_dir / f"stats-{key.hexdigest()[:24]}.npz" if self.cache_dir else None
        if cache and cache.is_file():
            with np.load(cache) as data:
                meta = json.loads(bytes(data["meta"]).decode())
                return {k: data[k] for k in ("f768", "f2048")}, _as_given(meta, paths, name)
        features, used, skipped = self.from_files(paths, at_size=at_size,
                                                  resize_filter=resize_filter)
        meta = {"folder": name, "n": len(used), "skipped": skipped, "paths": used}
        if cache:
            buffer = io.BytesIO()
            np.savez(buffer, **features,
                     meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
            atomic_write_bytes(cache, buffer.getvalue())
        return features, meta
