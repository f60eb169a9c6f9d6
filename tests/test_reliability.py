"""Reliability of runs: one writer per run directory, resume that keeps its target and never
restores a foreign or damaged checkpoint, clean starts, temporary files, SIGTERM in a real
process, and every argument checked before training (issue #12's cases, one test each)."""

import dataclasses
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from cxr_gan import checkpoints
from cxr_gan.checkpoints import (CheckpointMismatchError, DamagedCheckpointError,
                                 NoUsableCheckpointError, list_checkpoints, read_checkpoint)
from cxr_gan.gan.train import (RunDirectoryError, make_run_config, resume_config, train_gan)
from cxr_gan.rundir import LOCK_NAME, RunLockedError, run_lock, stale_temporaries
from tests.conftest import REPO as REPO_ROOT, TINY_PAPER


def _config(data, epochs, seed=0, **kw):
    config = make_run_config(str(data), None, epochs, checkpoint_every=1, seed=seed)
    return dataclasses.replace(config, preset=kw.pop("preset", TINY_PAPER), **kw)


def _newest_arrays(run_dir):
    step, path = list_checkpoints(run_dir)[-1]
    return step, read_checkpoint(path)[1]


def _assert_same_state(run_a, run_b):
    step_a, a = _newest_arrays(run_a)
    step_b, b = _newest_arrays(run_b)
    assert step_a == step_b
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def straight3(tiny_phantoms, tmp_path_factory):
    """An uninterrupted 3-epoch run of seed 0 (3 steps an epoch): the reference state."""
    run_dir = tmp_path_factory.mktemp("straight") / "run"
    train_gan(_config(tiny_phantoms, 3), run_dir, verbose=0)
    return run_dir


# -- one writer per run directory -------------------------------------------------------------
def test_a_second_writer_is_refused_with_the_holders_pid(tiny_phantoms, tmp_path):
    run_dir = tmp_path / "run"
    with run_lock(run_dir):
        with pytest.raises(RunLockedError, match=f"process {os.getpid()} "):
            train_gan(_config(tiny_phantoms, 1), run_dir, verbose=0)
        with pytest.raises(RunLockedError, match="Wait for it to finish"):
            train_gan(_config(tiny_phantoms, 1), run_dir, resume=True, verbose=0)
    assert not (run_dir / "config.json").exists()


@pytest.mark.slow
def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path, capsys):
    run_dir = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from cxr_gan.rundir import run_lock\n"
         f"with run_lock({str(run_dir)!r}):\n    print('held', flush=True); time.sleep(60)"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RunLockedError, match=f"process {holder.pid} "):
        with run_lock(run_dir):
            pass
    holder.kill()
    holder.wait()
    with run_lock(run_dir):
        pass
    assert f"left by process {holder.pid}" in capsys.readouterr().err


def test_a_refused_new_run_leaves_no_folder(tiny_phantoms, tmp_path):
    from cxr_gan.cli import OptionError

    config = dataclasses.replace(_config(tiny_phantoms, 1), data_parallel=True)
    config = dataclasses.replace(config, preset=dataclasses.replace(
        TINY_PAPER, options=dataclasses.replace(TINY_PAPER.options, ema_decay=0.9)))
    with pytest.raises(OptionError):
        train_gan(config, tmp_path / "new", verbose=0)
    assert not (tmp_path / "new").exists()


# -- resume keeps its target, refuses to shrink, starts cleanly -------------------------------
@pytest.mark.slow
def test_resume_without_epochs_keeps_the_stored_target_and_does_nothing_when_done(
        tiny_phantoms, tmp_path, capsys):
    run_dir = tmp_path / "run"
    train_gan(_config(tiny_phantoms, 2), run_dir, verbose=0)
    before = (run_dir / "generator.keras").stat().st_mtime_ns
    config = resume_config(run_dir)
    assert config.epochs == 2
    result = train_gan(config, run_dir, resume=True, verbose=0)
    assert result.global_step == 6 and len(result.history) == 2
    assert "nothing to do" in capsys.readouterr().err
    assert (run_dir / "generator.keras").stat().st_mtime_ns == before
    assert json.loads((run_dir / "config.json").read_text())["epochs"] == 2


