"""The low layer for scripts: the expected-error type, its exit status, argument types.

Imports nothing from the rest of the package and nothing heavy (no Keras), so a script can check
its arguments before TensorFlow loads.

An expected error (a bad data layout, an unreadable or unsafe file, a bad argument value, an
output folder that holds results, a missing generator, a full disk) is a ``UserError``: the
script prints its one-line message, which names the file and the fix, and exits with status 2.
Anything else is a bug and keeps its traceback. ``--debug`` shows the traceback of expected
errors too.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Callable, Sequence

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C.


class UserError(Exception):
    """An expected error: the message says what is wrong, with which file, and the fix."""


class OptionError(UserError, ValueError):
    """An option value the code refuses (also a ``ValueError`` for code that calls it)."""


class MissingInputError(UserError, FileNotFoundError):
    """A file or folder the command reads is absent or holds nothing usable."""


class BadFileError(UserError, ValueError):
    """A file the command reads is damaged or not what it should be."""


def os_error_message(error: OSError) -> str | None:
    """A user-facing message for the OS errors a user can fix (disk full, no permission)."""
    where = error.filename or "a file"
    if error.errno == errno.ENOSPC:
        return f"No space left on the device while writing {where}: free space or choose " \
               "another --out (files written before are intact)."
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"Cannot write {where} ({error.strerror}): choose a folder you can write to."
    if error.errno in (errno.ENOENT, errno.ENOTDIR, errno.EISDIR):
        return f"{where}: {error.strerror}. Check the path (an --out must lie in a folder " \
               "you can write to)."
    return None


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would raise ``KeyboardInterrupt`` (``run_script``)."""


def _raise_terminated(signum, frame):
    raise Terminated()


def exit_status_of_signal(signum: int) -> int:
    """The shell's status for a process stopped by signal ``signum``: 128 + its number."""
    return 128 + int(signum)


def run_script(main: Callable[[list[str]], int], argv: Sequence[str] | None = None) -> int:
    """Runs a script's ``main(argv)``: expected errors become one message and status 2.

    SIGTERM (what a scheduler sends before SIGKILL) is handled as Ctrl-C is: cleanup runs, the
    message says so, and the status is 128 + the signal (130 Ctrl-C, 143 SIGTERM). Training
    installs its own handlers, which first finish the step and save a checkpoint.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return main(argv)
    except UserError as error:
        if debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as error:
        message = os_error_message(error)
        if message is None or debug:
            raise
        print(f"error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Terminated:
        print("Terminated (SIGTERM).", file=sys.stderr)
        return exit_status_of_signal(signal.SIGTERM)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED


def quiet_backend_logs() -> None:
    """Before TensorFlow loads: oneDNN kernels on (faster CPU GAN steps, BENCHMARKS.md) and
    TensorFlow's C++ INFO/WARNING lines off. Users' own settings win."""
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# What TensorFlow's native libraries print while they load, once per library (so twice), whatever
# TF_CPP_MIN_LOG_LEVEL says: absl's notice that logging is not set up yet, and the oneDNN notice
# (the scripts turn oneDNN on themselves, quiet_backend_logs).
IMPORT_NOTICES = ("All log messages before absl::InitializeLog() is called are written to STDERR",
                  "oneDNN custom operations are on")


@contextlib.contextmanager
def native_stderr_without(notices: Sequence[str]):
    """Captures what the process writes to file descriptor 2 (native libraries included) in the
    block, then writes it back less the lines holding one of ``notices``."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines(keepends=True)
                    if not any(notice in line for notice in notices)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


def load_backend() -> None:
    """Imports Keras (and with it the backend) after a script checked its arguments, without
    the backend's two load-time notices (``IMPORT_NOTICES``); anything else it prints stays."""
    quiet_backend_logs()
    with native_stderr_without(IMPORT_NOTICES):
        import keras  # noqa: F401
    logging.getLogger("tensorflow").addFilter(_drop_retracing_notice)


def _drop_retracing_notice(record) -> bool:
    """TensorFlow's "N out of the last M calls ... triggered tf.function retracing": each new
    classifier run builds a new model, so the count across runs crosses its threshold although
    each model is traced once per input shape; a performance hint, not a problem to act on."""
    return "triggered tf.function retracing" not in record.getMessage()


# -- argument types: bad values fail in argparse, before any backend is imported ---------------
def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum``."""
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


positive_int = at_least(1)
non_negative_int = at_least(0)


def between(low: float, high: float, closed_low: bool = False) -> Callable[[str], float]:
    """An argparse type: a number in ``(low, high)`` (``[low, high)`` with ``closed_low``)."""
    def parse(text: str) -> float:
        value = float(text)
        if not ((low <= value if closed_low else low < value) and value < high):
            interval = f"{'[' if closed_low else '('}{low:g}, {high:g})"
            raise argparse.ArgumentTypeError(f"must be a number in {interval}, got {text}")
        return value

    parse.__name__ = "number"
    return parse


def train_size(text: str) -> int | None:
    """An argparse type: ``--train-size``, an image count of at least 10 (a validation image
    and four to train on in each of two classes), or ``all`` (None)."""
    if text.lower() == "all":
        return None
    value = int(text)
    if value < 10:
        raise argparse.ArgumentTypeError(f"must be 'all' or an integer >= 10, got {text}")
    return value


train_size.__name__ = "size"


def class_cap(text: str) -> tuple[str, int]:
    """An argparse type: ``--cap CLASS=N``, at most N (>= 5) training images of a class."""
    name, sign, count = text.rpartition("=")
    if not sign or not name:
        raise argparse.ArgumentTypeError(f"expected CLASS=N, got {text}")
    value = int(count)
    if value < 5:
        raise argparse.ArgumentTypeError(f"a class keeps at least 5 images, got {text}")
    return name, value


class_cap.__name__ = "cap"


def existing_folder(text: str) -> str:
    """An argparse type: a folder that exists (``--reuse``: a mistyped one would reuse
    nothing, silently)."""
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text} is not a folder")
    return text


existing_folder.__name__ = "folder"


def class_caps(caps: Sequence[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    """``--cap``'s pairs sorted by class, one each.

    Raises:
        OptionError: A class is capped twice.
    """
    names = [name for name, _ in caps]
    for name in names:
        if names.count(name) > 1:
            raise OptionError(f"--cap names class {name!r} twice; give one CLASS=N each.")
    return tuple(sorted(caps))

percentile = between(0.0, 100.0)
non_negative_float = between(0.0, float("inf"), closed_low=True)


def split_commas(values: Sequence[str], item: Callable[[str], object] = str) -> list:
    """``["a,b", "c"]`` -> ``[item("a"), item("b"), item("c")]``: a list flag takes values
    separated by spaces or commas."""
    out = []
    for value in values:
        out += [item(part.strip()) for part in value.split(",") if part.strip()]
    return out
