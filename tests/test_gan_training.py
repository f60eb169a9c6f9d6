"""Training: a step learns, runs resume bitwise, Ctrl-C and NaN keep the last good state,
saved models load in a fresh process, and the JAX backend trains without TensorFlow."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from cxr_gan.gan import train as train_module
from cxr_gan.gan.batches import GANBatches, GANStepRange
from cxr_gan.gan.dcgan import DCGAN, METRIC_NAMES
from cxr_gan.gan.models import build_discriminator, build_generator
from cxr_gan.gan.train import (NonFiniteLossError, RunDirectoryError, make_run_config,
                               train_gan)
from tests.conftest import TINY_PAPER, TINY_PAPER_CODE, run_under_jax_without_tensorflow


def _config(data, preset, epochs, **kw):
    config = make_run_config(str(data), None, epochs, checkpoint_every=kw.pop("every", 1))
    return dataclasses.replace(config, preset=preset, **kw)


def _checkpoint_arrays(run_dir):
    from cxr_gan.checkpoints import list_checkpoints

    step, path = list_checkpoints(run_dir)[-1]
    with np.load(path) as data:
        return step, {k: data[k] for k in data.files if k != "header"}


@pytest.mark.slow
@pytest.mark.parametrize("preset", [TINY_PAPER, TINY_PAPER_CODE], ids=lambda p: p.name)
def test_a_train_step_changes_both_networks_and_keeps_losses_finite(preset):
    images = np.random.default_rng(0).integers(0, 256, (32, 16, 16, 1), dtype=np.uint8)
    gan = DCGAN(build_generator(preset, 1), build_discriminator(preset, 1))
    gan.compile(keras.optimizers.Adam(1e-3, beta_1=0.5), keras.optimizers.Adam(1e-3, beta_1=0.5))
    before_g = [w.copy() for w in gan.generator.get_weights()]
    before_d = [w.copy() for w in gan.discriminator.get_weights()]
    history = gan.fit(GANStepRange(GANBatches(images, preset, 0), 0, 3), epochs=1, verbose=0)
    assert set(history.history) == set(METRIC_NAMES)
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    assert all(0 <= history.history[k][-1] <= 1 for k in ("d_acc_real", "d_acc_fake"))
    assert any(not np.array_equal(a, b) for a, b in zip(before_g, gan.generator.get_weights()))
    assert any(not np.array_equal(a, b)
               for a, b in zip(before_d, gan.discriminator.get_weights()))
    assert int(gan.d_optimizer.iterations) == 3 and int(gan.g_optimizer.iterations) == 3


def test_batches_are_a_pure_function_of_the_step():
    images = np.arange(40, dtype=np.uint8).reshape(40, 1, 1, 1)
    batches = GANBatches(images, TINY_PAPER, seed=3)  # 8 per batch, 5 steps an epoch.
    steps = GANStepRange(batches, 0, 12)
    first = [steps[i][0] for i in range(12)]
    again = GANBatches(images, TINY_PAPER, seed=3).batch(11)
    for key in ("real", "z_d", "z_g"):
        np.testing.assert_array_equal(first[11][key], again[key])
    epoch0 = np.concatenate([b["real"].ravel() for b in first[:5]])
    assert sorted(epoch0) == list(range(40))  # A permutation: each image once an epoch.


@pytest.mark.slow
def test_resume_is_bitwise_equal_to_an_uninterrupted_run(tiny_phantoms, tmp_path):
    straight = train_gan(_config(tiny_phantoms, TINY_PAPER_CODE, 4), tmp_path / "straight",
                         verbose=0)
    train_gan(_config(tiny_phantoms, TINY_PAPER_CODE, 2), tmp_path / "split", verbose=0)
    resumed = train_gan(_config(tiny_phantoms, TINY_PAPER_CODE, 4), tmp_path / "split",
                        resume=True, verbose=0)
    step_a, a = _checkpoint_arrays(tmp_path / "straight")
    step_b, b = _checkpoint_arrays(tmp_path / "split")
    assert step_a == step_b == 4 * 3  # 24 images // 8 = 3 steps an epoch.
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    for x, y in zip(straight.history, resumed.history):
        assert [x[k] for k in METRIC_NAMES] == [y[k] for k in METRIC_NAMES]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_saves_a_mid_epoch_checkpoint_that_resumes_exactly(tiny_phantoms, tmp_path,
                                                                    monkeypatch, signum):
    straight = train_gan(_config(tiny_phantoms, TINY_PAPER, 3), tmp_path / "straight",
                         verbose=0)
    original = train_module._RunRecorder.on_train_batch_end

    steps_ended = []

    def interrupt_at_step_4(self, batch, logs=None):
        steps_ended.append(batch)
        if len(steps_ended) == 4:  # The 4th step (1st of epoch 2) ends: a mid-epoch stop.
            self.handle_signal(signum, None)
        original(self, batch, logs)

    monkeypatch.setattr(train_module._RunRecorder, "on_train_batch_end", interrupt_at_step_4)
    result = train_gan(_config(tiny_phantoms, TINY_PAPER, 3), tmp_path / "stopped", verbose=0)
    assert result.interrupted and result.global_step == 4 and result.stop_signal == signum
    assert not (tmp_path / "stopped" / "generator.keras").exists()
    monkeypatch.setattr(train_module._RunRecorder, "on_train_batch_end", original)
    resumed = train_gan(_config(tiny_phantoms, TINY_PAPER, 3), tmp_path / "stopped",
                        resume=True, verbose=0)
    _, a = _checkpoint_arrays(tmp_path / "straight")
    _, b = _checkpoint_arrays(tmp_path / "stopped")
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    # The cut epoch's row covers all its steps: the sums before the stop were carried over.
    assert [row["steps"] for row in resumed.history] == [3, 3, 3]
    for x, y in zip(straight.history, resumed.history):
        assert [x[k] for k in METRIC_NAMES] == [y[k] for k in METRIC_NAMES]


@pytest.mark.slow
@pytest.mark.parametrize("where", ["last step", "after the last step"])
def test_a_signal_at_the_end_of_an_epoch_keeps_that_epochs_row(tiny_phantoms, tmp_path,
                                                               monkeypatch, where):
    # Found by tools/crash_soak.py: a SIGTERM between an epoch's last step and its end
    # saved a checkpoint whose history lacked that epoch.
    straight = train_gan(_config(tiny_phantoms, TINY_PAPER, 3), tmp_path / "straight",
                         verbose=0)
    hook = "on_train_batch_end" if where == "last step" else "on_epoch_end"
    original = getattr(train_module._RunRecorder, hook)
    calls = []

    def signal_in_epoch_2(self, index, logs=None):
        calls.append(index)
        if (hook == "on_epoch_end" and index == 1) or (hook != "on_epoch_end" and len(calls) == 6):
            self.handle_signal(signal.SIGTERM, None)
        original(self, index, logs)

    monkeypatch.setattr(train_module._RunRecorder, hook, signal_in_epoch_2)
    stopped = train_gan(_config(tiny_phantoms, TINY_PAPER, 3), tmp_path / "run", verbose=0)
    assert stopped.interrupted and stopped.global_step == 6
    assert [row["epoch"] for row in stopped.history] == [1, 2]
    monkeypatch.setattr(train_module._RunRecorder, hook, original)
    resumed = train_gan(_config(tiny_phantoms, TINY_PAPER, 3), tmp_path / "run", resume=True,
                        verbose=0)
    for x, y in zip(straight.history, resumed.history, strict=True):
        assert [x[k] for k in METRIC_NAMES] == [y[k] for k in METRIC_NAMES]


@pytest.mark.slow
def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tiny_phantoms, tmp_path,
                                                                  monkeypatch):
    run_dir = tmp_path / "nan"
    original = train_module._RunRecorder.on_epoch_end

    def poison_epoch_2(self, epoch, logs=None):
        logs = dict(logs)
        if epoch == 1:
            logs["g_loss"] = float("nan")
        original(self, epoch, logs)

    monkeypatch.setattr(train_module._RunRecorder, "on_epoch_end", poison_epoch_2)
    with pytest.raises(NonFiniteLossError, match="epoch 2.*g_loss=nan.*ckpt-000000003"):
        train_gan(_config(tiny_phantoms, TINY_PAPER, 4), run_dir, verbose=0)
    from cxr_gan.checkpoints import list_checkpoints

    assert [step for step, _ in list_checkpoints(run_dir)] == [3]


@pytest.mark.slow
def test_an_existing_run_is_never_overwritten(tiny_phantoms, tmp_path):
    train_gan(_config(tiny_phantoms, TINY_PAPER, 1), tmp_path / "run", verbose=0)
    with pytest.raises(RunDirectoryError, match="--resume"):
        train_gan(_config(tiny_phantoms, TINY_PAPER, 1), tmp_path / "run", verbose=0)
    with pytest.raises(RunDirectoryError, match="Nothing to resume"):
        train_gan(_config(tiny_phantoms, TINY_PAPER, 1), tmp_path / "new", resume=True,
                  verbose=0)


@pytest.mark.slow
def test_run_directory_contents(tiny_phantoms, tmp_path):
    run_dir = tmp_path / "run"
    train_gan(_config(tiny_phantoms, TINY_PAPER, 2), run_dir, verbose=0)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["synthetic"] is True and config["preset"]["name"] == "tiny-paper"
    assert config["versions"]["backend"] == "tensorflow" and config["training_images"] == 24
    # The machine beside the versions: figures are compared only within one CPU.
    assert config["versions"]["machine"].endswith(f", {os.cpu_count()} CPUs")
    history = (run_dir / "history.csv").read_text().splitlines()
    assert history[0].split(",") == ["epoch", "steps", "seconds", *METRIC_NAMES]
    assert len(history) == 3
    manifest = (run_dir / "manifest.csv").read_text().splitlines()
    assert manifest[0] == "path,split,label,status,reason" and len(manifest) == 25
    from PIL import Image

    figures = sorted(p.name for p in (run_dir / "figures").iterdir())
    assert figures == ["loss_accuracy.png", "samples_epoch_0001.png", "samples_epoch_0002.png"]
    for name in figures:
        with Image.open(run_dir / "figures" / name) as image:
            assert image.format == "PNG" and min(image.size) > 300


@pytest.mark.slow
def test_saved_models_load_in_a_fresh_process_without_the_project(tiny_phantoms, tmp_path):
    run_dir = tmp_path / "run"
    train_gan(_config(tiny_phantoms, TINY_PAPER_CODE, 1), run_dir, verbose=0)
    z = np.random.default_rng(0).standard_normal((3, 100)).astype("float32")
    generator = keras.models.load_model(run_dir / "generator.keras")
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "expected.npy", np.asarray(generator.predict_on_batch(z)))
    script = textwrap.dedent(f"""
        import sys, numpy as np, keras
        g = keras.models.load_model({str(run_dir / 'generator.keras')!r})
        d = keras.models.load_model({str(run_dir / 'discriminator.keras')!r})
        out = np.asarray(g.predict_on_batch(np.load({str(tmp_path / 'z.npy')!r})))
        np.testing.assert_array_equal(out, np.load({str(tmp_path / 'expected.npy')!r}))
        assert d.predict_on_batch(out).shape == (3, 1)
        assert not any(m.startswith('cxr_gan') for m in sys.modules)
        print('ok')
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")