@pytest.mark.slow
def test_resume_refuses_to_shrink_a_run_and_leaves_its_config(tiny_phantoms, tmp_path):
    run_dir = tmp_path / "run"
    train_gan(_config(tiny_phantoms, 3), run_dir, verbose=0)
    config_text = (run_dir / "config.json").read_text()
    with pytest.raises(RunDirectoryError, match="trained 3 epochs.*--epochs 2 would shrink"):
        train_gan(resume_config(run_dir, epochs=2), run_dir, resume=True, verbose=0)
    assert (run_dir / "config.json").read_text() == config_text
    assert len((run_dir / "history.csv").read_text().splitlines()) == 4


@pytest.mark.slow
def test_resume_refuses_a_changed_identity_field(tiny_phantoms, tmp_path):
    run_dir = tmp_path / "run"
    train_gan(_config(tiny_phantoms, 1), run_dir, verbose=0)
    with pytest.raises(RunDirectoryError, match="seed 1 \\(the run's: 0\\)"):
        train_gan(_config(tiny_phantoms, 2, seed=1), run_dir, resume=True, verbose=0)


@pytest.mark.slow
def test_resume_before_the_first_checkpoint_starts_the_run_from_the_beginning(
        tiny_phantoms, tmp_path, straight3, capsys):
    run_dir = tmp_path / "run"
    train_gan(_config(tiny_phantoms, 3), run_dir, verbose=0)
    shutil.rmtree(run_dir / "checkpoints")  # As if killed before the first checkpoint.
    (run_dir / "generator.keras").unlink()
    result = train_gan(resume_config(run_dir), run_dir, resume=True, verbose=0)
    assert "starting the run from the beginning" in capsys.readouterr().err
    assert result.global_step == 9 and [r["epoch"] for r in result.history] == [1, 2, 3]
    _assert_same_state(straight3, run_dir)


@pytest.mark.slow
def test_the_cli_refuses_options_that_resume_cannot_change(tiny_phantoms, tmp_path, capsys):
    import train_gan as script

    from cxr_gan.cli import run_script

    run_dir = tmp_path / "run"
    train_gan(_config(tiny_phantoms, 1), run_dir, verbose=0)
    status = run_script(script.main, ["--out", str(run_dir), "--resume", "--seed", "1"])
    assert status == 2
    err = capsys.readouterr().err
    assert "--seed is 0 there, 1 here" in err and "Traceback" not in err
    # The command that started the run, plus --resume, continues it (nothing would change).
    status = run_script(script.main, ["--data", str(tiny_phantoms), "--preset", "demo",
                                      "--out", str(run_dir), "--resume", "--seed", "0"])
    assert status == 2 and "--preset is 'tiny-paper' there, 'demo' here" in \
        capsys.readouterr().err


# -- checkpoints: foreign and damaged ones are refused, with a fallback -----------------------
def _run_to_2_epochs_then_plant(tiny_phantoms, tmp_path, plant):
    """A seed-0 run stopped at epoch 2; ``plant(path_of_its_newest)`` alters its checkpoints."""
    run_dir = tmp_path / "run"
    train_gan(_config(tiny_phantoms, 2), run_dir, verbose=0)
    plant(run_dir, list_checkpoints(run_dir)[-1][1])
    return run_dir


def _resume_to_3(run_dir, capsys):
    train_gan(resume_config(run_dir, epochs=3), run_dir, resume=True, verbose=0)
    return capsys.readouterr().err


@pytest.mark.slow
def test_a_foreign_checkpoint_is_refused_and_moved_aside(tiny_phantoms, tmp_path, straight3,
                                                         capsys):
    other = tmp_path / "other-seed"
    train_gan(_config(tiny_phantoms, 3, seed=1), other, verbose=0)

    def plant(run_dir, newest):  # Another run's checkpoint, newer than the run's own.
        shutil.copy(list_checkpoints(other)[-1][1], newest.parent / "ckpt-000000099.npz")

    run_dir = _run_to_2_epochs_then_plant(tiny_phantoms, tmp_path, plant)
    err = _resume_to_3(run_dir, capsys)
    assert "ckpt-000000099.npz belongs to another run" in err and "seed: 1 vs 0" in err
    assert (run_dir / "checkpoints" / "refused" / "ckpt-000000099.npz").is_file()
    assert "Resuming from" in err and "ckpt-000000006.npz" in err
    _assert_same_state(straight3, run_dir)
    assert json.loads((run_dir / "config.json").read_text())["seed"] == 0


