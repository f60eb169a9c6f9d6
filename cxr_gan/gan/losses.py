"""GAN losses and gradient penalties: pure functions of logits and gradients (``keras.ops``).

=============== ============================================== =========================
loss            discriminator (real term, fake term)           generator
=============== ============================================== =========================
nonsaturating   softplus(-D(x)), softplus(D(G(z)))              softplus(-D(G(z)))
hinge           relu(1 - D(x)), relu(1 + D(G(z)))               -D(G(z))
wgan-gp         -D(x), D(G(z))                                  -D(G(z))
=============== ============================================== =========================

Each term is a mean over the batch; D is the pre-sigmoid logit. ``softplus(-l)`` is the binary
cross-entropy of ``sigmoid(l)`` against 1, computed from the logit: exact, and its gradient
survives a confident discriminator (from clipped probabilities, as Keras's probability-based
loss does under JAX, the generator's gradient vanishes once D(G(z)) < 1e-7).

Penalties (``grads`` is the gradient of ``sum(D)`` with respect to D's input, one row a
sample):

- WGAN-GP (Gulrajani et al. 2017): ``lambda * E[(||grad||_2 - 1)^2]`` at ``alpha * x + (1 -
  alpha) * G(z)``, alpha ~ U(0, 1) per sample.
- R1 (Mescheder et al. 2018): ``gamma / 2 * E[||grad||_2^2]`` at real images.

LeCam (Tseng et al. 2021), on the logits themselves: ``E[relu(D(x) - a_F)^2] + E[relu(a_R -
D(G(z)))^2]`` with ``a_R``, ``a_F`` exponential moving averages (decay ``LECAM_DECAY``, from 0)
of D's mean logit on real and on fake images.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

# Keras is imported where a loss is computed, not here: the scripts read the registry's names
# (their --loss choices) before the backend loads.


def _ops():
    from keras import ops

    return ops


@dataclasses.dataclass(frozen=True)
class GANLoss:
    """One GAN loss.

    Attributes:
        name: What ``--loss`` calls it.
        real_term, fake_term: D's loss terms, each a function of D's logits (a batch mean).
        generator: G's loss, a function of D's logits of G's images.
        gradient_penalty: Whether D's loss adds WGAN-GP's penalty at interpolated images (the
            batches then carry the interpolation weights).
        critic_batch_norm: Whether D may keep batch norm (a per-sample penalty forbids it).
        preset_changes: Fields of the preset the loss's source prescribes with it.
        n_critic: D updates a G update, as the source prescribes.
        source: Where it comes from.
    """

    name: str
    real_term: Callable[[Any], Any]
    fake_term: Callable[[Any], Any]
    generator: Callable[[Any], Any]
    gradient_penalty: bool
    critic_batch_norm: bool
    preset_changes: tuple[tuple[str, float], ...]
    n_critic: int
    source: str


LOSSES: dict[str, GANLoss] = {loss.name: loss for loss in (
    GANLoss("nonsaturating",
            real_term=lambda logits: _ops().mean(_ops().softplus(-logits)),
            fake_term=lambda logits: _ops().mean(_ops().softplus(logits)),
            generator=lambda logits: _ops().mean(_ops().softplus(-logits)),
            gradient_penalty=False, critic_batch_norm=True, preset_changes=(), n_critic=1,
            source="Goodfellow et al. 2014, Eq. 1 in its non-saturating form (the paper's "
                   "and DCGAN's reading), as binary cross-entropy from D's logits"),
    GANLoss("hinge",
            real_term=lambda logits: _ops().mean(_ops().relu(1.0 - logits)),
            fake_term=lambda logits: _ops().mean(_ops().relu(1.0 + logits)),
            generator=lambda logits: -_ops().mean(logits),
            gradient_penalty=False, critic_batch_norm=True, preset_changes=(), n_critic=1,
            source="Lim & Ye 2017; Miyato et al. 2018: D relu(1 - D(x)) + relu(1 + D(G(z))), "
                   "G -D(G(z))"),
    GANLoss("wgan-gp",
            real_term=lambda logits: -_ops().mean(logits),
            fake_term=lambda logits: _ops().mean(logits),
            generator=lambda logits: -_ops().mean(logits),
            gradient_penalty=True, critic_batch_norm=False,
            preset_changes=(("d_learning_rate", 1e-4), ("g_learning_rate", 1e-4),
                            ("beta_1", 0.0), ("beta_2", 0.9)), n_critic=5,
            source="Gulrajani et al. 2017, Algorithm 1: lambda 10, 5 critic steps a generator "
                   "step, alpha ~ U(0, 1) per sample, Adam 1e-4 with betas (0, 0.9), no batch "
                   "norm in the critic"),
)}


def get_loss(name: str) -> GANLoss:
    """The registered loss ``name``."""
    if name not in LOSSES:
        raise ValueError(f"`loss` must be one of {tuple(LOSSES)}. Received: {name!r}")
    return LOSSES[name]


def discriminator_terms(loss: str, real_logits, fake_logits) -> tuple:
    """``(real term, fake term)`` of the discriminator's loss; D's loss is their sum."""
    spec = get_loss(loss)
    return spec.real_term(real_logits), spec.fake_term(fake_logits)


def generator_loss(loss: str, fake_logits):
    """The generator's loss on D's logits of its images."""
    return get_loss(loss).generator(fake_logits)


def _squared_norms(grads):
    ops = _ops()
    flat = ops.reshape(ops.cast(grads, "float32"), (ops.shape(grads)[0], -1))
    return ops.sum(ops.square(flat), axis=1)


def gradient_penalty(grads, weight: float):
    """WGAN-GP: ``weight * mean((||g_i|| - 1)^2)``."""
    ops = _ops()
    # The epsilon keeps the norm's gradient finite where g_i = 0.
    norms = ops.sqrt(_squared_norms(grads) + 1e-12)
    return weight * ops.mean(ops.square(norms - 1.0))


def r1_penalty(grads, gamma: float):
    """R1: ``gamma / 2 * mean(||g_i||^2)``."""
    return 0.5 * gamma * _ops().mean(_squared_norms(grads))


# Decay of LeCam's moving averages of D's mean logits (Tseng et al. 2021).
LECAM_DECAY = 0.99


def lecam_penalty(real_logits, fake_logits, ema_real, ema_fake, weight: float):
    """LeCam: ``weight * (mean(relu(real - ema_fake)^2) + mean(relu(ema_real - fake)^2))``."""
    ops = _ops()
    real = ops.cast(real_logits, "float32")
    fake = ops.cast(fake_logits, "float32")
    return weight * (ops.mean(ops.square(ops.relu(real - ema_fake)))
                     + ops.mean(ops.square(ops.relu(ema_real - fake))))


def lecam_averages(averages, real_logits, fake_logits):
    """The moving averages ``[a_R, a_F]`` after one step's logits."""
    ops = _ops()
    means = ops.stack([ops.mean(ops.cast(real_logits, "float32")),
                       ops.mean(ops.cast(fake_logits, "float32"))])
    return LECAM_DECAY * averages + (1.0 - LECAM_DECAY) * ops.stop_gradient(means)


def interpolate(real, fake, alpha):
    """``alpha * real + (1 - alpha) * fake``, one alpha per sample (shape ``(batch,)``)."""
    alpha = _ops().reshape(alpha, (-1,) + (1,) * (len(real.shape) - 1))
    return alpha * real + (1.0 - alpha) * fake
