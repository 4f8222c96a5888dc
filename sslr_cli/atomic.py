"""Writing outputs safely: nothing existing is replaced without ``force``, and a file appears only
complete (written under a temporary name beside it, then renamed over it).

``check_output(path, force)`` fails early (before any work) on an output that may not be written;
``atomic_path(path, force)`` yields the temporary path to write and renames it on success.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sslr_cli.errors import SSLRError

__all__ = ["check_output", "atomic_path", "make_folder"]


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


@contextmanager
def atomic_path(path: str | os.PathLike, force: bool = False, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only if the block succeeds.

    Refuses to replace an existing file unless ``force``; on any error the temporary is removed,
    so a crash never leaves a half-written output behind.
    """
    path = Path(path)
    check_output(path, force)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent if str(path.parent) else ".")
    except OSError as exc:
        raise SSLRError(f"{path}: cannot write in {path.parent} ({exc.strerror or exc})") from None
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; the output should get the usual mode
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
