"""Where a command may write: never onto its inputs, never into a folder selma3d did not make.

Two rules every command's outputs follow, in one place:

- **No output on an input.** :func:`refuse_overlap` refuses an output path that is, or lies
  inside, one of the command's inputs (a split folder, its manifest, a label, an image, the
  predictions, a round file, a model, a ground truth), symbolic links and ``..`` resolved, naming
  both paths.
- **Only selma3d's folders are written into.** :func:`claim_folder` makes an output folder, or
  takes one that is empty or that selma3d made (it holds :data:`MARKER_NAME`, a small JSON file
  naming the command that made it); a folder holding anything else is refused, never cleaned.
  The claim holds the folder's lock (``flock`` on :data:`LOCK_NAME`) until it is closed: a second
  command writing into the same folder is refused. A file output has its lock beside it while
  the command runs (:func:`lock_file_output`).

Folders written by earlier releases have no marker; each caller says how to recognise its own
(``legacy``: a run folder holds ``run.json``, a round folder ``round.json``...), so an earlier run
still resumes, and the folder is marked then.

Claims are re-entrant within a process: a command that claims its folder for its whole length
may call a library function that claims the same folder again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from common.errors import ConfigError, Selma3dError
from common.files import write_atomic

__all__ = [
    "LOCK_NAME",
    "MARKER_NAME",
    "OutputFolder",
    "claim_folder",
    "lock_file_output",
    "only_names",
    "read_marker",
    "real",
    "refuse_overlap",
    "starts_with",
]

MARKER_NAME = ".selma3d-folder.json"
"""The file that marks a folder as selma3d's: JSON ``kind``, ``command`` and ``created_at``."""
LOCK_NAME = ".selma3d-folder.lock"
"""The file a command writing into a folder holds locked (``flock``) while it runs."""

_OWN = frozenset({MARKER_NAME, LOCK_NAME})


def real(path: str | Path) -> Path:
    """``path`` absolute, with ``..`` and every symbolic link of its existing part resolved.

    Examples
    --------
    >>> real("/tmp/../tmp/x").as_posix()
    '/tmp/x'
    """
    return Path(os.path.realpath(os.path.abspath(os.fspath(path))))


