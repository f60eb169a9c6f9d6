"""FastGAN's parts (cxr_gan.gan.fastgan): shapes, the GLU gate, skip-layer excitation, the
quarter the part decoder must reconstruct, the reconstruction term's closed form, the batches'
quarters, and short training runs with bitwise resume under both backends."""

import dataclasses

import keras
import numpy as np
import pytest

from cxr_gan.gan import fastgan
from cxr_gan.gan.batches import GANBatches
from cxr_gan.gan.config import PRESETS, preset_digest, with_options
from cxr_gan.gan.models import (build_decoders, build_discriminator, build_generator,
                                discriminator_features)
from tests.conftest import (assert_same_newest_checkpoint, copy_back_to_first_checkpoint,
                            run_under_jax_without_tensorflow)

# The fastgan design at 64 px with tiny widths (the smallest size with 16x16 features in D).
TINY_FASTGAN = dataclasses.replace(
    PRESETS["fastgan"], name="tiny-fastgan", image_size=64, latent_dim=16,
    g_base=(4, 4, 16), g_filters=(8, 8, 8, 8), d_filters=(4, 8, 8, 16),
    decoder_filters=(4, 4), epochs=2,
)


def test_the_preset_builds_fastgans_shapes_at_128_px():
    preset = PRESETS["fastgan"]
    generator = build_generator(preset)
    discriminator = build_discriminator(preset)
    decoders = build_decoders(preset, discriminator)
    assert generator.output_shape == (None, 128, 128, 3)
    assert discriminator.output_shape == (None, 25)  # 5x5 logits: a 4x4 valid conv on 8x8
    assert [tuple(o.shape) for o in discriminator_features(discriminator).outputs] == [
        (None, 25), (None, 16, 16, 64), (None, 8, 8, 128)]
    assert decoders.output_shape == [(None, 64, 64, 3), (None, 64, 64, 3)]
    # SLE: 64 px gated by 4 px, 128 px by 8 px; "comp" blocks (two GLUs) at 8, 32, 128.
    names = {layer.name for layer in generator.layers}
    assert {"sle64_apply", "sle128_apply", "up8_b_glu", "up32_b_glu", "up128_b_glu"} <= names
    assert not {"sle32_apply", "up16_b_glu", "up64_b_glu"} & names
    # Only standard Keras layers: the saved generator loads without this project.
    assert {type(layer).__module__.split(".")[0] for layer in generator.layers} == {"keras"}


def test_widths_that_do_not_match_the_resolution_are_refused():
    with pytest.raises(ValueError, match="g_filters"):
        dataclasses.replace(TINY_FASTGAN, g_filters=(8, 8, 8))
    with pytest.raises(ValueError, match="decoder_filters"):
        dataclasses.replace(TINY_FASTGAN, decoder_filters=(4, 4, 4))
    with pytest.raises(ValueError, match="fastgan style's decoders"):
        with_options(PRESETS["efficient"], reconstruction=1.0)


def _model(build, input_shape):
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, build(inputs))


def test_glu_is_value_times_the_sigmoid_of_the_gate():
    def conv(filters, name):
        return keras.layers.Conv2D(filters, 1, use_bias=False, name=name)

    model = _model(lambda x: fastgan.glu_conv(x, 1, "g", conv, False), (2, 2, 1))
    model.get_layer("g_value").set_weights([np.full((1, 1, 1, 1), 2.0, np.float32)])
    model.get_layer("g_gate").set_weights([np.full((1, 1, 1, 1), -3.0, np.float32)])
    x = np.array([[[[0.5], [-1.0]], [[2.0], [0.0]]]], np.float32)
    scale = 1.0 / np.sqrt(1.0 + 1e-5)  # Batch norm at its initial statistics (inference).
    expected = 2 * x * scale / (1 + np.exp(3 * x * scale))
    np.testing.assert_allclose(model(x, training=False), expected, rtol=1e-5, atol=1e-7)


def test_skip_layer_excitation_gates_each_channel_by_one_number():
    conv2d = fastgan._conv2d_factory(lambda: "glorot_uniform")
    small_in, big_in = keras.Input((8, 8, 3)), keras.Input((16, 16, 2))
    model = keras.Model([small_in, big_in],
                        fastgan.skip_excitation(small_in, big_in, "se", conv2d))
    rng = np.random.default_rng(0)
    small = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
    big = rng.uniform(1, 2, (2, 16, 16, 2)).astype(np.float32)
    ratio = np.asarray(model([small, big]) / big)
    assert np.all((ratio > 0) & (ratio < 1))
    np.testing.assert_allclose(ratio, ratio[:, :1, :1, :] * np.ones_like(ratio), rtol=1e-5)
    # A zero last convolution opens every gate half way.
    layer = model.get_layer("se_conv1")
    layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
    np.testing.assert_allclose(model([small, big]), 0.5 * big, rtol=1e-6)


def test_the_quarter_to_reconstruct_is_the_reference_codes_crop():
    # Quarter k of an image holds the value k: top-left 0, top-right 1, bottom-left 2, bottom-right 3.
    image = np.zeros((1, 4, 4, 1), np.float32)
    image[0, :2, 2:], image[0, 2:, :2], image[0, 2:, 2:] = 1, 2, 3
    images = np.repeat(image, 4, axis=0)
    crop = np.eye(4, dtype=np.float32)
    selected = np.asarray(fastgan.select_quarter(images, crop))
    assert selected.shape == (4, 2, 2, 1)
    for k in range(4):
        np.testing.assert_array_equal(selected[k], np.full((2, 2, 1), k))


