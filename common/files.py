"""Files in and out: the one atomic writer and the one YAML-to-model loader of the project.

Every file selma3d writes goes through :func:`write_atomic` (or :func:`atomic_path` for a writer
that needs a path), so a reader never sees half a file and a crash never leaves one behind; every
configuration file goes through :func:`load_yaml_model`, so every configuration error has one
format: the file, then each problem as ``field: message (got value)``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from common.errors import ConfigError, WriteError

__all__ = [
    "atomic_path",
    "config_error",
    "load_yaml_mapping",
    "load_yaml_model",
    "read_config_text",
    "resolved",
    "validation_problems",
    "write_atomic",
]

M = TypeVar("M", bound=BaseModel)


def resolved(path: str | Path) -> Path:
    """``Path(path).resolve()``: absolute, links followed; a loop of links is a clear error.

    Raises
    ------
    ConfigError
        The path runs into a loop of symbolic links (Python 3.11's ``resolve`` raises
        RuntimeError there, a later one OSError ELOOP), naming it.

    Examples
    --------
    >>> resolved("/tmp/../tmp").as_posix()
    '/tmp'
    """
    try:
        return Path(path).resolve()
    except RuntimeError as exc:
        raise ConfigError(f"{path}: a loop of symbolic links; expected a file or a folder") from exc
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise ConfigError(f"{path}: a loop of symbolic links; expected a file or a folder") from exc


@contextlib.contextmanager
def atomic_path(path: str | Path, *, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    The temporary file is hidden (``.NAME.XXXXXXXXXXXX<suffix>``, same folder, so the rename is
    atomic on one file system) and removed if the body raises. Parent folders are created. The
    body creates the file at the yielded path.

    A write that fails because the disk is full or the folder read-only (or not writable)
    raises :class:`common.errors.WriteError` naming ``path`` and saying nothing earlier was lost.

    Parameters
    ----------
    path : str or Path
        The file to write.
    suffix : str, keyword-only
        End of the temporary file's name. A writer that picks the format from the extension
        needs it to end like ``path`` (``".tmp.nii.gz"``).

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text(), sorted(p.name for p in target.parent.iterdir())
    ('done', ['a.txt'])
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; expected a file path to write")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _write_error(path, exc) from exc
    # The body's writer creates the file, so it gets the permissions a plain open gives (after
    # the umask): mkstemp's 0600 would hide a split or a report from other users and containers.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        # On a read-only or broken file system even removing the temporary file may fail; the
        # error that matters is the write's, which is raised below either way.
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in _CANNOT_WRITE:
            raise _write_error(path, exc) from exc
        raise


_CANNOT_WRITE = {
    errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EFBIG, errno.ENOTDIR
}


def _write_error(path: Path, exc: OSError) -> WriteError:
    return WriteError(
        f"{path}: could not be written ({exc.strerror or exc}); nothing earlier was lost: "
        f"files already written are kept and {path.name} was not changed (no partial file left)"
    )


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    r"""Write ``data`` (text as UTF-8) to ``path`` atomically; return ``path``.

    Examples
    --------
    >>> import tempfile
    >>> p = write_atomic(Path(tempfile.mkdtemp()) / "x" / "b.json", '{"a": 1}\\n')
    >>> p.read_text()
    '{"a": 1}\\n'
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path) as tmp:
        tmp.write_bytes(raw)
    return Path(path)


def read_config_text(path: str | Path, *, what: str) -> str:
    """The text of a configuration file, UTF-8 (a byte-order mark, as spreadsheets write, dropped).

    Raises
    ------
    ConfigError
        The file is missing, unreadable or not UTF-8, naming ``what`` it is.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such {what} file")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: the {what} is not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what} ({exc.strerror})") from exc


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing aliases (``*name``) and duplicate keys.

    Nested aliases expand exponentially ("billion laughs": a few hundred bytes that build a
    structure of billions of nodes); a configuration never needs them, so the first alias is an
    error naming its line. A key written twice in one mapping (``teams:`` twice) would silently
    keep only the last value: it is an error naming the key and both lines.
    """

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:  # type: ignore[override]
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    earlier = first.get(key)
                except TypeError:
                    continue  # an unhashable key: PyYAML's own error names it below
                if earlier is not None:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"duplicate key {key!r} on line {key_node.start_mark.line + 1} (first "
                        f"on line {earlier + 1}); write each key once",
                        # No mark: the message names both lines, and PyYAML's mark would add
                        # lines of its own ('in "<unicode string>", line N') to a one-line error.
                        None,
                    )
                first[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.events.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None,
                None,
                f"YAML aliases ('*{event.anchor}') are not accepted in a configuration; "
                "write the value out",
                event.start_mark,
            )
        return super().compose_node(parent, index)