def refuse_overlap(
    outputs: Mapping[str, str | Path | None],
    inputs: Mapping[str, str | Path | Iterable[str | Path] | None],
) -> None:
    """Refuse an output that is, or lies inside, an input of the command.

    Parameters
    ----------
    outputs : mapping
        What the user calls each output (``"--out"``) -> its path (None: not given).
    inputs : mapping
        What each input is (``"the split's manifest"``) -> a path or several (None: none).

    Raises
    ------
    ConfigError
        Naming the output and the input, both resolved.

    Examples
    --------
    >>> refuse_overlap({"--out": "/data/split/x.csv"}, {"split": "/data/split"})
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    common.errors.ConfigError: --out /data/split/x.csv lies inside the split /data/split; ...
    """
    resolved: list[tuple[str, Path]] = []
    for name, value in inputs.items():
        if value is None:
            continue
        paths = [value] if isinstance(value, (str, os.PathLike)) else list(value)
        resolved.extend((name, real(p)) for p in paths)
    for flag, out in outputs.items():
        if out is None:
            continue
        target = real(out)
        # The input it is, before any folder it lies in: the message names the closest.
        found = [("is", n, s) for n, s in resolved if target == s] + [
            ("lies inside", n, s) for n, s in resolved if s in target.parents
        ]
        for how, name, source in found[:1]:
            raise ConfigError(
                f"{flag} {target} {how} the {name} {source}; selma3d never writes onto or into "
                "an input of the command: choose an output outside it"
            )


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The marker of ``folder`` (None without one; a marker that is not ours' JSON is refused)."""
    marker = folder / MARKER_NAME
    if not marker.is_file() or marker.is_symlink():
        return None
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{marker}: unreadable selma3d folder marker ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
        raise ConfigError(f"{marker}: not a selma3d folder marker (no 'kind')")
    return data


def only_names(names: Iterable[str], *, needs: Iterable[str] = ()) -> Callable[[Path], bool]:
    """A ``legacy`` test: the folder holds only ``names``, and at least one of ``needs``.

    Hidden temporary files of atomic writes (``.NAME.xxxx.tmp``) are allowed too.
    """
    allowed, required = frozenset(names), tuple(needs)

    def test(folder: Path) -> bool:
        entries = [e for e in os.listdir(folder) if e not in _OWN]
        stray = [
            e for e in entries if e not in allowed and not (e.startswith(".") and ".tmp" in e)
        ]
        return not stray and (not required or any(os.path.lexists(folder / n) for n in required))

    return test


@dataclass
class OutputFolder:
    """A folder claimed by this process: its lock is held until :meth:`close`."""

    path: Path
    kind: str
    handle: IO[str] | None = field(default=None, repr=False)

    def close(self) -> None:
        """Release this claim (the lock goes when the process's last claim of it does)."""
        if self.handle is not None:
            _release(self.path)
            self.handle = None

    def __enter__(self) -> OutputFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# Claims held by this process: folder -> (lock file, count). flock conflicts between two open
# files of one process too, so a nested claim of the same folder reuses the first one's.
_HELD: dict[Path, list[Any]] = {}
_HELD_LOCK = threading.Lock()


def _release(path: Path) -> None:
    with _HELD_LOCK:
        entry = _HELD.get(path)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            entry[0].close()
            del _HELD[path]


def _judge(
    folder: Path,
    *,
    kind: str,
    accepts: tuple[str, ...],
    legacy: Callable[[Path], bool] | None,
    flag: str,
) -> bool:
    """Whether ``folder`` may be written into; True when it needs a marker now."""
    if not os.path.lexists(folder):
        return True
    if folder.is_symlink() or not folder.is_dir():
        what = "a symbolic link" if folder.is_symlink() else "a file"
        raise ConfigError(f"{flag} {folder}: is {what}; expected a folder")
    marker = read_marker(folder)
    if marker is not None:
        if marker["kind"] not in accepts:
            raise ConfigError(
                f"{flag} {folder}: this folder was made by `{marker.get('command', '?')}` "
                f"({marker['kind']}), not for {kind} output; give another folder"
            )
        return False
    try:
        entries = [e for e in os.listdir(folder) if e not in _OWN]
    except OSError as exc:
        raise ConfigError(f"{flag} {folder}: cannot be listed ({exc.strerror})") from exc
    if not entries or (legacy is not None and legacy(folder)):
        return True
    shown = ", ".join(sorted(entries)[:5]) + (", ..." if len(entries) > 5 else "")
    raise ConfigError(
        f"{flag} {folder}: the folder is not empty and selma3d did not make it (no "
        f"{MARKER_NAME}); it holds {shown}. selma3d never cleans or writes over a folder it did "
        "not make: give a new or empty folder"
    )


def claim_folder(
    path: str | Path,
    *,
    kind: str,
    accepts: Iterable[str] = (),
    legacy: Callable[[Path], bool] | None = None,
    flag: str = "--out",
    command: str | None = None,
) -> OutputFolder:
    """Make or take an output folder and hold its lock.

    Parameters
    ----------
    path : str or Path
    kind : str, keyword-only
        What the folder holds (``"run"``, ``"round"``, ``"leaderboard"``), written in its marker.
    accepts : iterable of str, keyword-only
        Other kinds of selma3d folder this command may write into (besides ``kind``).
    legacy : callable, keyword-only, optional
        Recognises a folder of this kind written before folders were marked.
    flag : str, keyword-only
        How the user gave the path, for messages.
    command : str, keyword-only, optional
        The command named in the marker; default: the running ``selma3d`` command line's.

    Raises
    ------
    ConfigError
        The path is a file or a link; the folder holds files selma3d did not write, or is
        another kind of selma3d folder.
    Selma3dError
        Another command holds the folder's lock.
    """
    folder = real(path)
    accepted = (kind, *accepts)
    with _HELD_LOCK:
        entry = _HELD.get(folder)
        if entry is not None:
            entry[1] += 1
            return OutputFolder(folder, kind, entry[0])
    # Judged before anything is created in it: a refused folder is left untouched.
    _judge(folder, kind=kind, accepts=accepted, legacy=legacy, flag=flag)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = (folder / LOCK_NAME).open("a")
    except OSError as exc:
        raise ConfigError(f"{flag} {folder}: cannot be written ({exc.strerror})") from exc
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        handle.close()
        raise Selma3dError(
            f"{flag} {folder}: another selma3d command is writing into this folder; wait for "
            "it to finish, or give another folder"
        ) from exc
    try:
        # Judged again under the lock: another command may have written in between.
        if _judge(folder, kind=kind, accepts=accepted, legacy=legacy, flag=flag):
            record = {"kind": kind, "command": command or _command_line(), "created_at": _now()}
            write_atomic(folder / MARKER_NAME, json.dumps(record, sort_keys=True) + "\n")
    except BaseException:
        handle.close()
        raise
    with _HELD_LOCK:
        _HELD[folder] = [handle, 1]
    return OutputFolder(folder, kind, handle)


def starts_with(*texts: str, within: int = 4096) -> Callable[[Path], bool]:
    """An ``ours`` test of :func:`lock_file_output`: the file's first bytes hold every text.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "r.csv"
    >>> _ = path.write_text("team,case_id,status")
    >>> starts_with("case_id", "status")(path), starts_with("<testsuite")(path)
    (True, False)
    """

    def test(path: Path) -> bool:
        try:
            with path.open("rb") as fh:
                head = fh.read(within).decode("utf-8", errors="replace")
        except OSError:
            return False
        return all(text in head for text in texts)

    return test


@contextlib.contextmanager
def lock_file_output(
    path: str | Path, *, flag: str = "--out", ours: Callable[[Path], bool] | None = None
) -> Iterator[Path]:
    """Hold the lock of a file output (``.<name>.lock`` beside it) for the body.

    The lock file is removed when the body ends, so nothing is left beside the user's file; a
    command that locked a lock file removed meanwhile (its inode no longer the path's) is
    refused as if it were held.

    Parameters
    ----------
    path : str or Path
    flag : str, keyword-only
        How the user gave the path, for messages.
    ours : callable, keyword-only, optional
        Recognises a file this command writes (:func:`starts_with`): an existing file it does
        not recognise is the user's, and is refused rather than replaced.

    Raises
    ------
    ConfigError
        The path is a folder or a link, or an existing file ``ours`` does not recognise.
    Selma3dError
        Another command holds it.
    """
    target = real(path)
    if os.path.lexists(path) and (Path(path).is_symlink() or not Path(path).is_file()):
        raise ConfigError(f"{flag} {path}: is not a regular file; expected a file path to write")
    if ours is not None and target.is_file() and not ours(target):
        raise ConfigError(
            f"{flag} {target}: the file exists and selma3d did not write it; selma3d never "
            "writes over a file it did not make: give a new path"
        )
    lock = target.with_name(f".{target.name}.lock")
    busy = Selma3dError(
        f"{flag} {target}: another selma3d command is writing this file; wait for it to "
        "finish, or give another path"
    )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle = lock.open("a")
    except OSError as exc:
        raise ConfigError(f"{flag} {target}: cannot be written ({exc.strerror})") from exc
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise busy from exc
        try:
            current = os.stat(lock)
        except FileNotFoundError:
            current = None
        if current is None or current.st_ino != os.fstat(handle.fileno()).st_ino:
            raise busy  # the holder before us removed it: another command may hold a new one
        try:
            yield target
        finally:
            lock.unlink(missing_ok=True)  # still locked: no one can take the removed file


def _command_line() -> str:
    """The running command (``selma3d predict``), from click's context when there is one."""
    try:
        # common/ needs no CLI: click's context is read only when a command runs.
        import click

        ctx = click.get_current_context(silent=True)
    except ImportError:  # pragma: no cover - click is a dependency
        ctx = None
    return ctx.command_path if ctx is not None else "selma3d"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
