"""Frozen dataclass configs for the GAN: architecture presets and a training run, with JSON I/O.

A run's config is written to ``config.json`` in its run directory and is enough to rebuild the
models and continue the run. Presets name their provenance: where the paper's text is silent,
the value comes from Radford et al. (2016), "Unsupervised representation learning with deep
convolutional generative adversarial networks", and the preset says so in ``sources``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any, Mapping

from cxr_gan.gan.losses import LOSSES, get_loss
from cxr_gan.io import to_jsonable

DIFFAUGMENT_TRANSFORMS = ("translation", "cutout", "brightness", "contrast")
STYLES = ("paper", "paper-code", "fastgan")


@dataclasses.dataclass(frozen=True)
class GANOptions:
    """Training options beyond the DCGAN recipe; each off by default.

    Attributes:
        loss: ``"nonsaturating"`` (the paper's Eq. 1 in its usual form), ``"wgan-gp"``
            (Gulrajani et al. 2017) or ``"hinge"`` (Lim & Ye 2017; Miyato et al. 2018).
        n_critic: Discriminator updates per generator update (5 for WGAN-GP).
        gp_weight: Weight of WGAN-GP's gradient penalty (lambda 10).
        r1_gamma: R1 penalty ``gamma / 2 * E||grad D(x_real)||^2`` (Mescheder et al. 2018);
            0 for none.
        spectral_norm: Spectral normalisation of every discriminator layer with weights
            (``keras.layers.SpectralNormalization``; Miyato et al. 2018).
        diffaugment: DiffAugment transforms (Zhao et al. 2020) applied to every image the
            discriminator sees, real and fake, in both networks' steps.
        ada_target: ADA's target for ``r_t = E[sign(D_logit(real))]`` (Karras et al. 2020);
            ``None`` applies the transforms always (p = 1).
        ada_kimg: Real images over which p can move from 0 to 1.
        ema_decay: Decay of the generator weights' exponential moving average; ``None``
            for no EMA generator.
        reconstruction: Weight of FastGAN's self-supervised reconstruction term in D's loss
            (L1 of two decoders' outputs from D's features of real images; ``fastgan`` style
            only; 0 for none).
        lecam: Weight of the LeCam regulariser (Tseng et al. 2021) in D's loss; 0 for none.
        sources: Where each option's value comes from.
    """

    loss: str = "nonsaturating"
    n_critic: int = 1
    gp_weight: float = 10.0
    r1_gamma: float = 0.0
    spectral_norm: bool = False
    diffaugment: tuple[str, ...] = ()
    ada_target: float | None = None
    ada_kimg: float = 100.0
    ema_decay: float | None = None
    sources: tuple[str, ...] = ()
    reconstruction: float = 0.0
    lecam: float = 0.0

    def __post_init__(self):
        get_loss(self.loss)  # Raises for an unknown name.
        unknown = sorted(set(self.diffaugment) - set(DIFFAUGMENT_TRANSFORMS))
        if unknown:
            raise ValueError(f"Unknown DiffAugment transform(s) {unknown}: expected a comma "
                             f"list of {', '.join(DIFFAUGMENT_TRANSFORMS)}.")
        if self.ada_target is not None and not self.diffaugment:
            raise ValueError("ADA needs transforms to apply: give --diffaugment POLICY too.")
        if self.ada_target is not None and not -1.0 < self.ada_target < 1.0:
            raise ValueError(f"`ada_target` must lie in (-1, 1). Received: {self.ada_target}")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f"`ema_decay` must lie in (0, 1). Received: {self.ema_decay}")
        if (self.n_critic < 1 or self.r1_gamma < 0 or self.gp_weight < 0 or self.ada_kimg <= 0
                or self.reconstruction < 0 or self.lecam < 0):
            raise ValueError("`n_critic` must be >= 1, `r1_gamma`, `gp_weight`, "
                             "`reconstruction` and `lecam` >= 0, `ada_kimg` > 0.")

    @property
    def augments(self) -> bool:
        return bool(self.diffaugment)

    @property
    def critic_batch_norm(self) -> bool:
        """Whether the critic may keep batch norm (not with WGAN-GP's per-sample penalty)."""
        return get_loss(self.loss).critic_batch_norm

    @property
    def gradient_penalty(self) -> bool:
        """Whether D's loss adds WGAN-GP's penalty (the batches then carry its weights)."""
        return get_loss(self.loss).gradient_penalty


@dataclasses.dataclass(frozen=True)
class GANPreset:
    """Architecture and optimisation of one DCGAN variant.

    Attributes:
        name: Preset name.
        latent_dim: Length of the noise vector z.
        image_size: Generated image height and width.
        channels: Generated image channels (grayscale replicated on 3, as the paper).
        style: ``"paper"`` (text: BN + ReLU generator, BN + LeakyReLU discriminator),
            ``"paper-code"`` (the authors' DCGAN.py: LeakyReLU everywhere, no BN, dropout) or
            ``"fastgan"`` (Liu et al. 2021: SLE generator, self-supervised discriminator;
            ``cxr_gan.gan.fastgan``).
        g_base: Generator's dense projection as (height, width, filters).
        g_filters: Filters of the transposed convolutions before the output layer (fastgan:
            of the up blocks at 8, 16, ..., image_size).
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
        beta_2: Adam's second-moment decay, both networks.
        options: Loss, regularisers, augmentation and EMA (``GANOptions``).
        decoder_filters: fastgan only: widths of the self-supervision decoders' up blocks
            (8x8 -> image_size / 2).
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
    beta_2: float = 0.999
    options: GANOptions = GANOptions()
    decoder_filters: tuple[int, ...] = ()

    def __post_init__(self):
        if self.style not in STYLES:
            raise ValueError(f"`style` must be one of {STYLES}. Received: {self.style!r}")
        if self.options.reconstruction > 0 and not (self.style == "fastgan"
                                                    and self.decoder_filters):
            raise ValueError(f"Preset {self.name!r}: the reconstruction term needs the fastgan "
                             "style's decoders (--preset fastgan).")
        if self.style == "fastgan":
            from cxr_gan.gan.fastgan_shape import check_shape

            check_shape(self.image_size, self.g_base, self.g_filters, self.d_filters,
                        self.decoder_filters)
            return
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


_DIFFAUGMENT_SOURCE = (
    "Zhao et al. 2020 (DiffAugment): translation up to 1/8 of the side with zero padding, "
    "cutout of half the side, brightness + U(-0.5, 0.5), contrast x U(0.5, 1.5) about each "
    "image's mean; same transforms on real and fake, in D's and G's steps; saturation left "
    "out (gray images)")
_LECAM_SOURCE = (
    "Tseng et al. 2021 (CVPR): weight * (E[relu(D(x) - a_F)^2] + E[relu(a_R - D(G(z)))^2]), "
    "a_R and a_F moving averages (decay 0.99, from 0) of D's mean logit on real and fake images")
_EMA_SOURCE = (
    "Karras et al. 2018/2020: the generator's weights averaged with decay min(ema_decay, "
    "(1 + t) / (10 + t)) at generator step t (the warm-up of tf.train.ExponentialMovingAverage); "
    "batch-norm statistics copied")

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
}


# The paper's design scaled down for the embedded demo.
PRESETS["demo"] = dataclasses.replace(
    PRESETS["paper"],
    name="demo",
    image_size=64,
    g_base=(4, 4, 256),
    g_filters=(128, 64, 32),
    g_kernel=4,
    d_filters=(32, 64, 128, 256),
    d_kernel=4,
    real_batch=32,
    fake_batch=32,
    g_batch=32,
    epochs=100,
    sources=(
        "this project: the 'paper' design scaled down (64x64, 4x4 kernels, 1/4 of the "
        "filters, batch 32) so that the embedded demo trains on a 2-core CPU in minutes",
        "this project: 100 epochs (500 updates on the demo's 160 images) keep the README's "
        "main job within its time budget on the slowest 2-core CPU",
    ),
)

# The demo design with the settings that make it learn the embedded phantoms in minutes.
PRESETS["phantoms"] = dataclasses.replace(
    PRESETS["demo"],
    name="phantoms",
    real_batch=16,
    fake_batch=16,
    g_batch=16,
    d_learning_rate=5e-4,
    g_learning_rate=5e-4,
    epochs=100,
    sources=(
        "this project: the 'demo' preset (the paper's design at 64x64, 1/4 of the filters) for "
        "the main job on the synthetic phantoms (the default without --data)",
        "this project: batch 16, Adam 5e-4 for both networks, DiffAugment translation and "
        "cutout and an EMA generator (0.999): the best of the variants measured on the "
        "phantoms (README, 'The main job': FID-768 and the nearest-neighbour distances of "
        "each); without them D reaches accuracy 1.0 within two epochs and G collapses",
    ),
    options=GANOptions(
        diffaugment=("translation", "cutout"),
        ema_decay=0.999,
        sources=("diffaugment: " + _DIFFAUGMENT_SOURCE, "ema_decay=0.999: " + _EMA_SOURCE),
    ),
)

# The paper's design at a quarter of its widths, sized for a 2-core CPU.
PRESETS["efficient"] = dataclasses.replace(
    PRESETS["paper"],
    name="efficient",
    g_base=(8, 8, 256),
    g_filters=(128, 64, 32),
    d_filters=(16, 32, 64, 128, 256),
    real_batch=32,
    fake_batch=32,
    g_batch=32,
    epochs=122,
    sources=(
        "this project: the 'paper' preset (its text, kernel 5, N(0, 0.02), Adam 2e-4 / 0.5) at "
        "the paper's 128x128x3 with a quarter of its widths (G 8x8x256 -> 128, 64, 32 -> 3; D "
        "16..256) and batch 32; the largest candidate whose 5000 updates with DiffAugment and "
        "EMA fit 60 minutes on a 2-core CPU (benchmarks/bench_efficient.py; BENCHMARKS.md, "
        "'The efficient preset's size'); 3/8 of the widths or batch 64 did not fit",
        "this project: 122 epochs of floor(1341 / 32) = 41 updates = 5002 generator updates",
        "options chosen by the demo-size ablation (results/gan-efficient/README.md)",
    ),
    options=GANOptions(
        diffaugment=DIFFAUGMENT_TRANSFORMS,
        ema_decay=0.999,
        sources=("diffaugment: " + _DIFFAUGMENT_SOURCE, "ema_decay=0.999: " + _EMA_SOURCE),
    ),
)


_FASTGAN_SOURCE = (
    "Liu et al. 2021 (FastGAN, ICLR; arXiv 2101.04775) and the design of its reference code: "
    "z 256 -> 4x4 (transposed conv, BN, GLU) -> nearest-upsampling GLU blocks (two GLU convs "
    "at 8, 32 and 128) to 128x128 with skip-layer excitation 4->64 and 8->128, 3x3 conv, tanh; "
    "D: 4x4 s2 stem, down blocks (4x4 s2 conv + 3x3 conv | 2x2 avg pool + 1x1 conv, averaged) to "
    "8x8, SLE stem->8x8, 1x1 conv, 4x4 valid conv to 5x5 logits; decoders reconstruct the real "
    "image from D's 8x8 features and a random quarter of it from the matching quarter of the "
    "16x16 features; hinge loss; spectral norm in D; Adam 2e-4, betas (0.5, 0.999); batch 8; "
    "DiffAugment colour + translation; EMA 0.999")
_FASTGAN_DEVIATIONS = (
    "this project (cxr_gan.gan.fastgan docstring): L1 reconstruction instead of LPIPS (no VGG "
    "weights here); no noise injection, no spectral norm in G (BN follows every conv but the "
    "last; SN's kernel write is lost under JAX); one resolution in D (no 'small' branch and "
    "decoder); decoders output 64x64; one quarter per image; plain hinge margin 1")

# FastGAN at 128x128 with widths sized for a 2-core CPU (ngf = ndf = 16 of the reference
# code's 64; benchmarks/bench_fastgan.py, BENCHMARKS.md).
PRESETS["fastgan"] = GANPreset(
    name="fastgan",
    latent_dim=256,
    image_size=128,
    channels=3,
    style="fastgan",
    g_base=(4, 4, 256),
    g_filters=(128, 64, 32, 32, 16),
    g_kernel=3,
    d_filters=(16, 32, 64, 128, 256),
    d_kernel=4,
    d_first_stride=2,
    d_dropout=0.0,
    init_stddev=0.02,
    leaky_slope=0.2,
    d_learning_rate=2e-4,
    g_learning_rate=2e-4,
    beta_1=0.5,
    real_batch=8,
    fake_batch=8,
    g_batch=8,
    sampling="permutation",
    epochs=100,
    sources=(
        _FASTGAN_SOURCE,
        _FASTGAN_DEVIATIONS,
        "this project: widths 1/4 of the reference code's (ngf = ndf = 16; G 256, 128, 64, 32, "
        "32, 16 at 4..128 px; D 16, 32, 64, 128 at 64..8 px, head 256; decoders 32, 16, 16), "
        "chosen by step time on a 2-core CPU (benchmarks/bench_fastgan.py; BENCHMARKS.md)",
    ),
    decoder_filters=(32, 16, 16),
    options=GANOptions(
        loss="hinge",
        spectral_norm=True,
        diffaugment=("translation", "brightness", "contrast"),
        ema_decay=0.999,
        reconstruction=1.0,
        sources=(
            "loss=hinge, spectral_norm, reconstruction=1.0 (L1): " + _FASTGAN_SOURCE,
            "diffaugment (FastGAN's 'color,translation'): " + _DIFFAUGMENT_SOURCE,
            "ema_decay=0.999 (FastGAN's 0.999 average): " + _EMA_SOURCE),
    ),
)


# The best generator of the 30-minute comparison by its two-seed means, and the published full
# run's (results/gan-fastgan/): `fastgan` with LeCam at weight 0.3.
PRESETS["fastgan-lecam"] = dataclasses.replace(
    PRESETS["fastgan"],
    name="fastgan-lecam",
    sources=PRESETS["fastgan"].sources + (
        "this project: the lowest two-seed means of FID-768, FID-2048 and KID at an equal "
        "CPU budget (results/gan-fastgan/README.md); the published generator's preset",),
    options=dataclasses.replace(
        PRESETS["fastgan"].options,
        lecam=0.3,
        sources=PRESETS["fastgan"].options.sources + (
            "lecam=0.3 (google/lecam-gan's --LC 0.3 for BigGAN on 10-20 % of CIFAR): "
            + _LECAM_SOURCE,)),
)


def epochs_for_updates(preset: str, updates: int, n_images: int,
                       batch_size: int | None = None) -> int:
    """The fewest epochs that give ``updates`` generator updates on ``n_images`` training
    images (an epoch is ``floor(n_images / batch)`` updates, as ``GANBatches``)."""
    batch = batch_size or get_preset(preset).g_batch
    per_epoch = max(1, n_images // batch)
    return -(-int(updates) // per_epoch)


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
        label: Class the GAN learns (default: the smallest class of the training split, which
            for Kermany is NORMAL, as the paper).
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
        fid_every: Epochs between FID-768/KID evaluations while training (0: never).
        fid_images: Generated images each of those evaluations uses (fixed noise).
        tensorboard: Write epoch metrics, FID, ADA's p and image grids for TensorBoard.
        validation_seeds: The classifier seeds whose validation shares (``datasets.
            validation_paths``) are left out of the training images, so that the classifier
            runs of those seeds can use this generator without it having seen their validation
            images; () keeps every training image of the class (runs made before this field).
        data_digest: sha256 over the training files used (paths and contents): resume and the
            checkpoints' fingerprint check that the data did not change ("" before a run
            starts, and in configs written before it existed).
        patient_pattern: The regular expression (one group) that reads a patient id from a
            file name (None: the CSV's patient column, else Kermany's patterns).
        train_size: ``--train-size``: the split's training part cut to a stratified, seeded
            subset of this many images (``datasets.training_subset``; None: all), the one the
            classifier runs of that size train on.
        class_caps: ``--cap``: (class, most images) pairs applied to that subset.
    """

    preset: GANPreset
    data: str
    synthetic: bool
    split: str = "official"
    split_seed: int = 0
    label: str | None = None
    epochs: int = 500
    steps_per_epoch: int = 0
    seed: int = 0
    resize_filter: str = "bilinear"
    checkpoint_every: int = 10
    deterministic: bool = True
    backend: str = "tensorflow"
    data_parallel: bool = False
    mixed_precision: bool = False
    fid_every: int = 0
    fid_images: int = 1000
    tensorboard: bool = False
    validation_seeds: tuple[int, ...] = ()
    data_digest: str = ""
    patient_pattern: str | None = None
    train_size: int | None = None
    class_caps: tuple[tuple[str, int], ...] = ()

    @property
    def subset(self):
        from cxr_gan.data.datasets import TrainingSubset

        return TrainingSubset(self.train_size, self.class_caps)


# The fields that make two runs the same run: a resume may change none of them (it may extend
# ``epochs`` and change how often it checkpoints, scores or logs).
IDENTITY_FIELDS = ("preset", "data", "synthetic", "split", "split_seed", "label", "seed",
                   "validation_seeds", "resize_filter", "deterministic", "data_parallel",
                   "mixed_precision", "patient_pattern", "train_size", "class_caps")


# Fields added after runs were committed: at their defaults they are left out of the preset's
# digest, so that those runs keep their checkpoints' fingerprints.
_LATER_PRESET_FIELDS = {"decoder_filters": []}
_LATER_OPTION_FIELDS = {"reconstruction": 0.0, "lecam": 0.0}


def preset_digest(preset: GANPreset) -> str:
    """sha256 (16 hex digits) of every architecture, batch and option field of ``preset``."""
    data = to_jsonable(preset)
    for fields, where in ((_LATER_PRESET_FIELDS, data), (_LATER_OPTION_FIELDS, data["options"])):
        for name, default in fields.items():
            if where.get(name) == default:
                del where[name]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def run_fingerprint(config: GANRunConfig) -> dict[str, Any]:
    """What a checkpoint must share with the run to be restored into it: seed, preset (its
    digest covers every architecture, batch and option field), split, training data digest."""
    return {
        "seed": config.seed, "preset": config.preset.name,
        "preset_sha256": preset_digest(config.preset),
        "g_batch": config.preset.g_batch, "real_batch": config.preset.real_batch,
        "fake_batch": config.preset.fake_batch, "split": config.split,
        "split_seed": config.split_seed, "label": config.label,
        "validation_seeds": list(config.validation_seeds),
        "resize_filter": config.resize_filter, "mixed_precision": config.mixed_precision,
        "steps_per_epoch": config.steps_per_epoch, "data_digest": config.data_digest,
    }


def _dataclass_from_dict(cls, data: Mapping[str, Any]):
    fields = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v
                  for k, v in data.items() if k in fields})


