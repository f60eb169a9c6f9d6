"""cxr_gan: DCGAN data augmentation for chest X-ray classification (Kora Venu & Ravula, 2021)."""

__version__ = "0.1.0"