def load_yaml_mapping(path: str | Path, *, what: str, empty_ok: bool = False) -> dict[str, Any]:
    """Read a YAML file whose top level is a mapping.

    Parameters
    ----------
    path : str or Path
    what : str, keyword-only
        What the file is (``"round configuration"``), for messages.
    empty_ok : bool, keyword-only
        An empty file gives ``{}`` instead of an error.

    Raises
    ------
    ConfigError
        The file is missing, unreadable, not UTF-8, not YAML, holds an alias (``*name``: nested
        aliases expand exponentially) or a key written twice in one mapping (naming the key
        and its lines), or is not a mapping.
    """
    path = Path(path)
    text = read_config_text(path, what=what)
    try:
        data = yaml.load(text, Loader=_NoAliasLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: the {what} is not valid YAML: {exc}") from exc
    if data is None and empty_ok:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the {what} must be a mapping of fields at the top, got {type(data).__name__}"
        )
    return data


def validation_problems(exc: ValidationError, *, prefix: str = "") -> list[str]:
    """One line per pydantic error: ``field: message (got value)``, the field dotted."""
    lines = []
    for err in exc.errors():
        field = prefix + (".".join(str(p) for p in err["loc"]) or "(top level)")
        message = str(err["msg"]).removeprefix("Value error, ")
        got = ""
        if "input" in err and err["type"] != "missing" and not isinstance(err["input"], Mapping):
            got = f" (got {err['input']!r})"
        lines.append(f"{field}: {message}{got}")
    return lines


def config_error(path: str | Path, problems: list[str], *, what: str) -> ConfigError:
    """The error listing every problem of a configuration, in the format of all of them.

    Examples
    --------
    >>> print(config_error("r.yaml", ["phase: unknown (got 'x')"], what="round configuration"))
    r.yaml: 1 problem(s) in the round configuration:
      - phase: unknown (got 'x')
    """
    body = "\n".join(f"  - {line}" for line in problems)
    return ConfigError(f"{path}: {len(problems)} problem(s) in the {what}:\n{body}")


def load_yaml_model(
    path: str | Path,
    model: type[M],
    *,
    what: str,
    empty_ok: bool = False,
    prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    extra_problems: Callable[[dict[str, Any]], list[str]] | None = None,
) -> M:
    """Read a YAML mapping into a pydantic ``model``, every problem listed in one error.

    Parameters
    ----------
    path : str or Path
    model : type of pydantic.BaseModel
    what : str, keyword-only
        What the file is, for messages.
    empty_ok : bool, keyword-only
        An empty file gives the model's defaults.
    prepare : callable, optional, keyword-only
        Maps the raw mapping to the model's input (e.g. adds the file's own path).
    extra_problems : callable, optional, keyword-only
        Cross-field checks run on the raw mapping when field errors stop pydantic before its own
        model checks, so one reading of the message lists every mistake.

    Raises
    ------
    ConfigError
        ``PATH: N problem(s) in the WHAT:`` then one ``  - field: message (got value)`` line each.
    """
    raw = load_yaml_mapping(path, what=what, empty_ok=empty_ok)
    try:
        return model.model_validate(prepare(raw) if prepare else raw)
    except ValidationError as exc:
        lines = validation_problems(exc)
        if extra_problems is not None and not any(e["loc"] == () for e in exc.errors()):
            lines.extend(extra_problems(raw))
        raise config_error(path, lines, what=what) from exc