def preset_from_dict(data: Mapping[str, Any]) -> GANPreset:
    """Inverse of ``cxr_gan.io.to_jsonable`` for ``GANPreset`` (runs saved before options
    existed get the defaults)."""
    values = dict(data)
    values["options"] = _dataclass_from_dict(GANOptions, data.get("options", {}))
    return _dataclass_from_dict(GANPreset, values)


# Each option's source, recorded in the preset's ``options.sources`` when it is switched on.
OPTION_SOURCES = {
    **{f"loss={name}": loss.source for name, loss in LOSSES.items() if name != "nonsaturating"},
    "spectral_norm": "Miyato et al. 2018 via keras.layers.SpectralNormalization (one power "
                     "iteration a training call) on every D layer with weights",
    "r1_gamma": "Mescheder et al. 2018: gamma / 2 * E||grad_x D(x)||^2 on real images (before "
                "augmentation, as StyleGAN2-ADA)",
    "diffaugment": _DIFFAUGMENT_SOURCE,
    "ada_target": "Karras et al. 2020 (ADA): each transform applied to an image with "
                  "probability p; p moves by sign(r_t - target) * images / (ada_kimg * 1000) "
                  "each step, r_t = E[sign(D_logit(real))] of that step's real batch",
    "ema_decay": _EMA_SOURCE,
    "lecam": _LECAM_SOURCE,
    "reconstruction": "Liu et al. 2021 (FastGAN): D's decoders reconstruct real images from its "
                      "8x8 and a quarter of its 16x16 features; L1 here (the paper's LPIPS "
                      "needs VGG weights)",
}


