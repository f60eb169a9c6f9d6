"""The embedded default data: procedurally generated chest-radiograph phantoms.

No real patient data can ship with the project, yet its three scripts must run end to end out
of the box. These phantoms give a two-class data set in the Kermany layout with Kermany's class
imbalance (1341 NORMAL : 3875 PNEUMONIA in train, about 1 : 2.9), at a size a 2-core CPU can
train on in minutes. Each image is a frontal-radiograph caricature: soft-tissue body outline,
two dark lung fields, the mediastinum and heart shadow, spine, clavicles, ribs, the diaphragm,
film-grain noise and random pose, exposure and anatomy. PNEUMONIA-like images add one to four
bright, blurred consolidations inside the lung fields.

The set is a pure function of ``(seed, counts, size)`` and is written once to a cache folder
named after those parameters. Everything computed from it must be labelled synthetic; it says
nothing about real radiographs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

from cxr_gan.io import SYNTHETIC_MARKER

PHANTOM_VERSION = 1


@dataclasses.dataclass(frozen=True)
class PhantomSpec:
    """Size and class counts of the synthetic set (defaults keep Kermany's 1 : 2.9 ratio)."""

    seed: int = 0
    size: int = 64
    train_normal: int = 160
    train_pneumonia: int = 464
    val_normal: int = 4
    val_pneumonia: int = 4
    test_normal: int = 40
    test_pneumonia: int = 66

    def counts(self) -> dict[tuple[str, str], int]:
        return {
            ("train", "NORMAL"): self.train_normal,
            ("train", "PNEUMONIA"): self.train_pneumonia,
            ("val", "NORMAL"): self.val_normal,
            ("val", "PNEUMONIA"): self.val_pneumonia,
            ("test", "NORMAL"): self.test_normal,
            ("test", "PNEUMONIA"): self.test_pneumonia,
        }

    def folder_name(self) -> str:
        return (
            f"phantoms-v{PHANTOM_VERSION}-seed{self.seed}-{self.size}px-"
            f"{self.train_normal}-{self.train_pneumonia}-{self.test_normal}-{self.test_pneumonia}"
        )


def _ellipse(yy, xx, cy, cx, ry, rx, angle=0.0):
    """Signed ellipse membership: < 1 inside. Coordinates are in [0, 1] units."""
    cos, sin = np.cos(angle), np.sin(angle)
    dy, dx = yy - cy, xx - cx
    u = (dx * cos + dy * sin) / rx
    v = (-dx * sin + dy * cos) / ry
    return u * u + v * v


def _smooth_step(distance, width):
    """1 inside (distance < 1), fading to 0 over ``width`` outside: soft anatomical edges."""
    return np.clip((1.0 + width - distance) / width, 0.0, 1.0)


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur, taps to 3 sigma (at least 1), edges mirrored (the images of version 1)."""
    return gaussian_filter(image, sigma, mode="mirror", radius=max(1, int(3 * sigma)))


def make_phantom(rng: np.random.Generator, size: int, pneumonia: bool) -> np.ndarray:
    """Draws one phantom radiograph as a ``(size, size)`` uint8 array."""
    yy, xx = np.mgrid[0:size, 0:size] / float(size - 1)
    shift_x = rng.normal(0, 0.02)
    tilt = rng.normal(0, 0.03)
    xx = xx - shift_x
    density = np.zeros((size, size))
    # Soft-tissue body: a wide ellipse, brighter than air.
    body = _smooth_step(_ellipse(yy, xx, 0.62, 0.5, 0.62, rng.uniform(0.40, 0.46), tilt), 0.15)
    density += 0.45 * body
    # Lung fields: dark (air) regions carved out of the body.
    lung_w, lung_h = rng.uniform(0.13, 0.17), rng.uniform(0.27, 0.33)
    lungs = []
    for side in (-1, 1):
        cx = 0.5 + side * rng.uniform(0.17, 0.21)
        lung = _smooth_step(_ellipse(yy, xx, 0.47, cx, lung_h, lung_w, side * 0.12 + tilt), 0.25)
        lungs.append(lung)
        density -= 0.30 * lung
    lung_mask = np.maximum(*lungs)
    # Mediastinum and heart shadow (left of the image is the patient's right).
    density += 0.25 * _smooth_step(_ellipse(yy, xx, 0.45, 0.5, 0.30, 0.06, tilt), 0.3)
    heart = _smooth_step(_ellipse(yy, xx, 0.62, 0.56, rng.uniform(0.11, 0.14), 0.13, 0.4), 0.3)
    density += 0.22 * heart
    # Spine: a bright vertical band with vertebral modulation.
    spine = np.exp(-(((xx - 0.5 - tilt * (yy - 0.5)) / 0.03) ** 2)) * (yy > 0.08)
    density += 0.18 * spine * (0.85 + 0.15 * np.cos(yy * size * 0.9))
    # Ribs: curved bright arcs over the lungs, posterior ribs sloping down to the sides.
    for k in range(9):
        base = 0.22 + 0.065 * k + rng.normal(0, 0.004)
        for side in (-1, 1):
            curve = base + 0.35 * (xx - 0.5) ** 2 * 3.0 + 0.05 * side * (xx - 0.5)
            rib = np.exp(-(((yy - curve) / 0.011) ** 2)) * (np.abs(xx - 0.5) < 0.38)
            density += 0.07 * rib * lung_mask
    # Clavicles: one symmetric arc, at the weight version 1 drew it with (twice 0.12).
    line = 0.17 + 0.08 * np.abs(xx - 0.5)
    density += 0.24 * np.exp(-(((yy - line) / 0.014) ** 2)) * (np.abs(xx - 0.5) < 0.3)
    # Diaphragm: bright below a dome per side.
    dome = 0.74 + 0.6 * (xx - 0.5) ** 2
    density += 0.25 * (1 / (1 + np.exp(-(yy - dome) / 0.01))) * body
    if pneumonia:
        for _ in range(rng.integers(1, 5)):
            side = rng.choice((-1, 1))
            cy = rng.uniform(0.32, 0.68)
            cx = 0.5 + side * rng.uniform(0.12, 0.26)
            ry, rx = rng.uniform(0.05, 0.12), rng.uniform(0.04, 0.09)
            blob = np.exp(-_ellipse(yy, xx, cy, cx, ry, rx, rng.uniform(0, np.pi)))
            density += rng.uniform(0.12, 0.25) * blob * lung_mask
    # Exposure, film grain, then a slight blur of the whole film.
    density = density * rng.uniform(0.9, 1.1) + rng.uniform(0.02, 0.08)
    density += rng.normal(0, 0.015, density.shape)
    density = _blur(density, sigma=0.6 * size / 128)
    return np.clip(np.rint(density * 255 / 1.05), 0, 255).astype(np.uint8)


def ensure_phantom_dataset(cache_dir: Path | str, spec: PhantomSpec = PhantomSpec()) -> Path:
    """Returns the phantom data root under ``cache_dir``, generating it on first use.

    The folder is built in a temporary sibling and renamed into place, so an interrupted
    generation never leaves a half-written data set behind.
    """
    cache_dir = Path(cache_dir)
    root = cache_dir / spec.folder_name()
    if (root / SYNTHETIC_MARKER).is_file():
        return root
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".phantoms-", dir=cache_dir))
    try:
        for index, ((folder, label), count) in enumerate(sorted(spec.counts().items())):
            target = staging / folder / label
            target.mkdir(parents=True)
            rng = np.random.default_rng([spec.seed, PHANTOM_VERSION, index])
            prefix = "phantom-normal" if label == "NORMAL" else "phantom-pneumonia"
            for i in range(count):
                image = make_phantom(rng, spec.size, pneumonia=label == "PNEUMONIA")
                Image.fromarray(image, mode="L").save(target / f"{prefix}-{folder}-{i:05d}.png")
        marker = {"synthetic": True, "version": PHANTOM_VERSION, **dataclasses.asdict(spec)}
        (staging / SYNTHETIC_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        try:
            os.replace(staging, root)
        except OSError:
            if not (root / SYNTHETIC_MARKER).is_file():  # Not a concurrent writer's success.
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return root
