"""The three scripts' one convention: shared flags, list parsing, argument checks before any
backend loads, and expected errors as one message with exit status 2."""

import argparse

import pytest

import evaluate
import train_classifier
import train_gan
from cxr_gan import cli, flags
from tests.conftest import run_python


def _actions(parser: argparse.ArgumentParser):
    """Every option of a parser and of its commands, by (command, flag)."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.update({(name, k[1]): v for k, v in _actions(sub).items()})
        elif action.option_strings:
            found[("", action.option_strings[-1])] = action
    return found


PARSERS = {"train_gan": train_gan._parser(), "train_classifier": train_classifier._parser(),
           "evaluate": evaluate._parser()}


def test_every_flag_has_help():
    for script, parser in PARSERS.items():
        for (command, flag), action in _actions(parser).items():
            assert action.help and len(action.help) > 10, (script, command, flag)


def test_a_shared_flag_has_one_default_and_type_everywhere():
    seen = {}
    for script, parser in PARSERS.items():
        for (command, flag), action in _actions(parser).items():
            if flag in flags.SHARED:
                seen.setdefault(flag, set()).add(
                    (repr(action.default), action.type, tuple(action.choices or ()),
                     action.nargs, action.required))
    assert {flag for flag, kinds in seen.items() if len(kinds) > 1} == set()
    # The flags the issue found defined differently are now defined once and used widely.
    assert {"--verbose", "--strict", "--resize-filter", "--cache-dir", "--preprocessing",
            "--seed", "--data", "--out", "--debug"} <= set(seen)


def test_lists_take_spaces_and_commas():
    args = train_classifier._parser().parse_args(
        ["--out", "x", "--augment", "none,flip", "gan", "--seeds", "0,1", "2"])
    assert cli.split_commas(args.augment) == ["none", "flip", "gan"]
    assert cli.split_commas(args.seeds, int) == [0, 1, 2]


def test_train_gan_defaults_to_train_and_names_generate():
    parser = train_gan._parser()
    args = flags.parse_with_default_command(parser, ["--out", "r", "--epochs", "3"], "train")
    assert (args.command, args.out, args.epochs, args.seed) == ("train", "r", 3, 0)
    args = flags.parse_with_default_command(
        parser, ["generate", "--generator", "g.keras", "--num-images", "4", "--out", "d"], "train")
    assert (args.command, args.num_images) == ("generate", 4)


@pytest.mark.parametrize("script, argv, message", [
    ("train_gan.py", ["--epochs", "0", "--out", "x"], "--epochs: must be an integer >= 1, got 0"),
    ("train_gan.py", ["--batch-size", "1", "--out", "x"], "--batch-size: must be an integer >= 2"),
    ("train_classifier.py", ["--augment", "warp", "--out", "x"], "invalid value warp"),
    ("train_classifier.py", ["--seeds", "-1", "--out", "x"], "must be an integer >= 0"),
    ("evaluate.py", ["memorization", "--train", "a", "--fake", "b", "--out", "c",
                     "--percentile", "150"], "must be a number in (0, 100)"),
])
def test_bad_values_fail_before_any_backend_loads(script, argv, message):
    # Keras, TensorFlow and JAX made unimportable: the check must not need them.
    body = f"""
        import runpy, sys
        class NoBackend:
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in ('keras', 'tensorflow', 'jax'):
                    raise ImportError('backend imported before the arguments were checked')
        sys.meta_path.insert(0, NoBackend())
        sys.argv = [{script!r}, *{argv!r}]
        runpy.run_path({script!r}, run_name='__main__')
    """
    result = run_python(body)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "Traceback" not in err, err
    return err


def test_a_wrong_data_layout_is_one_message_and_status_2(tmp_path, capsys):
    (tmp_path / "data" / "train" / "NORMAL").mkdir(parents=True)
    code = cli.run_script(train_gan.main, ["--data", str(tmp_path / "data"),
                                           "--out", str(tmp_path / "run")])
    assert code == cli.EXIT_USER_ERROR
    text = _one_line_error(capsys)
    first, *layout = text.splitlines()  # One message: what is wrong, then the layout to make.
    assert first == (f"error: Class folder {tmp_path / 'data' / 'train' / 'NORMAL'} holds no "
                     ".jpeg, .jpg or .png file")
    assert layout[0] == "Expected layout:"
    assert not (tmp_path / "run").exists()


def test_an_unsafe_weights_archive_is_refused_with_its_name(tmp_path, capsys):
    import pickle
    import zipfile

    class Payload:
        def __reduce__(self):
            import os
            return os.system, ("echo pwned",)

    archive = tmp_path / "evil.pt"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("evil/data.pkl", pickle.dumps(Payload()))
    (tmp_path / "real").mkdir()
    code = cli.run_script(evaluate.main, ["fid", "--real", str(tmp_path / "real"), "--fake",
                                          str(tmp_path / "real"), "--fid-weights", str(archive),
                                          "--cache-dir", str(tmp_path / "cache")])
    assert code == cli.EXIT_USER_ERROR
    line = _one_line_error(capsys)
    assert str(archive) in line and "Refusing to load global" in line and "pip install" in line
    assert "pwned" not in capsys.readouterr().out


def test_an_existing_report_is_never_overwritten(tmp_path, capsys):
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "report.md").write_text("mine")
    (tmp_path / "runs" / "none-s0").mkdir(parents=True)
    (tmp_path / "runs" / "none-s0" / "metrics.json").write_text("{}")
    code = cli.run_script(evaluate.main, ["report", "--runs", str(tmp_path / "runs"),
                                          "--out", str(tmp_path / "report")])
    assert code == cli.EXIT_USER_ERROR
    assert "already holds a report" in _one_line_error(capsys)
    assert (tmp_path / "report" / "report.md").read_text() == "mine"


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(cli.UserError, match="No classifier run in"):
        cli.run_script(evaluate.main, ["report", "--runs", str(tmp_path), "--out",
                                       str(tmp_path / "r"), "--debug"])


def test_a_full_disk_is_one_message(capsys):
    import errno

    def fills_the_disk(argv):
        raise OSError(errno.ENOSPC, "No space left on device", "/runs/x/history.csv")

    assert cli.run_script(fills_the_disk, []) == cli.EXIT_USER_ERROR
    line = _one_line_error(capsys)
    assert "No space left on the device while writing /runs/x/history.csv" in line


def test_a_missing_or_damaged_input_is_one_message(tmp_path, capsys):
    from cxr_gan.io import list_images, read_json

    (tmp_path / "empty").mkdir()
    with pytest.raises(cli.MissingInputError, match="Image folder not found: .*nowhere"):
        list_images(tmp_path / "nowhere")
    with pytest.raises(cli.MissingInputError, match="No .jpeg, .jpg or .png file in .*empty"):
        list_images(tmp_path / "empty")
    (tmp_path / "broken.json").write_text("{half")
    with pytest.raises(cli.BadFileError, match="broken.json is not valid JSON"):
        read_json(tmp_path / "broken.json")
    # Through a script: a run folder without config.json.
    code = cli.run_script(evaluate.main, ["fid", "--run", str(tmp_path / "nowhere"), "--fake",
                                          str(tmp_path / "empty")])
    assert code == cli.EXIT_USER_ERROR
    assert f"{tmp_path / 'nowhere' / 'config.json'} not found" in _one_line_error(capsys)


def test_a_damaged_classifier_run_is_named(tmp_path, capsys):
    run = tmp_path / "runs" / "none-s0"
    run.mkdir(parents=True)
    (run / "config.json").write_text("{}")
    (run / "metrics.json").write_text("{truncated")
    code = cli.run_script(evaluate.main, ["report", "--runs", str(tmp_path / "runs"),
                                          "--out", str(tmp_path / "report")])
    assert code == cli.EXIT_USER_ERROR
    assert f"{run / 'metrics.json'} is not valid JSON" in _one_line_error(capsys)
    assert not (tmp_path / "report").exists()


def test_too_few_images_for_the_batch_is_one_message(tiny_phantoms, tmp_path, capsys):
    # The default preset with --data is 'paper' (batch 128); the tiny set has 24 images.
    code = cli.run_script(train_gan.main, ["--data", str(tiny_phantoms), "--out",
                                           str(tmp_path / "run")])
    assert code == cli.EXIT_USER_ERROR
    # 24 NORMAL less the 2 of the classifier's seed-0 validation share (--exclude-validation 0).
    assert ("22 training images are fewer than one real batch (128) of preset 'paper': give a "
            "smaller --batch-size") in _one_line_error(capsys)
    assert not (tmp_path / "run").exists()


def test_an_out_that_cannot_be_made_is_one_message(tiny_phantoms, capsys):
    # /proc refuses new folders (ENOENT): the run says so instead of a traceback.
    code = cli.run_script(train_gan.main, ["--data", str(tiny_phantoms), "--preset", "demo",
                                           "--batch-size", "8", "--epochs", "1",
                                           "--out", "/proc/cxr_gan_no_such_run"])
    assert code == cli.EXIT_USER_ERROR
    line = _one_line_error(capsys)
    assert "/proc/cxr_gan_no_such_run: No such file or directory. Check the path" in line