def test_reconstruction_term_closed_form():
    image = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    zeros = np.zeros((1, 2, 2, 1), np.float32)
    bottom_right = np.array([[0, 0, 0, 1]], np.float32)
    # whole: mean of the 2x2 block means (2.5, 4.5, 10.5, 12.5) = 7.5; part: the bottom-right
    # quarter (10, 11, 14, 15) at its own size, mean 12.5.
    value = fastgan.reconstruction_l1(zeros, zeros, image, bottom_right)
    assert float(value) == pytest.approx(20.0)
    perfect_whole = np.array([[[[2.5], [4.5]], [[10.5], [12.5]]]], np.float32)
    perfect_part = np.array([[[[10.0], [11.0]], [[14.0], [15.0]]]], np.float32)
    assert float(fastgan.reconstruction_l1(perfect_whole, perfect_part, image,
                                           bottom_right)) == 0.0


def test_batches_carry_one_quarter_per_real_image_a_pure_function_of_the_step():
    images = np.zeros((20, 64, 64, 1), np.uint8)
    batches = GANBatches(images, TINY_FASTGAN, seed=1)
    crop = batches.batch(3)["crop"]
    assert crop.shape == (TINY_FASTGAN.real_batch, 1, 4)
    np.testing.assert_array_equal(crop.sum(axis=-1), 1.0)
    np.testing.assert_array_equal(crop, GANBatches(images, TINY_FASTGAN, seed=1).batch(3)["crop"])
    assert "crop" not in GANBatches(images, with_options(TINY_FASTGAN, reconstruction=0.0),
                                    seed=1).batch(3)


def test_features_model_shares_the_discriminators_variables_and_decoders_are_checkpointed():
    from cxr_gan.gan.dcgan import make_gan

    gan = make_gan(TINY_FASTGAN, seed=0)
    assert [v.path for v in gan.discriminator_features.variables] == [
        v.path for v in gan.discriminator.variables]
    state = {id(v) for v in gan.state_variables()}
    assert all(id(v) in state for v in gan.decoders.variables)
    d_step = {id(v) for v in gan.d_trainable_variables}
    assert all(id(v) in d_step for v in gan.decoders.trainable_variables)
    assert "reconstruction" in gan.trackers
    no_decoders = make_gan(with_options(TINY_FASTGAN, reconstruction=0.0), seed=0)
    assert no_decoders.decoders is None and "reconstruction" not in no_decoders.trackers


def test_later_fields_at_their_defaults_leave_old_presets_digests_unchanged():
    import hashlib
    import json

    from cxr_gan.io import to_jsonable

    data = to_jsonable(PRESETS["efficient"])
    del data["decoder_filters"], data["options"]["reconstruction"], data["options"]["lecam"]
    old = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
    assert preset_digest(PRESETS["efficient"]) == old
    assert preset_digest(PRESETS["fastgan"]) != preset_digest(
        with_options(PRESETS["fastgan"], reconstruction=0.5))


def _config(data, epochs, **options):
    from cxr_gan.gan.train import make_run_config

    config = make_run_config(str(data), None, epochs, checkpoint_every=1)
    return dataclasses.replace(config, preset=with_options(TINY_FASTGAN, **options))


@pytest.mark.slow
def test_fastgan_trains_and_resumes_bitwise_under_tensorflow(tiny_phantoms, tmp_path):
    from cxr_gan.gan.train import train_gan

    options = {"r1_gamma": 0.1, "lecam": 0.3}
    train_gan(_config(tiny_phantoms, 2, **options), tmp_path / "straight", verbose=0)
    copy_back_to_first_checkpoint(tmp_path / "straight", tmp_path / "split")
    resumed = train_gan(_config(tiny_phantoms, 2, **options), tmp_path / "split", resume=True,
                        verbose=0)
    assert_same_newest_checkpoint(tmp_path / "straight", tmp_path / "split")
    last = resumed.history[-1]
    assert last["reconstruction"] > 0 and last["penalty"] > 0 and all(np.isfinite(v) for v in last.values())
    generator = keras.models.load_model(tmp_path / "split" / "generator.keras")
    images = np.asarray(generator(np.zeros((2, TINY_FASTGAN.latent_dim), np.float32)))
    assert images.shape == (2, 64, 64, 3) and np.all(np.abs(images) <= 1)


@pytest.mark.slow
@pytest.mark.backends
def test_fastgan_trains_under_jax(tiny_phantoms, tmp_path):
    # Resume is bitwise under TensorFlow (above) and under JAX for the paper's design
    # (test_gan_training.py): the checkpoint holds the same variables on either backend.
    done = run_under_jax_without_tensorflow(f"""
        import numpy as np
        from cxr_gan.gan.train import train_gan
        from tests.test_fastgan import _config
        r = train_gan(_config({str(tiny_phantoms)!r}, 1, lecam=0.3), {str(tmp_path / 'a')!r},
                      verbose=0)
        assert all(np.isfinite(v) for v in r.history[-1].values()), r.history
        assert r.history[-1]['reconstruction'] > 0
        print('ok')
    """)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-1] == "ok"


def test_flops_count_spectrally_normalised_layers_by_what_they_wrap():
    from cxr_gan.gan.flops import layer_flops

    discriminator = build_discriminator(PRESETS["fastgan"])
    counted = {layer.name: layer.forward for layer in layer_flops(discriminator)}
    # Stem: 4x4 stride-2 conv, 3 -> 16 channels, 64x64 outputs.
    assert counted["stem_conv"] == 2 * 64 * 64 * 4 * 4 * 3 * 16
    # Logits: 4x4 valid conv, 256 -> 1 channel, 5x5 outputs.
    assert counted["logit_conv"] == 2 * 5 * 5 * 4 * 4 * 256 * 1
    assert isinstance(discriminator.get_layer("stem_conv"), keras.layers.SpectralNormalization)
