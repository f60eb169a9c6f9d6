"""The three scripts' one convention: shared flags, list parsing, argument checks before any
backend loads, and expected errors as one message with exit status 2."""

import argparse

import pytest

import demo
import evaluate
import train_classifier
import train_gan
from cxr_gan import cli, flags
from tests.conftest import run_python
from tools.accelerator import returned


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
           "evaluate": evaluate._parser(), "demo": demo._parser()}


def _help_of(parser: argparse.ArgumentParser, command: str, action) -> str:
    """The help text argparse prints for ``action`` (its formatter's, default included)."""
    if command:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[command]
    return parser._get_formatter()._get_help_string(action)


def test_every_option_shows_its_default_or_says_why_not():
    for script, parser in PARSERS.items():
        for (command, flag), action in _actions(parser).items():
            text = _help_of(parser, command, action)
            if flags.shows_no_default(action):
                continue  # A switch, a required option, or --help.
            assert "default" in text, (script, command, flag, text)
            if action.default not in (None,) and "(default: " in text:
                shown = text.rsplit("(default: ", 1)[1].rstrip(")")
                value = action.default
                expected = ",".join(map(str, value)) if isinstance(value, list) else str(value)
                assert shown == expected, (script, command, flag, shown)


def test_every_option_that_takes_a_value_names_it():
    for script, parser in PARSERS.items():
        for (command, flag), action in _actions(parser).items():
            if action.nargs == 0 or action.choices:
                continue  # Switches, and choices (argparse lists them).
            assert action.metavar and action.metavar.isupper(), (script, command, flag)


def test_every_list_flag_is_one_list_action():
    for script, parser in PARSERS.items():
        for (command, flag), action in _actions(parser).items():
            if action.nargs in ("+", "*") and flag != "--runs":  # --runs: paths, commas kept.
                assert isinstance(action, flags.ListAction), (script, command, flag)


def test_zero_defaults_are_shown():
    # 0 == False in Python: the formatter once hid --seed 0, --split-seed 0, --fid-every 0.
    text = train_gan._parser()._subparsers._group_actions[0].choices["train"].format_help()
    text = text.split("options:", 1)[1]
    for flag in ("--seed", "--split-seed", "--fid-every"):
        block = text.split(flag, 1)[1].split("\n  --", 1)[0]
        assert "(default: 0)" in " ".join(block.split()), flag


def test_fid_takes_exactly_one_real_set(capsys):
    parser = evaluate._parser()
    for argv in (["fid", "--fake", "f"], ["fid", "--real", "r", "--run", "u", "--fake", "f"]):
        with pytest.raises(SystemExit) as stopped:
            parser.parse_args(argv)
        assert stopped.value.code == 2
    assert "one of the arguments --real --run is required" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_classifier._parser().parse_args(["--out", "o", "--generator", "g", "--gan-images",
                                               "d"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_the_returned_scorer_requires_its_data_folder(capsys):
    with pytest.raises(SystemExit):
        returned.main(["--returned", "r", "--out", "o"])
    assert "the following arguments are required: --data" in capsys.readouterr().err


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
    assert args.augment == ["none", "flip", "gan"]
    assert args.seeds == [0, 1, 2]


@pytest.mark.parametrize("argv, message", [
    (["--augment", "none,none"], "argument --augment: 'none' is given twice"),
    (["--seeds", "0", "0"], "argument --seeds: '0' is given twice"),
    (["--seeds", "0,,1"], "argument --seeds: an empty value in '0,,1'"),
    (["--augment", "warp"], "argument --augment: invalid value 'warp'"),
    (["--reuse", "no-such-folder"], "invalid value 'no-such-folder' (no-such-folder is not a "
                                    "folder)"),
])
def test_every_list_flag_refuses_duplicates_empties_and_bad_items(argv, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        train_classifier._parser().parse_args(["--out", "x", *argv])
    assert stopped.value.code == 2 and message in capsys.readouterr().err


def test_exclude_validation_refuses_an_empty_value_and_none_among_seeds(capsys):
    parser = train_gan._parser()
    with pytest.raises(SystemExit):
        flags.parse_with_default_command(parser, ["--out", "r", "--exclude-validation", ""],
                                         "train")
    assert "an empty value" in capsys.readouterr().err
    args = flags.parse_with_default_command(
        parser, ["--out", "r", "--exclude-validation", "none,0"], "train")
    with pytest.raises(cli.OptionError, match="'none' alone"):
        train_gan._validation_seeds(args.exclude_validation)
    assert train_gan._validation_seeds(["none"]) == ()
    assert train_gan._validation_seeds([0, 2]) == (0, 2)


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
    ("train_classifier.py", ["--augment", "warp", "--out", "x"], "invalid value 'warp'"),
    ("train_classifier.py", ["--seeds", "-1", "--out", "x"], "must be an integer >= 0"),
    ("evaluate.py", ["memorization", "--train", "a", "--fake", "b", "--out", "c",
                     "--percentile", "150"], "must be a number in (0, 100)"),
])
@pytest.mark.slow
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
    (tmp_path / "data" / "test" / "NORMAL").mkdir(parents=True)
    code = cli.run_script(train_gan.main, ["--data", str(tmp_path / "data"),
                                           "--out", str(tmp_path / "run")])
    assert code == cli.EXIT_USER_ERROR
    text = _one_line_error(capsys)
    first, *layout = text.splitlines()  # One message: what is wrong, then the layout to make.
    assert first == (f"error: Class folder {tmp_path / 'data' / 'train' / 'NORMAL'} holds no "
                     ".jpeg, .jpg or .png file: add its images or remove the folder")
    assert layout[0] == "Expected one of:"
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


def test_an_experiment_driver_checks_its_data_before_making_anything(tmp_path, capsys):
    from experiments import table1

    code = cli.run_script(table1.main, ["--data", str(tmp_path / "absent"), "--runs",
                                        str(tmp_path / "runs"), "--list"])
    assert code == cli.EXIT_USER_ERROR and not (tmp_path / "runs").exists()
    assert "Data folder not found" in capsys.readouterr().err
