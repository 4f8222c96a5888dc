"""Writing outputs safely: nothing existing is replaced without ``force``, a file appears only complete
(written under a temporary name beside it, then renamed over it), one writer at a time, and a failure of
the file system is one line naming the file.

``check_output(path, force)`` fails early (before any work) on an output that may not be written;
``atomic_path(path, force)`` yields the temporary path to write and renames it on success.

The temporary name is deterministic (``.NAME.tmp``, shortened to a hash where NAME is long), so a rerun
after a kill reuses and removes what the killed writer left, and it is locked (``flock``) while in use, so
a second process writing the same output is refused instead of interleaving with the first.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sslr_cli.errors import SSLRError

__all__ = ["check_output", "atomic_path", "make_folder", "temp_path", "write_error"]

NAME_MAX = 255  # bytes of one file name on the usual Linux file systems

# what an OSError of a write means to a user, by errno
_WRITE_ERRORS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EFBIG: "file too large (a file-size limit, e.g. ulimit -f)",
    errno.ENAMETOOLONG: "file name too long",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ELOOP: "is a symbolic link (sslr does not write through links)",
}


_write_failed = False


def write_failed() -> bool:
    """Whether a write through ``atomic_path`` failed in this process. After a failed HDF5 write the HDF5
    library can crash at interpreter exit (it flushes a file it could not close), so the CLI then ends the
    process without running exit handlers (``sslr_cli.cli.main``), its one-line error already printed."""
    return _write_failed


def write_error(path: str | os.PathLike, exc: OSError, where: str | os.PathLike | None = None) -> str:
    """One line for a failed write of ``path`` (``where``: the folder, when the file could not even be made)."""
    reason = _WRITE_ERRORS.get(exc.errno) or exc.strerror or str(exc)
    return f"{path}: cannot write{f' in {where}' if where is not None else ''} ({reason})"


def check_output(path: str | os.PathLike, force: bool) -> None:
    """Raise SSLRError unless ``path`` may be written (absent, or ``force``); make its folder."""
    path = Path(path)
    if path.exists() and not force:
        raise SSLRError(f"{path}: already exists (use --force to overwrite)")
    if path.exists() and path.is_dir():
        raise SSLRError(f"{path}: is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise SSLRError(f"{path}: {parent} is not a folder")
    make_folder(parent, str(path))  # `sslr gen-data circles data/x.h5` makes data/


def make_folder(folder: Path, what: str) -> None:
    """``mkdir -p folder``; a folder that cannot be made (read-only or virtual file system, no
    permission) is an ``SSLRError`` naming ``what`` (the option or file it is for)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SSLRError(f"{what}: cannot create the folder {folder} ({exc.strerror or exc})") from None


def temp_path(path: Path, suffix: str = ".tmp") -> Path:
    """The temporary name beside ``path``: ``.NAME<suffix>``, or ``.<hash><suffix>`` where that would pass
    the file system's limit on a name (a legal long NAME must stay writable)."""
    name = f".{path.name}{suffix}"
    if len(os.fsencode(name)) > NAME_MAX:
        name = f".{hashlib.sha256(os.fsencode(path.name)).hexdigest()[:24]}{suffix}"
    return path.with_name(name)


@contextmanager
def atomic_path(path: str | os.PathLike, force: bool = False, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only if the block succeeds.

    Refuses to replace an existing file unless ``force``; refuses while another process writes the same
    output; on any error the temporary is removed, so a crash never leaves a half-written output behind
    (and a kill leaves one that the next writer of the same output reuses). An ``OSError`` of the file
    system (full disk, read-only, file-size limit, a name too long) becomes one ``SSLRError``. HDF5 writers
    of the temporary must pass ``locking=False`` (the temporary is already locked here).
    """
    path = Path(path)
    check_output(path, force)
    tmp = temp_path(path, suffix)
    try:
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)  # the umask applies
    except OSError as exc:
        raise SSLRError(write_error(path, exc, where=path.parent)) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SSLRError(f"{path}: another process is writing it now (its temporary {tmp.name} is locked); "
                            f"wait for it, or write elsewhere") from None
        os.ftruncate(fd, 0)  # what a killed writer left
        try:
            yield tmp
            os.replace(tmp, path)
        except OSError as exc:
            global _write_failed
            _write_failed = True
            tmp.unlink(missing_ok=True)
            raise SSLRError(write_error(path, exc)) from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    finally:
        os.close(fd)