@pytest.mark.slow
@pytest.mark.backends
def test_jax_backend_trains_saves_and_resumes_with_tensorflow_absent(tiny_phantoms, tmp_path):
    """Under JAX, one straight run and two interrupted twins: resumed after a whole epoch its
    newest checkpoint is the straight run's, bitwise; stopped by SIGTERM mid-epoch (the 2nd step
    of an epoch) its resumed history holds whole epochs equal to the straight run's."""
    done = run_under_jax_without_tensorflow(f"""
        import dataclasses, signal, sys
        import numpy as np
        from cxr_gan.gan import train as train_module
        from cxr_gan.gan.train import make_run_config, train_gan
        from tests.conftest import TINY_PAPER_CODE, assert_same_newest_checkpoint
        def cfg(epochs):
            c = make_run_config({str(tiny_phantoms)!r}, None, epochs, checkpoint_every=1)
            return dataclasses.replace(c, preset=TINY_PAPER_CODE)
        straight = train_gan(cfg(3), {str(tmp_path / 'a')!r}, verbose=0)
        train_gan(cfg(1), {str(tmp_path / 'b')!r}, verbose=0)
        r = train_gan(cfg(3), {str(tmp_path / 'b')!r}, resume=True, verbose=0)
        assert np.isfinite(r.history[-1]['g_loss'])
        assert_same_newest_checkpoint({str(tmp_path / 'a')!r}, {str(tmp_path / 'b')!r})
        original = train_module._RunRecorder.on_train_batch_end
        ended = []
        def stop_at_step_5(self, batch, logs=None):
            ended.append(batch)
            if len(ended) == 5:
                self.handle_signal(signal.SIGTERM, None)
            original(self, batch, logs)
        train_module._RunRecorder.on_train_batch_end = stop_at_step_5
        stopped = train_gan(cfg(3), {str(tmp_path / 'c')!r}, verbose=0)
        assert stopped.interrupted and stopped.global_step == 5, stopped.global_step
        train_module._RunRecorder.on_train_batch_end = original
        resumed = train_gan(cfg(3), {str(tmp_path / 'c')!r}, resume=True, verbose=0)
        steps = [h['steps'] for h in straight.history]
        assert 5 % steps[0] and [h['steps'] for h in resumed.history] == steps, resumed.history
        names = ('d_loss_real', 'd_loss_fake', 'g_loss', 'd_acc_real', 'd_acc_fake')
        for x, y in zip(straight.history, resumed.history):
            assert [x[k] for k in names] == [y[k] for k in names], (x, y)
        import keras
        assert keras.backend.backend() == 'jax'
        assert 'tensorflow' not in sys.modules
        print('ok')
    """)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")
