"""The GAN options end to end: config and sources, batches, training runs per loss on both
backends, exact resume with ADA and EMA state, FID tracking and TensorBoard."""

import dataclasses
import json

import numpy as np
import pytest

from cxr_gan.cli import OptionError
from cxr_gan.gan.batches import GANBatches
from cxr_gan.gan.config import PRESETS, GANOptions, preset_from_dict, with_options
from cxr_gan.gan.train import make_run_config, train_gan
from cxr_gan.io import to_jsonable
from tests.conftest import TINY_PAPER, run_python, run_under_jax_without_tensorflow

ALL = ("translation", "cutout", "brightness", "contrast")


def _config(data, epochs, preset=TINY_PAPER, **options):
    config = make_run_config(str(data), None, epochs, checkpoint_every=1)
    return dataclasses.replace(config, preset=with_options(preset, **options))


def _checkpoint_arrays(run_dir):
    from cxr_gan.checkpoints import list_checkpoints

    with np.load(list_checkpoints(run_dir)[-1][1]) as data:
        return {k: data[k] for k in data.files if k != "header"}


def test_wgan_gp_sets_gulrajanis_recipe_and_each_option_records_its_source():
    preset = with_options(PRESETS["demo"], loss="wgan-gp", r1_gamma=0.5)
    assert preset.options.n_critic == 5 and preset.options.gp_weight == 10.0
    assert (preset.d_learning_rate, preset.g_learning_rate) == (1e-4, 1e-4)
    assert (preset.beta_1, preset.beta_2) == (0.0, 0.9)
    assert not preset.options.critic_batch_norm
    assert any(s.startswith("loss=wgan-gp: Gulrajani") for s in preset.options.sources)
    assert any(s.startswith("r1_gamma=0.5: Mescheder") for s in preset.options.sources)
    # None keeps the preset's value: the efficient preset keeps its DiffAugment and EMA.
    kept = with_options(PRESETS["efficient"], diffaugment=None, ema_decay=None)
    assert kept.options == PRESETS["efficient"].options


def test_invalid_options_are_refused():
    with pytest.raises(ValueError, match="ADA needs transforms"):
        GANOptions(ada_target=0.6)
    with pytest.raises(ValueError, match="Unknown DiffAugment transform"):
        GANOptions(diffaugment=("saturation",))
    with pytest.raises(OptionError, match="ADA needs transforms"):
        make_run_config(None, "demo", 1, options={"ada_target": 0.6})


def test_presets_with_options_round_trip_through_json_and_old_configs_load():
    preset = with_options(PRESETS["efficient"], loss="hinge", spectral_norm=True, r1_gamma=1.0)
    assert preset_from_dict(json.loads(json.dumps(to_jsonable(preset)))) == preset
    old = to_jsonable(PRESETS["paper-code"])
    del old["options"], old["beta_2"]  # A config.json written before the options existed.
    assert preset_from_dict(old) == PRESETS["paper-code"]