@pytest.mark.slow
def test_a_checkpoint_of_another_batch_size_is_foreign(tiny_phantoms, tmp_path):
    run_a, run_b = tmp_path / "a", tmp_path / "b"
    train_gan(_config(tiny_phantoms, 1), run_a, verbose=0)
    small = dataclasses.replace(TINY_PAPER, real_batch=4, fake_batch=4, g_batch=4)
    train_gan(_config(tiny_phantoms, 1, preset=small), run_b, verbose=0)
    from cxr_gan.gan.config import run_config_from_dict, run_fingerprint
    from cxr_gan.gan.dcgan import make_gan

    config = run_config_from_dict(json.loads((run_a / "config.json").read_text()))
    gan = make_gan(config.preset, config.seed)
    with pytest.raises(CheckpointMismatchError, match="g_batch: 4 vs 8"):
        checkpoints.load_checkpoint(list_checkpoints(run_b)[-1][1], gan.state_variables(),
                                    run_fingerprint(config))


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _zero_fill(path):
    path.write_bytes(bytes(path.stat().st_size))


def _flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _alter_an_array_keeping_the_archive_valid(path):
    with np.load(path) as data:
        arrays = {k: data[k].copy() for k in data.files}
    arrays["v00000"].flat[0] += 1.0
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())


@pytest.mark.parametrize("damage", [_truncate, _zero_fill, _flip_a_byte,
                                    _alter_an_array_keeping_the_archive_valid],
                         ids=["truncated", "zero-filled", "byte-flipped", "array-altered"])
@pytest.mark.slow
def test_a_damaged_newest_checkpoint_falls_back_to_the_older_one(tiny_phantoms, tmp_path,
                                                                  straight3, capsys, damage):
    run_dir = _run_to_2_epochs_then_plant(tiny_phantoms, tmp_path,
                                          lambda run_dir, newest: damage(newest))
    with pytest.raises(DamagedCheckpointError):
        read_checkpoint(run_dir / "checkpoints" / "ckpt-000000006.npz")
    err = _resume_to_3(run_dir, capsys)
    assert "ckpt-000000006.npz is damaged" in err and "Traceback" not in err
    assert "Resuming from" in err and "ckpt-000000003.npz" in err
    assert (run_dir / "checkpoints" / "refused" / "ckpt-000000006.npz").is_file()
    _assert_same_state(straight3, run_dir)


@pytest.mark.slow
def test_when_every_checkpoint_is_refused_the_config_is_kept_and_a_rerun_starts_over(
        tiny_phantoms, tmp_path, straight3, capsys):
    def damage_all(run_dir, newest):
        for _, path in list_checkpoints(run_dir):
            _zero_fill(path)

    run_dir = _run_to_2_epochs_then_plant(tiny_phantoms, tmp_path, damage_all)
    config_text = (run_dir / "config.json").read_text()
    with pytest.raises(NoUsableCheckpointError, match="all 2 were refused"):
        train_gan(resume_config(run_dir, epochs=3), run_dir, resume=True, verbose=0)
    assert (run_dir / "config.json").read_text() == config_text
    assert len(list((run_dir / "checkpoints" / "refused").iterdir())) == 2
    (run_dir / "generator.keras").unlink()
    _resume_to_3(run_dir, capsys)
    _assert_same_state(straight3, run_dir)


@pytest.mark.slow
def test_a_changed_training_set_is_refused_before_any_checkpoint_is_read(tiny_phantoms,
                                                                         tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_phantoms, data)
    run_dir = tmp_path / "run"
    train_gan(_config(data, 1), run_dir, verbose=0)
    victim = sorted((data / "train" / "NORMAL").iterdir())[0]
    victim.write_bytes(sorted((data / "train" / "NORMAL").iterdir())[1].read_bytes())
    with pytest.raises(RunDirectoryError, match="training images of .* changed"):
        train_gan(resume_config(run_dir, epochs=2), run_dir, resume=True, verbose=0)
    assert not (run_dir / "checkpoints" / "refused").exists()


# -- temporary files of killed writers ---------------------------------------------------------
@pytest.mark.slow
def test_temporary_files_of_a_killed_write_are_removed_at_start(tiny_phantoms, tmp_path, capsys):
    run_dir = tmp_path / "run"
    train_gan(_config(tiny_phantoms, 1), run_dir, verbose=0)
    debris = [run_dir / ".history.csv.ab3x_9kq.tmp",
              run_dir / "checkpoints" / ".ckpt-000000003.npz.zz81mq0p.tmp",
              run_dir / ".tmp-4242-generator.keras"]
    for path in debris:
        path.write_bytes(b"partial")
    keep = run_dir / "notes.tmp"
    keep.write_text("the user's file")
    assert stale_temporaries(run_dir) == sorted(debris)
    train_gan(resume_config(run_dir, epochs=2), run_dir, resume=True, verbose=0)
    assert not any(p.exists() for p in debris) and keep.is_file()
    assert "Removed 3 temporary file(s)" in capsys.readouterr().err
    assert not (run_dir / LOCK_NAME).read_text()  # Released: the holder record is cleared.


