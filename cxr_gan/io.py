"""The low layer for files: atomic writes, CSV and JSON, the cache folder, image listing.

Imports nothing from the rest of the package but its sibling ``cli`` (the error types), so every
layer above may use it.

Every file a run writes goes through ``atomic_write_bytes``: the bytes go to a temporary file in
the same folder, are flushed to disk, and the temporary file is renamed over the target. A run
killed at any moment leaves either the old file or the new one, never a torn one. The file gets
the permissions an ordinary ``open()`` would give it (0666 less the umask), so colleagues in the
same group can read the results.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import json
import os
import stat
import tempfile
import zlib
from pathlib import Path
from typing import Any, Iterable, Sequence

from cxr_gan.cli import BadFileError, MissingInputError

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")
# Written into the root of the synthetic demo data set; its presence is what makes data synthetic.
SYNTHETIC_MARKER = "SYNTHETIC_PHANTOMS.json"
# What reading a damaged text table raises besides the parser's own errors: bad bytes, or a
# gzipped one that is cut or is not gzip.
DAMAGED_TABLE_ERRORS = (UnicodeDecodeError, EOFError, gzip.BadGzipFile, zlib.error)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Writes ``data`` to ``path`` atomically (temporary file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600 files; give the file the mode open() would have given it.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as error:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if error.filename is None:  # os.write names no file: say which one it was.
            raise OSError(error.errno, error.strerror, str(path)) from error
        raise
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path | str, text: str) -> None:
    """Writes ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def stored_file(folder: Path | str, name: str) -> Path:
    """``folder/name``, or its gzipped copy ``name.gz`` where only that one is there (committed
    results keep their large tables gzipped; pandas reads either); ``folder/name`` when neither
    is, for the caller's message."""
    plain = Path(folder) / name
    packed = plain.with_name(plain.name + ".gz")
    return packed if packed.is_file() and not plain.is_file() else plain


def gzip_file(path: Path | str) -> Path:
    """Replaces ``path`` by ``path.gz``: the same bytes for the same content (no name, no time
    in the header), written atomically before the original is removed. Returns the new path."""
    path = Path(path)
    target = path.with_name(path.name + ".gz")
    atomic_write_bytes(target, gzip.compress(path.read_bytes(), compresslevel=9, mtime=0))
    path.unlink()
    return target


def to_jsonable(value: Any) -> Any:
    """Dataclasses, tuples and paths to plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def json_text(value: Any, sort_keys: bool = False) -> str:
    """Readable JSON text of ``value`` (dataclasses included), ending in a newline."""
    return json.dumps(to_jsonable(value), indent=2, sort_keys=sort_keys) + "\n"


def read_json(path: Path | str) -> Any:
    """The JSON value in ``path``.

    Raises:
        MissingInputError: No such file.
        BadFileError: The file is not valid JSON (the message names it).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path} not found: check the folder it should be in.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadFileError(f"{path} is not valid JSON ({error}): it was damaged or is not "
                           "the file this command writes.") from None


def write_json(path: Path | str, value: Any, sort_keys: bool = False) -> None:
    """Writes ``value`` as readable JSON, atomically."""
    atomic_write_text(path, json_text(value, sort_keys))


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]], comment: str = "") -> str:
    """CSV text with ``header`` and ``rows`` (``\\n`` line ends); ``comment`` becomes a first
    ``# ...`` line."""
    buffer = io.StringIO()
    if comment:
        buffer.write(f"# {comment}\n")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_csv(path: Path | str, header: Sequence[str], rows: Iterable[Sequence[Any]],
              comment: str = "") -> None:
    """Writes a CSV file atomically (see ``csv_text``)."""
    atomic_write_text(path, csv_text(header, rows, comment))


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]],
                   align: str | None = None) -> str:
    """A Markdown table: ``header``, then one line a row (cells as ``str``). ``align`` holds one
    letter a column, ``l`` or ``r`` (default: every column left)."""
    align = align or "l" * len(header)
    if len(align) != len(header):
        raise ValueError(f"`align` needs one letter a column ({len(header)}). Received: {align!r}")
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "|".join(rule) + "|"]
    for row in rows:
        cells = list(row)
        if len(cells) != len(header):
            raise ValueError(f"A row has {len(cells)} cells; the header has {len(header)}.")
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def recorded_path(path: Path | str) -> str:
    """``path`` as a result file records it: an absolute path relative to the working
    directory (the repository, for the scripts), so that no figure names this machine's
    folders; a relative one as given."""
    path = Path(path)
    return os.path.relpath(path, Path.cwd()) if path.is_absolute() else str(path)


def default_cache_dir() -> Path:
    """``$CXR_GAN_CACHE`` or ``~/.cache/cxr_gan``: demo data, FID weights and statistics."""
    return Path(os.environ.get("CXR_GAN_CACHE", Path.home() / ".cache" / "cxr_gan"))


def cache_dir(override: Path | str | None = None) -> Path:
    """``override`` when given (``--cache-dir``), else ``default_cache_dir()``."""
    return Path(override) if override else default_cache_dir()


def skip_reason(path: Path) -> str | None:
    """Why a folder entry is not read as an image, or None when it is a regular, non-hidden
    file with an image suffix. FIFOs and devices are never opened (reading one could block
    forever); links are followed, a broken one is reported as such."""
    if path.name.startswith("."):
        return "hidden file"
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "broken symbolic link" if path.is_symlink() else "vanished while listed"
    except OSError as error:
        return f"cannot be examined ({error.strerror})"
    if stat.S_ISDIR(mode):
        return "a folder"
    if not stat.S_ISREG(mode):
        kind = ("FIFO" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode)
                else "device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "special file")
        return f"not a regular file ({kind})"
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return f"not an image file name (suffix {path.suffix or 'none'})"
    return None


def is_image_file(path: Path) -> bool:
    """A regular, non-hidden file with an image suffix (``skip_reason`` is None)."""
    return skip_reason(path) is None


def list_images(folder: Path | str, recursive: bool = True,
                skipped: list[tuple[str, str]] | None = None) -> list[Path]:
    """The image files in ``folder`` (and below it when ``recursive``), sorted.

    Args:
        folder: The folder to list.
        recursive: Also list subfolders (folders themselves are then not "skipped").
        skipped: When given, ``(path, reason)`` of every entry with an image suffix that is not
            read (a FIFO, a broken link, a hidden file) is appended to it; files of other
            kinds (a README, a JSON) are not images and are not reported.

    Raises:
        MissingInputError: ``folder`` is not a folder or holds no image file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingInputError(f"Image folder not found: {folder}")
    candidates = sorted(folder.rglob("*") if recursive else folder.iterdir())
    files = []
    for path in candidates:
        reason = skip_reason(path)
        if reason is None:
            files.append(path)
        elif skipped is not None and path.suffix.lower() in IMAGE_SUFFIXES:
            skipped.append((str(path), reason))
    if not files:
        raise MissingInputError(
            f"No .jpeg, .jpg or .png file in {folder}: point the option at a folder of images.")
    return files


def is_synthetic(path: Path | str) -> bool:
    """True when ``path`` lies in the synthetic demo data set (its root holds the marker file
    that made it), whatever the folder is called."""
    path = Path(path).resolve()
    return any((folder / SYNTHETIC_MARKER).is_file() for folder in (path, *path.parents))