def test_the_efficient_preset_is_the_paper_design_at_a_quarter_width():
    efficient, paper = PRESETS["efficient"], PRESETS["paper"]
    assert efficient.image_size == paper.image_size == 128 and efficient.channels == 3
    assert [4 * f for f in efficient.d_filters] == list(paper.d_filters)
    assert [4 * f for f in efficient.g_filters] == list(paper.g_filters)
    assert efficient.epochs * (1341 // efficient.g_batch) >= 5000
    assert efficient.options.diffaugment == ALL and efficient.options.ema_decay == 0.999


def test_the_fastgan_lecam_preset_is_fastgan_with_lecam_at_its_published_weight():
    fastgan, lecam = PRESETS["fastgan"], PRESETS["fastgan-lecam"]
    assert lecam.options.lecam == 0.3 and fastgan.options.lecam == 0.0
    back = dataclasses.replace(
        lecam, name="fastgan", sources=fastgan.sources,
        options=dataclasses.replace(lecam.options, lecam=0.0, sources=fastgan.options.sources))
    assert back == fastgan  # Nothing else differs.
    assert any(s.startswith("lecam=0.3") for s in lecam.options.sources)
    assert preset_from_dict(json.loads(json.dumps(to_jsonable(lecam)))) == lecam


def test_critic_batches_keep_the_plain_dcgan_batch_as_their_first_slice():
    images = np.random.default_rng(0).integers(0, 256, (40, 16, 16, 1), dtype=np.uint8)
    plain = GANBatches(images, TINY_PAPER, seed=3).batch(2)
    wgan = with_options(TINY_PAPER, loss="wgan-gp", diffaugment=ALL)
    batch = GANBatches(images, wgan, seed=3).batch(2)
    assert batch["real"].shape == (8, 5, 16, 16, 1) and batch["z_d"].shape == (8, 5, 100)
    assert batch["aug_real"].shape == (8, 5, 10) and batch["aug_gen"].shape == (8, 10)
    assert batch["alpha"].shape == (8, 5) and 0 <= batch["alpha"].min() < 1
    np.testing.assert_array_equal(batch["z_d"][:, 0], plain["z_d"][:, 0])
    np.testing.assert_array_equal(batch["z_g"], plain["z_g"])
    again = GANBatches(images, wgan, seed=3).batch(2)
    for key in batch:
        np.testing.assert_array_equal(batch[key], again[key])


@pytest.mark.parametrize("options", [
    {"loss": "hinge", "spectral_norm": True},
    {"loss": "wgan-gp"},
], ids=["hinge-sn", "wgan-gp"])
@pytest.mark.slow
def test_each_loss_trains_under_tensorflow(tiny_phantoms, tmp_path, options):
    result = train_gan(_config(tiny_phantoms, 1, **options), tmp_path / "run", verbose=0)
    row = result.history[-1]
    assert all(np.isfinite(v) for v in row.values())
    assert result.global_step == 3 and (tmp_path / "run" / "generator.keras").is_file()
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["preset"]["options"]["loss"] == options["loss"]


@pytest.mark.slow
def test_augmented_ada_ema_r1_run_resumes_bitwise_and_saves_both_generators(tiny_phantoms,
                                                                         tmp_path):
    options = {"diffaugment": ALL, "ada_target": 0.6, "ema_decay": 0.99, "r1_gamma": 0.1}
    train_gan(_config(tiny_phantoms, 3, **options), tmp_path / "straight", verbose=0)
    train_gan(_config(tiny_phantoms, 1, **options), tmp_path / "split", verbose=0)
    resumed = train_gan(_config(tiny_phantoms, 3, **options), tmp_path / "split", resume=True,
                        verbose=0)
    a, b = _checkpoint_arrays(tmp_path / "straight"), _checkpoint_arrays(tmp_path / "split")
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    header = (tmp_path / "split" / "history.csv").read_text().splitlines()[0].split(",")
    assert header[-4:] == ["d_acc_fake", "penalty", "ada_p", "ada_r_t"]
    assert 0.0 <= resumed.history[-1]["ada_p"] <= 1.0
    for name in ("generator.keras", "generator_raw.keras", "discriminator.keras"):
        assert (tmp_path / "split" / name).is_file()
    import keras

    ema = keras.models.load_model(tmp_path / "split" / "generator.keras")
    raw = keras.models.load_model(tmp_path / "split" / "generator_raw.keras")
    assert any(not np.array_equal(x, y) for x, y in zip(ema.get_weights(), raw.get_weights()))


@pytest.mark.slow
def test_fid_tracking_writes_columns_figure_and_the_best_generator(tiny_phantoms, tmp_path):
    config = dataclasses.replace(_config(tiny_phantoms, 2, ema_decay=0.9), fid_every=1,
                                 fid_images=8, tensorboard=True)
    result = train_gan(config, tmp_path / "run", verbose=0, cache=tmp_path / "cache")
    lines = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert lines[0].split(",")[-3:] == ["fid_768", "kid", "fid_seconds"]
    fids = [row["fid_768"] for row in result.history]
    assert len(fids) == 2 and all(np.isfinite(f) and f > 0 for f in fids)
    assert (tmp_path / "run" / "generator_best.keras").is_file()
    assert (tmp_path / "run" / "figures" / "fid.png").is_file()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    tags = events.Tags()
    assert {"g_loss", "fid_768", "kid"} <= set(tags["tensors"]) | set(tags["scalars"])
    assert [e.step for e in events.Tensors("fid_768")] == [3, 6]


def test_data_parallel_with_options_is_refused_before_any_work(tiny_phantoms, tmp_path):
    config = dataclasses.replace(_config(tiny_phantoms, 1, ema_decay=0.9), data_parallel=True)
    with pytest.raises(OptionError, match="--data-parallel supports the plain DCGAN"):
        train_gan(config, tmp_path / "run", verbose=0)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_cli_refuses_ada_without_transforms_in_one_line(tmp_path):
    done = run_python(f"""
        import sys
        from cxr_gan.cli import run_script
        import train_gan
        sys.exit(run_script(train_gan.main, ['--out', {str(tmp_path / 'r')!r},
                                             '--preset', 'demo', '--ada-target', '0.6']))
    """)
    assert done.returncode == 2
    assert "ADA needs transforms to apply: give --diffaugment POLICY too." in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
@pytest.mark.backends
def test_options_train_under_jax_with_tensorflow_absent(tiny_phantoms, tmp_path):
    done = run_under_jax_without_tensorflow(f"""
        import dataclasses, math, sys
        from cxr_gan.cli import OptionError
        from cxr_gan.gan.config import with_options
        from cxr_gan.gan.tracking import check_tensorboard_available
        from cxr_gan.gan.train import make_run_config, train_gan
        from tests.conftest import TINY_PAPER
        ALL = ('translation', 'cutout', 'brightness', 'contrast')
        def cfg(epochs, **options):
            c = make_run_config({str(tiny_phantoms)!r}, None, epochs, checkpoint_every=1)
            return dataclasses.replace(c, preset=with_options(TINY_PAPER, **options))
        mixed = dict(diffaugment=ALL, ada_target=0.6, ema_decay=0.99, r1_gamma=0.1,
                     loss='hinge', spectral_norm=True)
        # Resumed bitwise: under TensorFlow with these options (above), under JAX for the
        # paper's design (test_gan_training.py).
        r = train_gan(cfg(2, **mixed), {str(tmp_path / 'a')!r}, verbose=0)
        assert all(math.isfinite(v) for v in r.history[-1].values()), r.history
        try:
            check_tensorboard_available()
            raise SystemExit('tensorboard check passed without TensorFlow')
        except OptionError as error:
            assert 'leave out --tensorboard' in str(error)
        assert 'tensorflow' not in sys.modules
        print('ok', r.history[-1]['ada_p'])
    """)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-2] == "ok"
