"""Frozen dataclass configs for the GAN: architecture presets and a training run, with JSON I/O.

A run's config is written to ``config.json`` in its run directory and is enough to rebuild the
models and continue the run. Presets name their provenance: where the paper's text is silent,
the value comes from Radford et al. (2016), "Unsupervised representation learning with deep
convolutional generative adversarial networks", and the preset says so in ``sources``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping


@dataclasses.dataclass(frozen=True)
class GANPreset:
    """Architecture and optimisation of one DCGAN variant.

    Attributes:
        name: Preset name.
        latent_dim: Length of the noise vector z.
        image_size: Generated image height and width.
        channels: Generated image channels (grayscale replicated on 3, as the paper).
        style: ``"paper"`` (text: BN + ReLU generator, BN + LeakyReLU discriminator) or
            ``"paper-code"`` (the authors' DCGAN.py: LeakyReLU everywhere, no BN, dropout).
        g_base: Generator's dense projection as (height, width, filters).
        g_filters: Filters of the transposed convolutions before the output layer.
        g_kernel: Transposed-convolution kernel size.
        d_filters: Filters of the discriminator's convolutions.
        d_kernel: Discriminator kernel size.
        d_first_stride: Stride of the discriminator's first convolution.
        d_dropout: Dropout rate before the discriminator's dense output (0 for none).
        init_stddev: Std of the N(0, s) kernel initialiser; ``None`` keeps Keras's defaults.
        leaky_slope: LeakyReLU negative slope.
        d_learning_rate, g_learning_rate, beta_1: Adam settings per network.
        real_batch, fake_batch, g_batch: Images per D step (real, fake) and per G step.
        sampling: ``"permutation"`` (each epoch a shuffled pass, remainder dropped) or
            ``"replacement"`` (each step draws real images with replacement).
        epochs: Default number of epochs.
        sources: Where each choice comes from.
    """

    name: str
    latent_dim: int
    image_size: int
    channels: int
    style: str
    g_base: tuple[int, int, int]
    g_filters: tuple[int, ...]
    g_kernel: int
    d_filters: tuple[int, ...]
    d_kernel: int
    d_first_stride: int
    d_dropout: float
    init_stddev: float | None
    leaky_slope: float
    d_learning_rate: float
    g_learning_rate: float
    beta_1: float
    real_batch: int
    fake_batch: int
    g_batch: int
    sampling: str
    epochs: int
    sources: tuple[str, ...] = ()

    def __post_init__(self):
        if self.style not in ("paper", "paper-code"):
            raise ValueError(f"`style` must be 'paper' or 'paper-code'. Received: {self.style!r}")
        if self.sampling not in ("permutation", "replacement"):
            raise ValueError(
                f"`sampling` must be 'permutation' or 'replacement'. Received: {self.sampling!r}"
            )
        # The paper style's last transposed convolution (to 3 channels) also upsamples; the
        # paper-code style ends with a stride-1 Conv2D instead.
        n_upsampling = len(self.g_filters) + (1 if self.style == "paper" else 0)
        upsampled = self.g_base[0] * 2**n_upsampling
        if upsampled != self.image_size:
            raise ValueError(
                f"Preset {self.name!r}: g_base {self.g_base} with {len(self.g_filters)} upsampling "
                f"layers gives {upsampled}px, not image_size={self.image_size}."
            )


PRESETS: dict[str, GANPreset] = {
    "paper": GANPreset(
        name="paper",
        latent_dim=100,
        image_size=128,
        channels=3,
        style="paper",
        g_base=(8, 8, 1024),
        g_filters=(512, 256, 128),
        g_kernel=5,
        d_filters=(64, 128, 256, 512, 1024),
        d_kernel=5,
        d_first_stride=2,
        d_dropout=0.0,
        init_stddev=0.02,
        leaky_slope=0.2,
        d_learning_rate=2e-4,
        g_learning_rate=2e-4,
        beta_1=0.5,
        real_batch=128,
        fake_batch=128,
        g_batch=128,
        sampling="permutation",
        epochs=500,
        sources=(
            "paper text: z(100) -> Dense -> 8x8x1024 -> BN -> ReLU -> 4 stride-2 Conv2DTranspose "
            "(512, 256, 128, 3) with BN + ReLU, tanh output 128x128x3; D: 5 strided convolutions "
            "with LeakyReLU, BN on all but the input block, sigmoid; BCE minimax; 500 epochs",
            "Radford et al. 2016 (not stated in the paper): 5x5 kernels, weights N(0, 0.02), "
            "Adam lr 2e-4 beta_1 0.5, batch 128, LeakyReLU slope 0.2, no bias before BN",
            "this project: D output = Flatten + Dense(1, sigmoid); separate real and fake D batches",
        ),
    ),
    "paper-code": GANPreset(
        name="paper-code",
        latent_dim=100,
        image_size=128,
        channels=3,
        style="paper-code",
        g_base=(8, 8, 1024),
        g_filters=(512, 256, 128, 64),
        g_kernel=4,
        d_filters=(64, 128, 256, 512, 1024),
        d_kernel=5,
        d_first_stride=1,
        d_dropout=0.4,
        init_stddev=None,
        leaky_slope=0.2,
        d_learning_rate=2e-5,
        g_learning_rate=1e-4,
        beta_1=0.5,
        real_batch=64,
        fake_batch=64,
        g_batch=128,
        sampling="replacement",
        epochs=500,
        sources=(
            "authors' DCGAN.py (github.com/sagarkora/DCGAN-ChestXray): G = Dense(8*8*1024) + "
            "LeakyReLU(0.2), 4 Conv2DTranspose(k4, s2; 512, 256, 128, 64) + LeakyReLU(0.2), "
            "Conv2D(3, k5, tanh); D = Conv2D(64, k5, s1) + LeakyReLU, 4 Conv2D(k5, s2; 128..1024) "
            "+ LeakyReLU, Flatten, Dropout(0.4), Dense(1, sigmoid); no BN; Adam D 2e-5, G 1e-4, "
            "beta_1 0.5; D on 64 real + 64 fake, G on 128; real drawn with replacement; "
            "an epoch = floor(1341/128) = 10 steps",
            "Keras defaults (glorot_uniform, zero bias) for initialisers, as that code used",
        ),
    ),
    "demo": GANPreset(
        name="demo",
        latent_dim=100,
        image_size=64,
        channels=3,
        style="paper",
        g_base=(4, 4, 256),
        g_filters=(128, 64, 32),
        g_kernel=4,
        d_filters=(32, 64, 128, 256),
        d_kernel=4,
        d_first_stride=2,
        d_dropout=0.0,
        init_stddev=0.02,
        leaky_slope=0.2,
        d_learning_rate=2e-4,
        g_learning_rate=2e-4,
        beta_1=0.5,
        real_batch=32,
        fake_batch=32,
        g_batch=32,
        sampling="permutation",
        epochs=100,
        sources=(
            "this project: the 'paper' design scaled down (64x64, 4x4 kernels, 1/4 of the "
            "filters, batch 32) so that the embedded demo trains on a 2-core CPU in minutes",
            "this project: 100 epochs (500 updates on the demo's 160 images) keep the README's "
            "main job within its time budget on the slowest 2-core CPU",
        ),
    ),
}


def get_preset(name: str) -> GANPreset:
    """Returns the preset called ``name``."""
    if name not in PRESETS:
        raise ValueError(f"Unknown preset. Expected one of {sorted(PRESETS)}. Received: {name!r}")
    return PRESETS[name]


@dataclasses.dataclass(frozen=True)
class GANRunConfig:
    """Everything that defines one GAN training run (written as ``config.json``).

    Attributes:
        preset: The architecture preset, in full.
        data: Data root, or the phantom folder when ``synthetic``.
        synthetic: True when the data are the embedded phantoms, not radiographs.
        split: Split whose training NORMAL images the GAN learns (``official`` by default).
        split_seed: Seed of the pooled splits.
        label: Class the GAN learns (the minority class NORMAL, as the paper).
        epochs: Number of epochs.
        steps_per_epoch: Generator updates per epoch: floor(n_images / g_batch).
        seed: Seeds weights, noise and data order.
        resize_filter: Pillow filter used to resize images to the model size.
        checkpoint_every: Epochs between checkpoints (and sample figures).
        deterministic: Ask the backend for deterministic kernels.
        backend: Keras backend the run used.
        data_parallel: Split each batch over every visible device with the backend's own
            engine (``cxr_gan.gan.distribute``).
        mixed_precision: Compute in bfloat16 with float32 weights and outputs.
    """

    preset: GANPreset
    data: str
    synthetic: bool
    split: str = "official"
    split_seed: int = 0
    label: str = "NORMAL"
    epochs: int = 500
    steps_per_epoch: int = 0
    seed: int = 0
    resize_filter: str = "bilinear"
    checkpoint_every: int = 10
    deterministic: bool = True
    backend: str = "tensorflow"
    data_parallel: bool = False
    mixed_precision: bool = False


def preset_from_dict(data: Mapping[str, Any]) -> GANPreset:
    """Inverse of ``cxr_gan.io.to_jsonable`` for ``GANPreset``."""
    fields = {f.name for f in dataclasses.fields(GANPreset)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in fields}
    return GANPreset(**values)


def run_config_from_dict(data: Mapping[str, Any]) -> GANRunConfig:
    """Inverse of ``cxr_gan.io.to_jsonable`` for ``GANRunConfig`` (extra keys such as versions ignored)."""
    fields = {f.name for f in dataclasses.fields(GANRunConfig)}
    values = {k: v for k, v in data.items() if k in fields}
    values["preset"] = preset_from_dict(data["preset"])
    return GANRunConfig(**values)