# -- SIGTERM in a real process -----------------------------------------------------------------
@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_exits_143(tiny_phantoms, tmp_path):
    run_dir = tmp_path / "run"
    command = [sys.executable, "train_gan.py", "--data", str(tiny_phantoms), "--preset",
               "demo", "--batch-size", "8", "--epochs", "400", "--checkpoint-every", "1000",
               "--out", str(run_dir),
               "--verbose", "0"]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (run_dir / "history.csv").is_file() and time.time() < deadline \
            and process.poll() is None:
        time.sleep(0.2)  # The first epoch is done: training is under way.
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    assert "Received SIGTERM: finishing the current step" in err
    assert "continue with --resume" in err and "Traceback" not in err
    assert len(list_checkpoints(run_dir)) == 1
    assert not (run_dir / "generator.keras").exists()


# -- arguments and inputs checked before any training -----------------------------------------
@pytest.mark.parametrize("count", ["0", "-5"])
def test_generate_refuses_a_non_positive_image_count(count, tmp_path, capsys):
    import train_gan as script

    from cxr_gan.cli import run_script

    with pytest.raises(SystemExit) as exit_info:
        run_script(script.main, ["generate", "--generator", "g.keras", "--num-images", count,
                                 "--out", str(tmp_path / "g")])
    assert exit_info.value.code == 2
    assert f"--num-images: must be an integer >= 1, got {count}" in capsys.readouterr().err


def test_a_discriminator_or_a_text_file_is_refused_as_a_generator(tmp_path):
    from cxr_gan.cli import BadFileError
    from cxr_gan.gan.generate import load_generator
    from cxr_gan.gan.models import build_discriminator

    path = tmp_path / "discriminator.keras"
    build_discriminator(TINY_PAPER, seed=0).save(path)
    with pytest.raises(BadFileError, match="is not a generator.*discriminator"):
        load_generator(path)
    text = tmp_path / "notes.keras"
    text.write_text("not a model")
    with pytest.raises(BadFileError, match="notes.keras is not a Keras model file"):
        load_generator(text)


def test_too_few_gan_images_are_refused_before_any_run_trains(tiny_phantoms, tmp_path):
    from cxr_gan.classifier.train import required_generated_images, run_many
    from cxr_gan.cli import UserError
    from PIL import Image

    gan_dir = tmp_path / "gan"
    gan_dir.mkdir()
    for i in range(3):
        Image.fromarray(np.full((16, 16), 100 + i, np.uint8)).save(gan_dir / f"gen-s0-{i:06d}.png")
    with pytest.raises(UserError, match="holds 3 images; method 'gan' .* tops up NORMAL with"):
        run_many(str(tiny_phantoms), ["none", "gan"], [0], str(tmp_path / "runs"),
                 gan_images=str(gan_dir), epochs=1, image_size=32, verbose=0)
    assert not (tmp_path / "runs").exists()
    from cxr_gan.classifier.train import ClassifierRunConfig
    from cxr_gan.data import datasets

    config = ClassifierRunConfig(data=str(tiny_phantoms), synthetic=True, method="gan")
    # 30 PNEUMONIA and 24 NORMAL training images; 10 % of each (3 and 2) held out.
    parts = datasets.split_records(datasets.scan(tiny_phantoms), "official")
    assert required_generated_images(config, parts) == (30 - 3) - (24 - 2)


@pytest.mark.slow
def test_a_finished_run_of_a_comparison_is_kept_and_skipped(tiny_phantoms, tmp_path, capsys):
    from cxr_gan.classifier.train import run_many

    out = tmp_path / "runs"
    first = run_many(str(tiny_phantoms), ["none"], [0, 1], str(out), epochs=1, image_size=32,
                     verbose=0)
    stamp = (out / "none-s0" / "metrics.json").stat().st_mtime_ns
    again = run_many(str(tiny_phantoms), ["none"], [0, 1], str(out), epochs=1, image_size=32,
                     verbose=0)
    assert "already holds this run's results; kept" in capsys.readouterr().out
    assert (out / "none-s0" / "metrics.json").stat().st_mtime_ns == stamp
    assert [m["accuracy"] for _, _, m in first] == [m["accuracy"] for _, _, m in again]


