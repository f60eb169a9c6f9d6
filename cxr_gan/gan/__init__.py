"""The paper's DCGAN: presets, networks, the GAN model, training and generation.

``from cxr_gan.gan import build_generator, build_discriminator, PRESETS``. The Keras-backed
names load on first use, so that scripts can read the presets before a backend is imported.
"""

from cxr_gan.gan.config import PRESETS, GANPreset, GANRunConfig, get_preset

__all__ = ["PRESETS", "GANPreset", "GANRunConfig", "get_preset", "build_generator",
           "build_discriminator", "DCGAN", "make_gan", "train_gan", "generate_pngs"]

_LAZY = {
    "build_generator": "cxr_gan.gan.models",
    "build_discriminator": "cxr_gan.gan.models",
    "DCGAN": "cxr_gan.gan.dcgan",
    "make_gan": "cxr_gan.gan.dcgan",
    "train_gan": "cxr_gan.gan.train",
    "generate_pngs": "cxr_gan.gan.generate",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cxr_gan.gan' has no attribute {name!r}")
