"""cxr_gan.gan.models: shapes and parameter counts of each preset, counted by hand."""

import numpy as np
import pytest

from cxr_gan.gan.config import PRESETS, get_preset
from cxr_gan.gan.models import build_discriminator, build_generator


def test_paper_generator_matches_the_text():
    g = build_generator(PRESETS["paper"])
    assert g.name == "generator"
    assert g.input_shape == (None, 100) and g.output_shape == (None, 128, 128, 3)
    shapes = {layer.name: layer.output.shape for layer in g.layers}
    assert shapes["project_reshape"] == (None, 8, 8, 1024)
    assert [shapes[f"up{i}_relu"] for i in (1, 2, 3)] == [
        (None, 16, 16, 512), (None, 32, 32, 256), (None, 64, 64, 128)]
    # Dense 100 -> 65536 (no bias, BN follows), 5x5 transposed kernels, BN = 4 per channel.
    expected = (100 * 65536 + 4 * 1024
                + 25 * 1024 * 512 + 4 * 512
                + 25 * 512 * 256 + 4 * 256
                + 25 * 256 * 128 + 4 * 128
                + 25 * 128 * 3 + 3)
    assert g.count_params() == expected == 23_774_083


def test_paper_discriminator_matches_the_text():
    d = build_discriminator(PRESETS["paper"])
    assert d.output_shape == (None, 1)
    names = [layer.name for layer in d.layers]
    assert "down1_bn" not in names and all(f"down{i}_bn" in names for i in (2, 3, 4, 5))
    assert d.get_layer("down5_lrelu").output.shape == (None, 4, 4, 1024)
    expected = (25 * 3 * 64 + 64
                + 25 * 64 * 128 + 4 * 128
                + 25 * 128 * 256 + 4 * 256
                + 25 * 256 * 512 + 4 * 512
                + 25 * 512 * 1024 + 4 * 1024
                + 4 * 4 * 1024 + 1)
    assert d.count_params() == expected


def test_paper_code_matches_the_authors_code():
    preset = PRESETS["paper-code"]
    g, d = build_generator(preset), build_discriminator(preset)
    assert g.output_shape == (None, 128, 128, 3)
    assert not any("bn" in layer.name for layer in g.layers + d.layers)
    assert g.get_layer("up4_lrelu").output.shape == (None, 128, 128, 64)
    expected_g = (100 * 65536 + 65536
                  + 16 * 1024 * 512 + 512 + 16 * 512 * 256 + 256
                  + 16 * 256 * 128 + 128 + 16 * 128 * 64 + 64
                  + 25 * 64 * 3 + 3)
    assert g.count_params() == expected_g
    assert d.get_layer("down1_lrelu").output.shape == (None, 128, 128, 64)
    assert d.get_layer("down5_lrelu").output.shape == (None, 8, 8, 1024)
    assert d.get_layer("dropout").rate == pytest.approx(0.4)
    expected_d = (25 * 3 * 64 + 64 + 25 * 64 * 128 + 128 + 25 * 128 * 256 + 256
                  + 25 * 256 * 512 + 512 + 25 * 512 * 1024 + 1024 + 8 * 8 * 1024 + 1)
    assert d.count_params() == expected_d


def test_demo_preset_shapes():
    preset = PRESETS["demo"]
    assert build_generator(preset).output_shape == (None, 64, 64, 3)
    assert build_discriminator(preset).output_shape == (None, 1)


def test_models_are_a_pure_function_of_the_seed():
    preset = PRESETS["demo"]
    a, b, c = (build_generator(preset, seed=s) for s in (5, 5, 6))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


def test_outputs_are_in_range():
    g = build_generator(PRESETS["demo"])
    d = build_discriminator(PRESETS["demo"])
    z = np.random.default_rng(0).standard_normal((4, 100)).astype("float32")
    images = np.asarray(g(z, training=False))
    assert images.min() >= -1 and images.max() <= 1
    p = np.asarray(d(images, training=False))
    assert p.shape == (4, 1) and np.all((p > 0) & (p < 1))


def test_bad_arguments_fail_early():
    with pytest.raises(ValueError, match="Unknown preset"):
        get_preset("wgan")
    with pytest.raises(ValueError, match="seed"):
        build_generator(PRESETS["demo"], seed=-1)