# -- files follow the umask --------------------------------------------------------------------
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_and_the_lock_follow_the_umask(tmp_path, umask, mode):
    from cxr_gan.io import atomic_write_text

    previous = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "a.json", "{}")
        with run_lock(tmp_path / "run"):
            (tmp_path / "run" / "kept").write_text("so the folder stays")
    finally:
        os.umask(previous)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == mode
    assert (tmp_path / "run" / LOCK_NAME).stat().st_mode & 0o777 == mode


# -- resume takes the options it was started with (issue: reliability, third pass) ------------
def test_resume_accepts_equal_options_and_names_a_different_one(tiny_phantoms):
    import train_gan as script

    from cxr_gan import cli, flags

    stored = make_run_config(str(tiny_phantoms), "demo", 3, seed=2, validation_seeds=(0,),
                             options={"ema_decay": 0.99})
    argv = ["--data", str(tiny_phantoms), "--preset", "demo", "--seed", "2", "--ema", "0.99",
            "--exclude-validation", "0", "--out", "run", "--resume", "--epochs", "5"]
    parser = script._parser()
    args = flags.parse_with_default_command(parser, argv, "train")
    script._check_resume_options(args, flags.given_options(script._parser(), argv, "train"),
                                 stored)  # Equal: accepted.
    for flag, value, shown in (("--seed", "3", "--seed is 2 there, 3 here"),
                               ("--ema", "0.9", "--ema is 0.99 there, 0.9 here"),
                               ("--exclude-validation", "none",
                                "--exclude-validation is (0,) there, () here")):
        changed = [value if previous == flag else item
                   for previous, item in zip([None] + argv, argv)]
        args = flags.parse_with_default_command(script._parser(), changed, "train")
        with pytest.raises(cli.OptionError, match=shown.replace("(", r"\(").replace(")", r"\)")):
            script._check_resume_options(
                args, flags.given_options(script._parser(), changed, "train"), stored)


# -- checkpoints are ordered by the step they hold --------------------------------------------
def _variables(value):
    import keras

    return [keras.Variable(np.full((2, 3), value, np.float32), name="w"),
            keras.Variable(np.int64(value), name="step")]


def _save_steps(run_dir, steps, fingerprint):
    """Checkpoints of ``steps`` (each variable holding its step), the two newest kept."""
    for step in steps:
        checkpoints.save_checkpoint(run_dir, _variables(step), step,
                                    {"fingerprint": fingerprint})
    return run_dir / "checkpoints"


def test_a_renamed_older_checkpoint_does_not_pass_for_the_newest(tmp_path, capsys):
    fingerprint = {"seed": 0}
    folder = _save_steps(tmp_path, (4, 8), fingerprint)
    os.replace(folder / "ckpt-000000004.npz", folder / "ckpt-000000099.npz")
    good, bad = checkpoints.stored_steps(tmp_path)
    assert [step for step, _ in good] == [4, 8] and bad == []
    assert good[-1][1].name == "ckpt-000000008.npz"
    restored = _variables(0)
    path, header = checkpoints.restore_newest_good(tmp_path, restored, fingerprint)
    assert header["global_step"] == 8 and float(restored[0].numpy()[0, 0]) == 8.0
    assert "holds global step 4, not the 99 of its name" in capsys.readouterr().err


def test_rotation_deletes_only_the_runs_own_intact_checkpoints(tmp_path, capsys):
    fingerprint = {"seed": 0}
    folder = _save_steps(tmp_path, (1, 2), fingerprint)
    _save_steps(tmp_path / "other", (7,), {"seed": 1})
    shutil.copyfile(tmp_path / "other" / "checkpoints" / "ckpt-000000007.npz",
                    folder / "ckpt-000000007.npz")  # A foreign one, newer by name.
    damaged = folder / "ckpt-000000009.npz"
    damaged.write_bytes(b"not a checkpoint")  # A damaged one, newer by name.
    checkpoints.save_checkpoint(tmp_path, _variables(3), 3, {"fingerprint": fingerprint},
                                keep=2)
    kept = sorted(p.name for p in folder.glob("*.npz"))
    assert kept == ["ckpt-000000002.npz", "ckpt-000000003.npz"]  # Step 1 deleted: own, intact.
    refused = sorted(p.name for p in (folder / "refused").iterdir())
    assert refused == ["ckpt-000000007.npz", "ckpt-000000009.npz"]  # Moved, never deleted.
    assert "belongs to another run" in capsys.readouterr().err


