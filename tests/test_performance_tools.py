"""FLOP counting, the indexed batch pipeline, mixed precision and the benchmark scripts."""

import re
import subprocess
import sys

import keras
import numpy as np
import pytest

from cxr_gan.gan.batches import GANBatches, GANStepRange
from cxr_gan.gan.dcgan import DCGAN
from cxr_gan.gan.flops import gan_step_flops, layer_flops
from cxr_gan.gan.models import build_discriminator, build_generator, dtype_policy
from tests.conftest import REPO, TINY_PAPER

# TINY_PAPER by hand (2 FLOPs a multiply-add):
# G: Dense 100->64; deconv 2x2x16 -> 8 (k4); deconv 4x4x8 -> 8 (k4); deconv 8x8x8 -> 3 (k4).
G_HAND = [2 * 100 * 64, 2 * 2 * 2 * 16 * 16 * 8, 2 * 4 * 4 * 16 * 8 * 8, 2 * 8 * 8 * 16 * 8 * 3]
# D: conv 16x16x3 -> 8x8x8 (k4 s2); -> 4x4x8; -> 2x2x16; -> 1x1x16; Dense 16 -> 1.
D_HAND = [2 * 8 * 8 * 16 * 3 * 8, 2 * 4 * 4 * 16 * 8 * 8, 2 * 2 * 2 * 16 * 8 * 16,
          2 * 1 * 1 * 16 * 16 * 16, 2 * 16 * 1]


def test_layer_flops_equal_hand_counts():
    assert [f.forward for f in layer_flops(build_generator(TINY_PAPER))] == G_HAND
    assert [f.forward for f in layer_flops(build_discriminator(TINY_PAPER))] == D_HAND


def test_step_flops_count_the_passes_the_step_needs():
    g, d = sum(G_HAND), sum(D_HAND)
    flops = gan_step_flops(build_generator(TINY_PAPER), build_discriminator(TINY_PAPER), 8, 8, 8)
    # D update: G forward on 8 fakes; D forward + weight grads + input grads (not of its first
    # layer) on 8 real + 8 fake. G update: G and D forward, D input grads, G weight and input
    # grads (not of its first layer), on 8.
    assert flops.d_update == 8 * g + 16 * (d + d + d - D_HAND[0]) == 5_215_744
    assert flops.g_update == 8 * (g + d + d + g + g - G_HAND[0]) == 4_268_544
    assert flops.total == 9_484_288


def test_layer_flops_of_separable_convolutions_and_refusal_of_unknown_layers():
    x = keras.Input((8, 8, 4))
    y = keras.layers.SeparableConv2D(6, 3, padding="same", name="sep")(x)
    y = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(y)  # valid: 6x6
    counted = layer_flops(keras.Model(x, y))
    # sep: depthwise 8*8*9*4 + pointwise 8*8*4*6 multiply-adds; dw: 6*6*9*6*2.
    assert [c.forward for c in counted] == [2 * (8 * 8 * 9 * 4 + 8 * 8 * 4 * 6),
                                            2 * 6 * 6 * 9 * 6 * 2]
    x = keras.Input((8, 3))
    with pytest.raises(ValueError, match="not counted"):
        layer_flops(keras.Model(x, keras.layers.Conv1D(2, 3)(x)))


def test_step_range_indexes_global_steps():
    images = np.random.default_rng(0).integers(0, 256, (40, 16, 16, 1), dtype=np.uint8)
    batches = GANBatches(images, TINY_PAPER, seed=5)
    steps = GANStepRange(batches, 7, 12)
    assert len(steps) == 5
    fresh = GANBatches(images, TINY_PAPER, seed=5)  # No state shared with `batches`.
    for index in range(5):
        expected = fresh.batch(7 + index)
        got = steps[index][0]
        assert set(got) == {"real", "z_d", "z_g"}
        for key in got:
            np.testing.assert_array_equal(got[key], expected[key])
    with pytest.raises(IndexError):
        steps[5]
    with pytest.raises(ValueError, match="start < stop"):
        GANStepRange(batches, 3, 3)


@pytest.mark.slow
def test_mixed_precision_computes_in_bfloat16_with_float32_weights_and_outputs(tmp_path):
    before = keras.config.dtype_policy().name
    with dtype_policy(True):
        generator = build_generator(TINY_PAPER, 1)
        discriminator = build_discriminator(TINY_PAPER, 1)
    assert keras.config.dtype_policy().name == before  # Restored.
    deconv = generator.get_layer("up1_deconv")
    assert deconv.compute_dtype == "bfloat16" and deconv.variable_dtype == "float32"
    assert generator.get_layer("to_image_tanh").compute_dtype == "float32"
    assert discriminator.get_layer("logit").compute_dtype == "float32"
    z = np.random.default_rng(0).standard_normal((4, TINY_PAPER.latent_dim)).astype("float32")
    image = generator(z)
    assert keras.backend.standardize_dtype(image.dtype) == "float32"
    gan = DCGAN(generator, discriminator)
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    images = np.random.default_rng(1).integers(0, 256, (32, 16, 16, 1), dtype=np.uint8)
    history = gan.fit(GANStepRange(GANBatches(images, TINY_PAPER, 0), 0, 3), epochs=1,
                      verbose=0)
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    generator.save(tmp_path / "g.keras")
    loaded = keras.models.load_model(tmp_path / "g.keras")
    np.testing.assert_allclose(np.asarray(loaded(z)), np.asarray(generator(z)), atol=1e-6)


@pytest.mark.slow
def test_bench_gan_prints_the_promised_key_value_line():
    done = subprocess.run(
        [sys.executable, "benchmarks/bench_gan.py", "--preset", "demo", "--batch-size", "4",
         "--warmup", "0", "--steps", "1", "--gemm-size", "512"], cwd=REPO, capture_output=True,
        text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    values = dict(pair.split("=", 1) for pair in last.split())
    for key in ("images_per_s", "step_gflop", "achieved_gflops", "gemm_gflops", "ratio_to_gemm"):
        assert re.fullmatch(r"[0-9.e+-]+", values[key]) and float(values[key]) > 0, key
    # The FLOPs printed are the counter's, for the demo preset at batch 4 (4 + 4 / 4).
    import dataclasses

    from cxr_gan.gan.config import PRESETS

    preset = dataclasses.replace(PRESETS["demo"], real_batch=4, fake_batch=4, g_batch=4)
    expected = gan_step_flops(build_generator(preset), build_discriminator(preset), 4, 4, 4)
    assert float(values["step_gflop"]) == pytest.approx(expected.total / 1e9, rel=1e-3)
    ratio = float(values["achieved_gflops"]) / float(values["gemm_gflops"])
    assert float(values["ratio_to_gemm"]) == pytest.approx(ratio, rel=1e-2)
