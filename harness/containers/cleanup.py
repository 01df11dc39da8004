"""Removing what a container left in a folder selma3d mounted, whatever the container did to it.

A participant's container writes ``/output`` as another user: it may leave folders of mode
000, files appearing while they are removed, or names that vanish under the remover's feet.
:func:`remove_tree` and :func:`empty_folder` never follow a link, open every folder they must
enter (``chmod`` where this process owns it or is root) and take a vanished entry for removed.
It may also nest folders thousands deep: every walk here (:func:`walk_tree`, the removal) keeps
an explicit stack instead of recursing, and the removal works by folder handles, so no path
grows past the system's limit on a path's length.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Collection, Iterator
from pathlib import Path

__all__ = [
    "MAX_WALK_DEPTH",
    "TreeTooDeep",
    "chmod_tree",
    "empty_folder",
    "remove_tree",
    "walk_tree",
]

MAX_WALK_DEPTH = 64
"""Folders :func:`walk_tree` enters below its root unless told otherwise."""
# Entries that vanish, or a folder that gained an entry while it was emptied: another pass.
_RACES = (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST)
# Folders held open at once while removing; a deeper folder is moved up to the top (below).
_OPEN_FOLDERS = 32
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class TreeTooDeep(OSError):
    """A folder lies deeper below the walked root than the walk accepts.

    Attributes
    ----------
    relative : str
        The first folder found too deep, relative to the root (shortened when long).
    limit : int
        The accepted depth in folders.
    """

    def __init__(self, root: Path, relative: str, limit: int) -> None:
        parts = relative.split("/")
        shown = relative if len(parts) <= 6 else "/".join([*parts[:3], "...", *parts[-2:]])
        super().__init__(errno.ELOOP, f"{shown} lies more than {limit} folders deep", str(root))
        self.relative = shown
        self.limit = limit


def walk_tree(
    root: Path, *, max_depth: int = MAX_WALK_DEPTH, skip: Collection[str] = ()
) -> Iterator[tuple[Path, str, os.stat_result]]:
    """Every entry under ``root``, a folder before its content, never following a link.

    An explicit stack, not recursion, so a tree of any depth cannot exhaust Python's stack;
    entries are stated with ``lstat``, so a link is yielded as a link and never entered.

    Parameters
    ----------
    root : Path
        A folder (not yielded itself).
    max_depth : int, keyword-only
        Folders the walk may enter below ``root``; an entry inside a deeper one raises.
    skip : collection of str, keyword-only
        Names of folders yielded but not entered (caches).

    Yields
    ------
    path : Path
    relative : str
        The POSIX path below ``root``.
    st : os.stat_result
        Its ``lstat``.

    Raises
    ------
    TreeTooDeep
        A folder at depth ``max_depth`` holds an entry.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> (d / "a" / "b").mkdir(parents=True)
    >>> (d / "link").symlink_to(d / "a")
    >>> [rel for _, rel, _ in walk_tree(d)]
    ['a', 'link', 'a/b']
    """
    stack: list[tuple[Path, str, int]] = [(Path(root), "", 0)]
    while stack:
        folder, prefix, depth = stack.pop()
        with os.scandir(folder) as it:
            names = sorted(e.name for e in it)
        if names and depth >= max_depth:
            raise TreeTooDeep(Path(root), prefix.rstrip("/"), max_depth)
        below = []
        for name in names:
            path = folder / name
            st = os.lstat(path)
            relative = prefix + name
            yield path, relative, st
            if stat.S_ISDIR(st.st_mode) and name not in skip:
                below.append((path, relative + "/", depth + 1))
        stack.extend(reversed(below))


def chmod_tree(root: Path, *, dirs: int, files: int, max_depth: int = MAX_WALK_DEPTH) -> None:
    """Set the modes of ``root``, every folder and every regular file under it (links untouched).

    Raises
    ------
    TreeTooDeep
        A folder deeper than ``max_depth`` (default :data:`MAX_WALK_DEPTH`).
    """
    os.chmod(root, dirs)
    for path, _relative, st in walk_tree(root, max_depth=max_depth):
        if stat.S_ISDIR(st.st_mode):
            os.chmod(path, dirs)
        elif stat.S_ISREG(st.st_mode):
            os.chmod(path, files)


def _chmod_open(name: str, parent: int) -> None:
    """Give this process rights on folder ``name`` in ``parent``, without following a link."""
    handle = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
    try:
        # chmod through /proc changes the very folder opened (an O_PATH handle takes no fchmod).
        os.chmod(f"/proc/self/fd/{handle}", 0o700)
    finally:
        os.close(handle)


def _open_folder(name: str, parent: int) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except PermissionError:
        # A folder the container closed (mode 000): open it up, once.
        _chmod_open(name, parent)
        return os.open(name, _DIR_FLAGS, dir_fd=parent)


def _in_folder(fd: int, action: str, name: str, dest: str = "", top: int = -1) -> None:
    """``unlink``, ``rmdir`` or ``rename`` (to ``dest`` in ``top``) of ``name`` inside ``fd``."""
    for retry in (False, True):
        try:
            if action == "unlink":
                os.unlink(name, dir_fd=fd)
            elif action == "rmdir":
                os.rmdir(name, dir_fd=fd)
            else:
                os.rename(name, dest, src_dir_fd=fd, dst_dir_fd=top)
            return
        except FileNotFoundError:
            return  # removed by someone else meanwhile: the goal
        except PermissionError:
            if retry:
                raise
            # A folder without write or search rights for this process: open it, once (a
            # folder moved to another parent needs write rights on itself, for its "..").
            os.fchmod(fd, 0o700)
            if action == "rename":
                _chmod_open(name, fd)


def _first_subfolder(fd: int) -> str | None:
    """Remove every non-folder inside ``fd``; the name of a folder left, or None."""
    with os.scandir(fd) as it:
        entries = list(it)
    folder = None
    for entry in entries:
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except FileNotFoundError:
            continue
        if is_dir:
            folder = folder or entry.name
        else:
            _in_folder(fd, "unlink", entry.name)
    return folder


def _free_name(fd: int, moved: int) -> tuple[str, int]:
    while True:
        name = f".selma3d-deep-{moved}"
        try:
            os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return name, moved + 1
        moved += 1


def _empty_by_handles(top: int) -> None:
    """Empty the folder open as ``top``, by handles: no path grows with the tree's depth.

    At most ``_OPEN_FOLDERS`` folders are held open: a folder deeper than that is renamed into
    ``top`` and emptied from there, so a tree of any depth needs neither recursion nor paths
    longer than a name.
    """
    stack = [top]
    names: list[str] = []
    moved = 0
    try:
        while stack:
            fd = stack[-1]
            child = _first_subfolder(fd)
            if child is not None and len(stack) >= _OPEN_FOLDERS:
                dest, moved = _free_name(top, moved)
                _in_folder(fd, "rename", child, dest, top)
            elif child is not None:
                try:
                    stack.append(_open_folder(child, fd))
                    names.append(child)
                except FileNotFoundError:
                    continue
            elif len(stack) > 1:
                os.close(stack.pop())
                _in_folder(stack[-1], "rmdir", names.pop())
            else:
                return
    finally:
        for fd in stack[1:]:
            os.close(fd)


def remove_tree(path: Path, *, passes: int = 5) -> None:
    """Remove ``path`` and everything under it, never following a link.

    Folders are walked by handles with an explicit stack (no recursion, no path longer than
    one name), so a tree of any depth is removed; a folder this process may not enter or
    change (mode 000) is opened up with ``chmod`` where this process owns it or is root.

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
    path = Path(path)
    for attempt in range(passes):
        if not os.path.lexists(path):
            return
        try:
            if os.path.islink(path) or not os.path.isdir(path):
                os.unlink(path)
                return
            parent = os.open(path.parent, _DIR_FLAGS & ~os.O_NOFOLLOW)
            try:
                top = _open_folder(path.name, parent)
                try:
                    _empty_by_handles(top)
                finally:
                    os.close(top)
                _in_folder(parent, "rmdir", path.name)
            finally:
                os.close(parent)
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