def with_options(preset: GANPreset, **changes: Any) -> GANPreset:
    """``preset`` with the given ``GANOptions`` fields changed and each change's source noted.

    ``loss="wgan-gp"`` also sets what Gulrajani et al. prescribe: 5 critic steps, Adam 1e-4
    with betas (0, 0.9) for both networks (the critic loses its batch norm in the builder).
    """
    changes = {k: v for k, v in changes.items() if v is not None}
    options = dataclasses.replace(preset.options, **changes)
    kept, notes = list(options.sources), []
    for key, value in changes.items():
        # A changed option's earlier note (e.g. a preset's) goes; the new value gets its own.
        kept = [note for note in kept if not note.startswith((f"{key}:", f"{key}="))]
        source = OPTION_SOURCES.get(f"{key}={value}", OPTION_SOURCES.get(key))
        if source and value not in (False, 0, 0.0, ()):
            notes.append(f"{key}={value}: {source}")
    sources = tuple(dict.fromkeys(kept + notes))
    options = dataclasses.replace(options, sources=sources)
    replaced = dataclasses.replace(preset, options=options)
    loss = get_loss(changes["loss"]) if "loss" in changes else None
    if loss is not None and (loss.preset_changes or loss.n_critic != 1):
        # What the loss's source prescribes with it (WGAN-GP: 5 critic steps, its Adam).
        options = dataclasses.replace(options, n_critic=changes.get("n_critic", loss.n_critic))
        replaced = dataclasses.replace(replaced, options=options, **dict(loss.preset_changes))
    return replaced


def run_config_from_dict(data: Mapping[str, Any]) -> GANRunConfig:
    """Inverse of ``cxr_gan.io.to_jsonable`` for ``GANRunConfig`` (extra keys such as versions ignored)."""
    fields = {f.name for f in dataclasses.fields(GANRunConfig)}
    values = {k: v for k, v in data.items() if k in fields}
    values["preset"] = preset_from_dict(data["preset"])
    values["validation_seeds"] = tuple(values.get("validation_seeds", ()))
    values["class_caps"] = tuple((str(name), int(n)) for name, n in values.get("class_caps", ()))
    return GANRunConfig(**values)
