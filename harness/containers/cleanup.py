"""Removing what a container left in a folder selma3d mounted, whatever the container did to it.

A participant's container writes ``/output`` as another user: it may leave folders of mode
000, files appearing while they are removed, or names that vanish under the remover's feet.
:func:`remove_tree` and :func:`empty_folder` never follow a link, open every folder they must
enter (``chmod`` where this process owns it or is root) and take a vanished entry for removed.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path
from typing import Any

__all__ = ["empty_folder", "remove_tree"]

# Entries that vanish, or a folder that gained an entry while it was emptied: another pass.
_RACES = (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST)


def _open_up(path: str) -> None:
    """Give this process search and write rights on ``path`` (a folder the container closed)."""
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        os.chmod(path, 0o700)


def _on_error(func: Any, path: str, exc_info: Any) -> None:
    exc = exc_info[1]
    if isinstance(exc, FileNotFoundError):
        return  # removed by someone else meanwhile: the goal
    if isinstance(exc, PermissionError):
        # A folder of mode 000 (or without w/x) in the way: open it and its parent, retry once.
        parent = os.path.dirname(path)
        _open_up(parent)
        if os.path.lexists(path) and not os.path.islink(path):
            _open_up(path)
        if func in (os.rmdir, os.unlink, os.remove):
            func(path)
        else:
            shutil.rmtree(path, onerror=_on_error)
        return
    raise exc


def remove_tree(path: Path, *, passes: int = 5) -> None:
    """Remove ``path`` and everything under it, never following a link.

    Parameters
    ----------
    path : Path
    passes : int, keyword-only
        Attempts while entries keep appearing (a process still writing into it).

    Raises
    ------
    OSError
        Still not removed after ``passes`` attempts, or not removable (the last error).

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> (d / "closed").mkdir(); (d / "closed" / "f").write_text("x")
    1
    >>> os.chmod(d / "closed", 0)
    >>> remove_tree(d)
    >>> d.exists()
    False
    """
    for attempt in range(passes):
        if not os.path.lexists(path):
            return
        try:
            if os.path.islink(path) or not os.path.isdir(path):
                os.unlink(path)
            else:
                shutil.rmtree(path, onerror=_on_error)
            return
        except OSError as exc:
            if exc.errno not in _RACES or attempt == passes - 1:
                raise


def empty_folder(folder: Path, *, passes: int = 5) -> None:
    """Remove everything inside ``folder`` and keep the folder (a bind mount keeps its inode).

    Raises
    ------
    OSError
        Entries keep appearing (a process still writes into it) or cannot be removed.
    """
    for attempt in range(passes):
        try:
            for name in os.listdir(folder):
                remove_tree(Path(folder) / name, passes=1)
        except OSError as exc:
            if exc.errno not in _RACES or attempt == passes - 1:
                raise
            continue
        if not os.listdir(folder):
            return
    raise OSError(errno.ENOTEMPTY, "entries keep appearing", str(folder))