# -- small items ------------------------------------------------------------------------------
def test_a_full_disk_names_the_file(tmp_path, monkeypatch):
    import errno

    from cxr_gan import io as cxr_io
    from cxr_gan.cli import os_error_message

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as failed:
        cxr_io.atomic_write_bytes(tmp_path / "metrics.json", b"{}")
    assert str(tmp_path / "metrics.json") in os_error_message(failed.value)
    assert list(tmp_path.iterdir()) == []  # No temporary file left.


def test_the_classifiers_lock_message_promises_no_checkpoint(tmp_path):
    with run_lock(tmp_path / "run"):
        with pytest.raises(RunLockedError) as refused:
            with run_lock(tmp_path / "run"):
                pass
    assert "checkpoint" not in str(refused.value)
    assert "an unfinished run is not kept" in str(refused.value)
    with run_lock(tmp_path / "gan", on_stop="saves a checkpoint"):
        with pytest.raises(RunLockedError, match="saves a checkpoint"):
            with run_lock(tmp_path / "gan", on_stop="saves a checkpoint"):
                pass


def test_the_gan_manifest_lists_the_left_out_validation_images(tiny_phantoms):
    from cxr_gan.gan.train import prepare_training_images

    config = _config(tiny_phantoms, 1)
    config = dataclasses.replace(config, validation_seeds=(0,))
    loaded, report = prepare_training_images(config)
    rows = [dict(zip(("path", "split", "label", "status", "reason"), row))
            for row in loaded.manifest_rows]
    left = [row for row in rows if row["status"] == "left-out"]
    assert len(left) == report["training_images"]["left_out_validation"] == 2
    assert all(row["reason"] == "validation share of classifier seed(s) 0" for row in left)
    used = {row["path"] for row in rows if row["status"] == "used"}
    assert not used & {row["path"] for row in left}
    assert len(used) + len(left) == 24  # Every train/NORMAL file, used or not.


def test_a_gzipped_table_is_the_same_bytes_each_time_and_found_in_place_of_the_plain_one(
        tmp_path):
    import gzip

    from cxr_gan.io import gzip_file, stored_file

    text = b"path,label,prob_pneumonia\na.jpeg,NORMAL,0.25\n"
    packed = []
    for name in ("one", "two"):  # Other folders, other times: one gzip stream.
        (tmp_path / name).mkdir()
        (tmp_path / name / "predictions.csv").write_bytes(text)
        assert stored_file(tmp_path / name, "predictions.csv").name == "predictions.csv"
        packed.append(gzip_file(tmp_path / name / "predictions.csv"))
        time.sleep(1.1)  # A header with the time in it would differ.
    assert packed[0].read_bytes() == packed[1].read_bytes()
    assert gzip.decompress(packed[0].read_bytes()) == text
    assert stored_file(tmp_path / "one", "predictions.csv") == packed[0]
    (tmp_path / "one" / "predictions.csv").write_bytes(text)  # Both there: the plain one.
    assert stored_file(tmp_path / "one", "predictions.csv").name == "predictions.csv"
    assert stored_file(tmp_path, "history.csv") == tmp_path / "history.csv"  # Neither.


def test_the_weights_digest_is_the_same_for_two_saves_and_changes_with_one_weight(tmp_path):
    import hashlib
    import zipfile

    from cxr_gan.gan.models import build_generator

    model = build_generator(TINY_PAPER, seed=0)
    first, second = tmp_path / "first.keras", tmp_path / "second.keras"
    model.save(first)
    with zipfile.ZipFile(first) as archive:  # The second save's metadata: another save time.
        entries = {name: archive.read(name) for name in archive.namelist()}
    entries["metadata.json"] = entries["metadata.json"].replace(b"20", b"19", 1)
    with zipfile.ZipFile(second, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    assert hashlib.sha256(first.read_bytes()).digest() != \
        hashlib.sha256(second.read_bytes()).digest()
    digest = checkpoints.saved_weights_digest(first)
    assert checkpoints.saved_weights_digest(second) == digest and len(digest) == 64
    variable = model.trainable_variables[0]
    changed = np.array(variable.numpy())
    changed.flat[0] += 1.0
    variable.assign(changed)
    model.save(tmp_path / "changed.keras")
    assert checkpoints.saved_weights_digest(tmp_path / "changed.keras") != digest
    (tmp_path / "text.keras").write_text("not a model")
    with pytest.raises(DamagedCheckpointError,
                       match=r"text.keras is no readable .keras model .*train the model again"):
        checkpoints.saved_weights_digest(tmp_path / "text.keras")
