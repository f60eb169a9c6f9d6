"""The low layer for run directories: one writer at a time, and no debris of killed writers.

``run_lock(run_dir)`` holds an exclusive ``flock`` on ``RUN/.lock`` while a process writes the
run. A second writer (a fresh start or a ``--resume``) is refused with the holder's PID, host
and start time. The kernel drops a ``flock`` when its process dies, however it dies, so a lock
left by a killed process is never mistaken for a live one: the next writer takes it over and
says so. (``flock`` is advisory and local: it does not guard a run directory shared by two
machines over a network file system that does not forward locks.)

``remove_stale_temporaries(run_dir)`` deletes the temporary files a killed atomic write leaves
behind (``cxr_gan.io.atomic_write_bytes``: ``.NAME.XXXXXXXX.tmp``; ``atomic_save_keras``:
``.tmp-PID-NAME.keras``). It is called with the lock held, when no other writer can be alive.

Imports nothing from the package but the low layer (``cli``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
import sys
import time
from pathlib import Path
from typing import Iterator

from cxr_gan.cli import UserError

LOCK_NAME = ".lock"
# mkstemp's names: prefix + 8 characters of [a-z0-9_] + suffix; atomic_save_keras's: PID.
_TEMPORARY = re.compile(r"^(\..+\.[a-z0-9_]{8}\.tmp|\.tmp-\d+-.+\.keras)$")


class RunLockedError(UserError, RuntimeError):
    """Another live process writes this run directory."""


def _holder(fd: int) -> dict:
    """The holder record in an open lock file ({} when empty or unreadable)."""
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 4096).decode("utf-8", "replace")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _describe(holder: dict) -> str:
    if not holder:
        return "another process"
    return (f"process {holder.get('pid', '?')} on {holder.get('host', '?')} (started "
            f"{holder.get('started', '?')}: {holder.get('command', '?')})")


@contextlib.contextmanager
def run_lock(run_dir: Path | str, on_stop: str = "") -> Iterator[Path]:
    """Holds the run directory's lock for the ``with`` block. ``on_stop`` says what stopping
    the holder keeps (a GAN run: "saves a checkpoint"); the message says it when given.

    The folder is created when missing; if it was created here and the block leaves nothing
    in it but the lock file, the folder is removed again (a refused run leaves no folder).

    Raises:
        RunLockedError: A live process holds the lock; the message names it.
    """
    run_dir = Path(run_dir)
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)  # 0666 less the umask, as open() gives.
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        stop = f"stop it (Ctrl-C or kill PID {on_stop})" if on_stop else \
            "stop it (Ctrl-C or kill PID; an unfinished run is not kept)"
        raise RunLockedError(
            f"{run_dir} is being written by {_describe(holder)}. Wait for it to finish or "
            f"{stop}, or choose another --out.") from None
    stale = _holder(fd)
    if stale:
        print(f"Taking over the lock of {run_dir} left by {_describe(stale)}, which is no "
              "longer running.", file=sys.stderr)
    record = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": " ".join(sys.argv)}
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, json.dumps(record).encode("utf-8"))
    try:
        yield path
    finally:
        os.ftruncate(fd, 0)  # Empty: released in good order, nothing to take over.
        empty_new_folder = created and [p.name for p in run_dir.iterdir()] == [LOCK_NAME]
        if empty_new_folder:
            path.unlink()
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        if empty_new_folder:
            with contextlib.suppress(OSError):
                run_dir.rmdir()


def stale_temporaries(run_dir: Path | str) -> list[Path]:
    """Temporary files of interrupted atomic writes anywhere in ``run_dir`` (links not
    followed)."""
    found = []
    for folder, dirs, files in os.walk(run_dir):
        found += [Path(folder) / name for name in files if _TEMPORARY.match(name)]
    return sorted(found)


def remove_stale_temporaries(run_dir: Path | str) -> list[Path]:
    """Deletes ``stale_temporaries(run_dir)``; call it with the lock held. Returns them."""
    removed = stale_temporaries(run_dir)
    for path in removed:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    if removed:
        names = ", ".join(str(p.relative_to(run_dir)) for p in removed[:5])
        more = f" and {len(removed) - 5} more" if len(removed) > 5 else ""
        print(f"Removed {len(removed)} temporary file(s) of an interrupted write: {names}{more}",
              file=sys.stderr)
    return removed


def lock_holder(run_dir: Path | str) -> dict | None:
    """Who holds ``run_dir``'s lock now (``run_lock``'s record), or None when no live process
    does: a probe that takes and releases the lock at once, creating nothing."""
    path = Path(run_dir) / LOCK_NAME
    if not path.is_file():
        return None
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder(fd) or {"pid": "?"}
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
