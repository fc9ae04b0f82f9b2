"""Writing files so that no reader ever sees half of one, and the per-user cache.

Every file qtok writes goes through ``atomic_write``: the bytes go to a temporary file in the same
directory, are flushed to disk, and the temporary file is renamed over the target. A rename within
one directory is atomic, so another process (or a later run after a crash or Ctrl-C) sees either
the old file or the whole new one, never a truncated one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from .load import DataFileError, sha256_bytes


class WriteError(OSError):
    """A file that could not be written, in one line: the path, the reason, the fix."""

    def __str__(self) -> str:
        return self.args[0] if self.args else "cannot write"


def atomic_write(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same directory, then rename).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> atomic_write(p, "hello").read_text()
    'hello'
    """
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    if path.is_dir():
        raise WriteError(f"cannot write {path}: it is a directory; remove it or choose another name")
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise WriteError(f"cannot write {path}: {e.strerror or e} in {path.parent}; choose a writable "
                         "location") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and not isinstance(e, WriteError):
            raise WriteError(f"cannot write {path}: {e.strerror or e} (disk full or read-only?); the "
                             "previous file, if any, is unchanged") from None
        raise
    return path


def make_dir(path: str | Path, label: str = "") -> Path:
    """``path`` as a directory, created if missing, or a one-line ``ValueError``: a file in the
    way, or a place that cannot be written (``label`` names the option: ``"--out "``)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{label}{path} exists and is not a directory; give a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"cannot create {label}{path}: {e.strerror or e}; choose a writable directory") from None
    return path


def cache_dir() -> Path:
    """``$QTOK_CACHE_DIR``, else ``$XDG_CACHE_HOME/qtok``, else ``~/.cache/qtok``."""
    if env := os.environ.get("QTOK_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "qtok"


def cached_file(data: bytes, suffix: str) -> Path:
    """A file holding ``data`` in the user cache, named by its sha256, written once and checked
    on every reuse; see ``cached_derived``."""
    return cached_derived(sha256_bytes(data), suffix, lambda: data)


def cached_derived(key: str, suffix: str, make: Callable[[], bytes]) -> Path:
    """The cache file for ``key`` (a hash of whatever its bytes are derived from), made by
    ``make()`` only when no intact one exists, so a process that finds it skips the work.

    The file is named ``KEY-SHA256SUFFIX``, its own hash in its name: a truncated or edited file
    fails that check and is made again, never trusted. Falls back to a fresh temporary directory
    when the cache cannot be written (read-only home).
    """
    if found := _find(cache_dir(), key, suffix):
        return found[0]
    data = make()
    for folder in (cache_dir(), None):
        try:
            return _store(folder or Path(tempfile.mkdtemp(prefix="qtok-")), key, suffix, data)
        except OSError:
            continue
    raise DataFileError(f"cannot write {key}{suffix} to {cache_dir()} nor to a temporary directory; "
                        "set QTOK_CACHE_DIR to a writable directory")


def read_cached(key: str, suffix: str, make: Callable[[], bytes]) -> bytes:
    """``cached_derived``'s bytes, read and checked in one pass; without a writable cache every
    process calls ``make()`` again, nothing worse."""
    if found := _find(cache_dir(), key, suffix):
        return found[1]
    data = make()
    try:
        _store(cache_dir(), key, suffix, data)
    except OSError:
        pass
    return data


def find_cached(key: str, suffix: str) -> Path | None:
    """The intact cache file for ``key`` if one exists (``cached_derived``'s, without making it)."""
    found = _find(cache_dir(), key, suffix)
    return found[0] if found else None


def _find(folder: Path, key: str, suffix: str) -> tuple[Path, bytes] | None:
    try:
        candidates = list(folder.glob(f"{key}-*{suffix}"))
    except OSError:
        return None
    for path in candidates:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if path.name == f"{key}-{sha256_bytes(data)}{suffix}":
            return path, data
    return None


def _store(folder: Path, key: str, suffix: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return atomic_write(folder / f"{key}-{sha256_bytes(data)}{suffix}", data)
