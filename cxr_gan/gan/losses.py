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
"""

from __future__ import annotations

from keras import ops


def discriminator_terms(loss: str, real_logits, fake_logits) -> tuple:
    """``(real term, fake term)`` of the discriminator's loss; D's loss is their sum."""
    if loss == "nonsaturating":
        return ops.mean(ops.softplus(-real_logits)), ops.mean(ops.softplus(fake_logits))
    if loss == "hinge":
        return ops.mean(ops.relu(1.0 - real_logits)), ops.mean(ops.relu(1.0 + fake_logits))
    if loss == "wgan-gp":
        return -ops.mean(real_logits), ops.mean(fake_logits)
    raise ValueError(f"Unknown loss {loss!r}.")


def generator_loss(loss: str, fake_logits):
    """The generator's loss on D's logits of its images."""
    if loss == "nonsaturating":
        return ops.mean(ops.softplus(-fake_logits))
    if loss in ("hinge", "wgan-gp"):
        return -ops.mean(fake_logits)
    raise ValueError(f"Unknown loss {loss!r}.")


def _squared_norms(grads):
    flat = ops.reshape(ops.cast(grads, "float32"), (ops.shape(grads)[0], -1))
    return ops.sum(ops.square(flat), axis=1)


def gradient_penalty(grads, weight: float):
    """WGAN-GP: ``weight * mean((||g_i|| - 1)^2)``."""
    # The epsilon keeps the norm's gradient finite where g_i = 0.
    norms = ops.sqrt(_squared_norms(grads) + 1e-12)
    return weight * ops.mean(ops.square(norms - 1.0))


def r1_penalty(grads, gamma: float):
    """R1: ``gamma / 2 * mean(||g_i||^2)``."""
    return 0.5 * gamma * ops.mean(_squared_norms(grads))


def interpolate(real, fake, alpha):
    """``alpha * real + (1 - alpha) * fake``, one alpha per sample (shape ``(batch,)``)."""
    alpha = ops.reshape(alpha, (-1,) + (1,) * (len(real.shape) - 1))
    return alpha * real + (1.0 - alpha) * fake
