"""Temporary folders that hold hidden data, removed on exit, on Ctrl-C and after a ``kill -9``.

:func:`owned_scratch` makes a folder in the system's temporary folder and holds an exclusive
``flock`` on a file inside it for as long as the body runs. The body's end (normal or an
exception, Ctrl-C included) removes it; a process killed with ``kill -9`` cannot, but the kernel
releases its lock, so the next :func:`owned_scratch` of the same prefix, finding a folder whose
lock it can take, knows its owner is gone and removes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from harness.containers.cleanup import remove_tree

__all__ = ["OWNER_FILE", "owned_scratch", "remove_abandoned"]

OWNER_FILE = ".selma3d-owner"
"""The file whose lock says the folder's owner is alive."""
_YOUNG_S = 60.0
"""A folder younger than this without an owner file is left alone (another program's, maybe)."""


def remove_abandoned(prefix: str, *, root: Path | None = None) -> list[Path]:
    """Remove the folders ``root/prefix*`` whose owner is gone; return them.

    A folder is abandoned when the lock on its :data:`OWNER_FILE` can be taken (its process
    ended), or when it has no such file and is older than a minute (made before the owner file
    existed, or its maker died at once).
    """
    base = Path(root or tempfile.gettempdir())
    removed: list[Path] = []
    for making in sorted(base.glob(f".making-{prefix}*")):
        # Its maker died between making and locking it (or is making it now: then it is young).
        if not making.is_symlink() and time.time() - making.lstat().st_mtime >= _YOUNG_S:
            remove_tree(making)
            removed.append(making)
    for folder in sorted(base.glob(f"{prefix}*")):
        if folder.is_symlink() or not folder.is_dir():
            continue
        try:
            fd = os.open(folder / OWNER_FILE, os.O_RDWR | os.O_NOFOLLOW)
        except FileNotFoundError:
            if time.time() - folder.lstat().st_mtime < _YOUNG_S:
                continue
            remove_tree(folder)
            removed.append(folder)
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its process is alive
            remove_tree(folder)
            removed.append(folder)
        finally:
            os.close(fd)
    return removed


@contextlib.contextmanager
def owned_scratch(prefix: str, *, root: Path | None = None) -> Iterator[Path]:
    """A fresh temporary folder owned by this process; abandoned ones of ``prefix`` go first.

    Examples
    --------
    >>> with owned_scratch("selma3d-doctest-") as d:
    ...     (d / "x").write_text("hidden")
    6
    >>> d.exists()
    False
    """
    remove_abandoned(prefix, root=root)
    # Made under another name and renamed once locked: a folder named ``prefix*`` always has
    # its owner file locked while its owner lives.
    making = Path(tempfile.mkdtemp(prefix=f".making-{prefix}", dir=root))
    fd = os.open(making / OWNER_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    folder = making
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        folder = making.with_name(making.name.removeprefix(".making-"))
        making.rename(folder)
        yield folder
    finally:
        try:
            remove_tree(folder)
        finally:
            os.close(fd)
