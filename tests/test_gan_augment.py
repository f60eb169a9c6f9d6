"""DiffAugment's transforms and ADA's controller against hand-computed answers."""

import numpy as np
import pytest
import tensorflow as tf

from cxr_gan.gan import augment
from cxr_gan.gan.augment import (ada_step, cutout_mask, cutout_size, diff_augment,
                                 draw_parameters, translate, translation_shift)

ALL = ("translation", "cutout", "brightness", "contrast")


def _params(batch, **columns):
    """Parameters with every gate shut (1.0 >= any p < 1) except the given columns."""
    out = np.zeros((batch, augment.N_PARAMETERS), np.float32)
    out[:, [0, 3, 6, 8]] = 1.0  # Gates closed for p <= 1 (the test is u < p).
    out[:, 9] = 1.0
    for index, value in columns.items():
        out[:, int(index[1:])] = value
    return out


def test_translation_moves_pixels_and_shifts_in_zeros():
    x = np.arange(2 * 5 * 5 * 1, dtype=np.float32).reshape(2, 5, 5, 1) + 1.0
    out = np.asarray(translate(x, np.array([1.0, -2.0]), np.array([0.0, 1.0])))
    # Image 0: out[y, x] = in[y, x + 1]; last column shifted in as zeros.
    np.testing.assert_array_equal(out[0, :, :4], x[0, :, 1:])
    np.testing.assert_array_equal(out[0, :, 4], 0)
    # Image 1: out[y, x] = in[y + 1, x - 2].
    np.testing.assert_array_equal(out[1, :4, 2:], x[1, 1:, :3])
    np.testing.assert_array_equal(out[1, 4], 0)
    np.testing.assert_array_equal(out[1, :, :2], 0)


def test_cutout_zeroes_a_square_of_half_the_side_clipped_at_the_border():
    size, cut = 8, cutout_size(8)
    assert cut == 4 and translation_shift(128) == 16 and cutout_size(5) == 3
    mask = np.asarray(cutout_mask(np.array([4.0, 0.0]), np.array([4.0, 7.0]), size, cut))
    assert mask.shape == (2, 8, 8, 1)
    # Centre (4, 4): rows and columns 2..5 zeroed, 16 pixels.
    expected = np.ones((8, 8))
    expected[2:6, 2:6] = 0
    np.testing.assert_array_equal(mask[0, ..., 0], expected)
    # Centre x 0, y 7: columns -2..1 -> 0..1, rows 5..8 -> 5..7: 2 x 3 pixels.
    expected = np.ones((8, 8))
    expected[5:8, 0:2] = 0
    np.testing.assert_array_equal(mask[1, ..., 0], expected)


def test_brightness_and_contrast_are_the_closed_forms():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (3, 6, 6, 3)).astype(np.float32)
    params = _params(3, c6=0.0, c7=0.25)  # Brightness gate open: x + 0.25.
    np.testing.assert_allclose(diff_augment(x, params, 1.0, ("brightness",)), x + 0.25,
                               atol=1e-6)
    params = _params(3, c8=0.0, c9=1.5)  # Contrast x 1.5 about each image's mean.
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(diff_augment(x, params, 1.0, ("contrast",)),
                               (x - mean) * 1.5 + mean, atol=1e-6)


def test_p_gates_each_transform_per_image():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (4, 8, 8, 3)).astype(np.float32)
    params = draw_parameters(np.random.default_rng(2), 4, 8)
    # p = 0: the identity (up to the round-off of (x - mean) * 1 + mean).
    np.testing.assert_allclose(diff_augment(x, params, 0.0, ALL), x, atol=1e-6)
    # p = 0.5: image i changes exactly when one of its gates is below 0.5.
    out = np.asarray(diff_augment(x, params, 0.5, ("brightness",)))
    for i in range(4):
        changed = not np.array_equal(out[i], x[i])
        assert changed == (params[i, 6] < 0.5 and params[i, 7] != 0)


def test_drawn_parameters_cover_diffaugments_ranges():
    params = draw_parameters(np.random.default_rng(0), 20000, 128)
    shifts = params[:, 1:3]
    assert shifts.min() == -16 and shifts.max() == 16 and np.all(shifts == np.round(shifts))
    centres = params[:, 4:6]  # cut = 64 (even): offsets 0 .. 128 inclusive.
    assert centres.min() == 0 and centres.max() == 128
    assert -0.5 <= params[:, 7].min() and params[:, 7].max() < 0.5
    assert 0.5 <= params[:, 9].min() and params[:, 9].max() < 1.5
    assert np.all((params[:, [0, 3, 6, 8]] >= 0) & (params[:, [0, 3, 6, 8]] < 1))


def test_augmentation_is_differentiable_with_the_expected_gradient():
    x = tf.constant(np.random.default_rng(3).uniform(-1, 1, (2, 8, 8, 1)), tf.float32)
    params = _params(2, c0=0.0, c1=2.0, c2=0.0, c6=0.0, c7=0.1)  # Shift x by 2, brighten.
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(diff_augment(x, params, 1.0, ALL))
    grad = tape.gradient(total, x).numpy()
    # Each input pixel reaches the output once, except the two columns shifted out.
    np.testing.assert_array_equal(grad[:, :, 2:], 1.0)
    np.testing.assert_array_equal(grad[:, :, :2], 0.0)


def test_ada_step_moves_p_by_the_sign_of_r_minus_target():
    logits = np.array([1, 1, 1, -1], np.float32) * 3.0  # r_t = (3 - 1) / 4 = 0.5.
    new_p, r_t = ada_step(0.5, logits, target=0.4, n_images=4, ada_kimg=100)
    assert float(r_t) == pytest.approx(0.5)
    assert float(new_p) == pytest.approx(0.5 + 4 / 100_000)  # Above the target: p rises.
    new_p, _ = ada_step(0.5, logits, target=0.9, n_images=4, ada_kimg=100)
    assert float(new_p) == pytest.approx(0.5 - 4 / 100_000)  # Below: p falls.
    assert float(ada_step(0.0, logits, 0.9, 4, 100)[0]) == 0.0  # Never below 0 ...
    assert float(ada_step(1.0, logits, 0.1, 4, 100)[0]) == 1.0  # ... nor above 1.
