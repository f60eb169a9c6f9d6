"""Each augmentation equals its tf.image twin (under TensorFlow), and the top-up protocol."""

import numpy as np
import pytest

from cxr_gan.classifier import augment

tf = pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return rng.uniform(0, 1, (3, 24, 20, 3)).astype(np.float32)


def test_flip_left_right(images):
    np.testing.assert_array_equal(augment.flip_left_right(images),
                                  tf.image.flip_left_right(images).numpy())


def test_crop_and_resize(images):
    crop = augment.crop_to_bounding_box(images, 3, 2, 15, 17)
    np.testing.assert_array_equal(crop, tf.image.crop_to_bounding_box(images, 3, 2, 15, 17).numpy())
    for height, width in ((24, 20), (31, 9), (8, 40)):
        ours = augment.resize_bilinear(crop, height, width)
        theirs = tf.image.resize(crop, (height, width), method="bilinear",
                                 antialias=False).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=2e-6)


def test_clip_brightness_contrast(images):
    np.testing.assert_array_equal(augment.clip_by_value(images, 0.1, 0.9),
                                  tf.clip_by_value(images, 0.1, 0.9).numpy())
    np.testing.assert_allclose(augment.adjust_brightness(images, -0.13),
                               tf.image.adjust_brightness(images, -0.13).numpy(), atol=1e-7)
    np.testing.assert_allclose(augment.adjust_contrast(images, 1.7),
                               tf.image.adjust_contrast(images, 1.7).numpy(), atol=2e-6)
    np.testing.assert_allclose(augment.adjust_contrast(images[0], 0.6),
                               tf.image.adjust_contrast(images[0], 0.6).numpy(), atol=2e-6)


def test_top_up_counts_sources_and_seeds():
    rng = np.random.default_rng(1)
    normal = rng.integers(0, 256, (10, 16, 16, 1), dtype=np.uint8)
    config = augment.AugmentConfig()
    flipped = augment.top_up(normal, 25, "flip", config, seed=3)
    assert flipped.shape == (25, 16, 16, 1) and flipped.dtype == np.uint8
    # Every flipped image is the mirror of some NORMAL training image.
    mirrors = {normal[i, :, ::-1].tobytes() for i in range(10)}
    assert all(image.tobytes() in mirrors for image in flipped)
    np.testing.assert_array_equal(flipped, augment.top_up(normal, 25, "flip", config, seed=3))
    assert not np.array_equal(flipped, augment.top_up(normal, 25, "flip", config, seed=4))
    clipped = augment.top_up(normal, 5, "clip", config, seed=0)
    assert clipped.min() >= round(0.1 * 255) and clipped.max() <= round(0.9 * 255)
    gan = rng.integers(0, 256, (30, 16, 16, 1), dtype=np.uint8)
    np.testing.assert_array_equal(augment.top_up(normal, 25, "gan", config, 0, gan), gan[:25])
    with pytest.raises(ValueError, match="needs 25 generated images"):
        augment.top_up(normal, 25, "gan", config, 0, gan[:5])
    with pytest.raises(ValueError, match="method"):
        augment.top_up(normal, 5, "rotate", config, 0)


def test_each_method_keeps_the_random_stream_the_committed_runs_drew():
    from cxr_gan.classifier.augment import GAN_METHODS, METHOD_REGISTRY

    # The ids are the positions in the tuple the committed runs drew from (METHODS.index).
    old = ("none", "flip", "crop", "clip", "brightness", "contrast", "gan", "gan+crop")
    assert {name: m.stream_id for name, m in METHOD_REGISTRY.items() if name in old} == {
        name: index for index, name in enumerate(old)}
    assert GAN_METHODS == ("gan", "gan+crop", "gan+standard")
    assert len({m.stream_id for m in METHOD_REGISTRY.values()}) == len(METHOD_REGISTRY)
