"""Losses and penalties: closed forms, and through a training step on both backends."""

import numpy as np
import pytest

from cxr_gan.gan import losses
from tests.conftest import run_under_jax_without_tensorflow
from tests.linear_gan import SIZE, ema_weights_follow_the_closed_form, penalty_after_one_step

LOG2 = float(np.log(2.0))


def test_terms_at_known_logits():
    zero = np.zeros(4, np.float32)
    real, fake = np.array([2.0, 2.0], np.float32), np.array([-2.0, -0.5], np.float32)
    assert [float(v) for v in losses.discriminator_terms("nonsaturating", zero, zero)] == \
        pytest.approx([LOG2, LOG2])
    assert float(losses.generator_loss("nonsaturating", zero)) == pytest.approx(LOG2)
    # Hinge: relu(1 - 2) = 0; fake relu(1 + l): 0 and 0.5, mean 0.25.
    assert [float(v) for v in losses.discriminator_terms("hinge", real, fake)] == \
        pytest.approx([0.0, 0.25])
    assert float(losses.generator_loss("hinge", fake)) == pytest.approx(1.25)
    assert [float(v) for v in losses.discriminator_terms("wgan-gp", real, fake)] == \
        pytest.approx([-2.0, -1.25])
    assert float(losses.generator_loss("wgan-gp", fake)) == pytest.approx(1.25)


def test_nonsaturating_is_the_binary_cross_entropy_of_the_sigmoid():
    logits = np.linspace(-30, 30, 13).astype(np.float32)
    probabilities = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    real, fake = losses.discriminator_terms("nonsaturating", logits, logits)
    assert float(real) == pytest.approx(-np.mean(np.log(probabilities)), rel=1e-5)
    assert float(fake) == pytest.approx(-np.mean(np.log1p(-probabilities)), rel=1e-5)


def test_penalties_of_known_gradients():
    grads = np.zeros((2, 3, 3, 1), np.float32)
    grads[0, 0, 0, 0] = 3.0  # Norms 3 and 0.
    assert float(losses.gradient_penalty(grads, 10.0)) == pytest.approx(10 * (4 + 1) / 2)
    assert float(losses.r1_penalty(grads, 2.0)) == pytest.approx(0.5 * 2.0 * 9 / 2)
    unit = np.full((4, 2, 2, 1), 0.5, np.float32)  # Norm 1: no WGAN-GP penalty.
    assert float(losses.gradient_penalty(unit, 10.0)) == pytest.approx(0.0, abs=1e-6)


def test_interpolation_weights_each_sample():
    real, fake = np.ones((2, 2, 2, 1), np.float32), np.zeros((2, 2, 2, 1), np.float32)
    mixed = np.asarray(losses.interpolate(real, fake, np.array([0.25, 1.0], np.float32)))
    np.testing.assert_allclose(mixed[0], 0.25)
    np.testing.assert_allclose(mixed[1], 1.0)


W = np.random.default_rng(5).normal(0, 0.05, SIZE * SIZE * 3)
R1_EXPECTED = 0.5 * 0.7 * float(W @ W)
GP_EXPECTED = 10.0 * (float(np.sqrt(W @ W)) - 1.0) ** 2


@pytest.mark.slow
def test_r1_and_wgan_gp_through_a_tensorflow_step():
    assert penalty_after_one_step(W, r1_gamma=0.7) == pytest.approx(R1_EXPECTED, rel=1e-4)
    assert penalty_after_one_step(W, loss="wgan-gp") == pytest.approx(GP_EXPECTED, rel=1e-4)


@pytest.mark.slow
def test_ema_generator_is_the_warmed_up_average_under_tensorflow():
    assert ema_weights_follow_the_closed_form() < 1e-6


@pytest.mark.slow
@pytest.mark.backends
def test_r1_wgan_gp_and_ema_through_a_jax_step():
    done = run_under_jax_without_tensorflow("""
        import numpy as np
        from tests.linear_gan import (SIZE, ema_weights_follow_the_closed_form,
                                      penalty_after_one_step)
        w = np.random.default_rng(5).normal(0, 0.05, SIZE * SIZE * 3)
        print(penalty_after_one_step(w, r1_gamma=0.7), penalty_after_one_step(w, loss="wgan-gp"),
              ema_weights_follow_the_closed_form())
    """)
    assert done.returncode == 0, done.stderr[-3000:]
    r1, gp, ema_gap = (float(v) for v in done.stdout.split()[-3:])
    assert r1 == pytest.approx(R1_EXPECTED, rel=1e-4)
    assert gp == pytest.approx(GP_EXPECTED, rel=1e-4)
    assert ema_gap < 1e-6


def test_lecam_penalty_and_its_moving_averages_by_hand():
    real = np.array([[1.0], [-0.5]], np.float32)
    fake = np.array([[0.2], [-1.0]], np.float32)
    # Averages a_R = 0.4, a_F = 0.5: relu(real - 0.5) = (0.5, 0); relu(0.4 - fake) = (0.2, 1.4).
    value = losses.lecam_penalty(real, fake, 0.4, 0.5, weight=0.3)
    assert float(value) == pytest.approx(0.3 * ((0.25 + 0) / 2 + (0.04 + 1.96) / 2))
    averages = losses.lecam_averages(np.array([0.4, 0.5], np.float32), real, fake)
    np.testing.assert_allclose(averages, [0.99 * 0.4 + 0.01 * 0.25, 0.99 * 0.5 + 0.01 * -0.4],
                               rtol=1e-6)
    # Logits on the right side of the other set's average are not penalised.
    assert float(losses.lecam_penalty(real - 5, fake + 5, 0.0, 0.0, weight=1.0)) == 0.0
