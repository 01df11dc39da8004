"""An evaluation container's ``metrics.json``, read within stated bounds, addressed by path.

grand-challenge accepts any JSON object as a submission's metrics and reads each leaderboard
column by a path of keys (``aggregates.dice.mean``: split on ``.``, each part a key of an object;
a list cannot be entered). The file is written by the organizers' container, which reads the
participants' outputs: it is held to bounds before and while it is parsed:

- :data:`MAX_METRICS_BYTES`: a larger file is refused unread;
- :data:`MAX_METRICS_DEPTH`: objects and lists nested deeper are refused before parsing
  (Python's parser recurses, and a file nested 200,000 deep exhausts its stack);
- :data:`MAX_NUMBER_CHARS`: a longer number literal is refused (converting a 5,000-digit
  integer is slow, and ``int()`` refuses more than 4,300 digits).

``NaN``, ``Infinity`` and ``-Infinity`` (which Python's ``json`` writes for a float that is not
finite, and the SELMA3D 2026 evaluator for a metric of an empty mask), and literals such as
``1e999`` that overflow to infinity, are kept as "no value" (``None``): each is named by its
path in the read's notes, and nothing selma3d writes afterwards holds a value JSON cannot.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "MAX_METRICS_BYTES",
    "MAX_METRICS_DEPTH",
    "MAX_NOTED_PATHS",
    "MAX_NUMBER_CHARS",
    "MISSING",
    "MetricsRead",
    "finite_or_none",
    "get_jsonpath",
    "parse_metrics",
    "read_metrics",
]

MAX_METRICS_BYTES = 16 << 20
"""A larger ``metrics.json`` is refused unread (16 MiB)."""
MAX_METRICS_DEPTH = 64
"""Objects and lists nested deeper than this are refused before parsing."""
MAX_NUMBER_CHARS = 100
"""A longer number literal is refused (a double needs at most 24 characters)."""
MAX_NOTED_PATHS = 10
"""Paths of non-finite values named in a note; the rest are counted."""

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()
"""What :func:`get_jsonpath` returns for a path that leads nowhere."""

# A string, or an unterminated one to the end: every match consumes what it tried, so removing
# the strings of 16 MiB takes linear time whatever the quotes and backslashes.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.?)*+(?:"|\Z)', re.DOTALL)
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class _Refused(ValueError):
    """A bound was exceeded while parsing."""


class _NonFinite(float):
    """A NaN or infinity met while parsing, replaced by None once its path is known."""

    def __new__(cls, value: float, literal: str) -> _NonFinite:
        self = super().__new__(cls, value)
        self.literal = literal
        return self


@dataclass(frozen=True)
class MetricsRead:
    """A ``metrics.json`` read: the object, or the status and reason it was refused with.

    Attributes
    ----------
    metrics : dict or None
        The parsed object, non-finite numbers replaced by None.
    status : str
        ``ok``, ``missing_metrics`` or ``invalid_metrics``.
    reason : str
        Why it was refused.
    non_finite : tuple of (str, str)
        ``(path, literal)`` of each NaN or infinity kept as no value.
    """

    metrics: dict[str, Any] | None
    status: str = "ok"
    reason: str = ""
    non_finite: tuple[tuple[str, str], ...] = field(default=())

    @property
    def notes(self) -> list[str]:
        """One line on the non-finite values, naming the first :data:`MAX_NOTED_PATHS`."""
        if not self.non_finite:
            return []
        shown = ", ".join(f"{p} ({lit})" for p, lit in self.non_finite[:MAX_NOTED_PATHS])
        more = len(self.non_finite) - MAX_NOTED_PATHS
        return [
            f"metrics.json: {len(self.non_finite)} value(s) not finite, kept as no value: "
            + shown
            + (f" and {more} more" if more > 0 else "")
        ]


def _depth(data: bytes) -> int:
    """The deepest nesting of objects and lists in JSON text (strings left out)."""
    skeleton = np.frombuffer(_STRING.sub(b'""', data), dtype=np.uint8)
    opens = (skeleton == ord("{")) | (skeleton == ord("["))
    closes = (skeleton == ord("}")) | (skeleton == ord("]"))
    brackets = skeleton[opens | closes]
    steps = np.where((brackets == ord("{")) | (brackets == ord("[")), 1, -1).astype(np.int32)
    return int(np.cumsum(steps).max(initial=0))


def _parse_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Refused(
            f"a number of {len(text)} characters ({text[:12]}...); at most {MAX_NUMBER_CHARS} "
            "are read"
        )
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Refused(
            f"a number of {len(text)} characters ({text[:12]}...); at most {MAX_NUMBER_CHARS} "
            "are read"
        )
    value = float(text)
    return value if math.isfinite(value) else _NonFinite(value, text)


def _parse_constant(text: str) -> float:
    return _NonFinite(_NON_FINITE[text], text)


def _child_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _replace_non_finite(value: Any, path: str, found: list[tuple[str, str]]) -> Any:
    # Depth is bounded by MAX_METRICS_DEPTH, so recursion is safe here.
    if isinstance(value, _NonFinite):
        found.append((path or "(the whole file)", value.literal))
        return None
    if isinstance(value, dict):
        return {k: _replace_non_finite(v, _child_path(path, k), found) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_non_finite(v, _child_path(path, i), found) for i, v in enumerate(value)]
    return value


def parse_metrics(data: bytes, *, name: str = "/output/metrics.json") -> MetricsRead:
    """Parse the bytes of a ``metrics.json`` within the bounds; never raises for its content.

    Examples
    --------
    >>> read = parse_metrics(b'{"aggregates": {"dice": {"mean": NaN, "count": 2}}}')
    >>> read.metrics, read.notes
    ({'aggregates': {'dice': {'mean': None, 'count': 2}}}, \
['metrics.json: 1 value(s) not finite, kept as no value: aggregates.dice.mean (NaN)'])
    >>> parse_metrics(b"[" * 100 + b"]" * 100).reason
    '/output/metrics.json is nested 100 deep; at most 64 levels are read'
    """
    if len(data) > MAX_METRICS_BYTES:
        return MetricsRead(
            None, "invalid_metrics",
            f"{name} is {len(data)} bytes; at most {MAX_METRICS_BYTES} are read",
        )
    depth = _depth(data)
    if depth > MAX_METRICS_DEPTH:
        return MetricsRead(
            None, "invalid_metrics",
            f"{name} is nested {depth} deep; at most {MAX_METRICS_DEPTH} levels are read",
        )
    try:
        text = data.decode("utf-8")
        parsed = json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
    except UnicodeDecodeError as exc:
        return MetricsRead(None, "invalid_metrics", f"{name} is not UTF-8 text: {exc}")
    except _Refused as exc:
        return MetricsRead(None, "invalid_metrics", f"{name} holds {exc}")
    except (json.JSONDecodeError, RecursionError) as exc:
        return MetricsRead(None, "invalid_metrics", f"{name} is not valid JSON: {exc}")
    if not isinstance(parsed, dict):
        kind = "null" if parsed is None else type(parsed).__name__
        return MetricsRead(
            None, "invalid_metrics", f"{name} holds a {kind}, not an object (grand-challenge "
            "reads its metrics from a JSON object)",
        )
    found: list[tuple[str, str]] = []
    metrics = _replace_non_finite(parsed, "", found)
    return MetricsRead(metrics, non_finite=tuple(found))


def read_metrics(path: Path) -> MetricsRead:
    """Read a container's ``metrics.json`` (:func:`parse_metrics`) without following a link.

    A missing file is ``missing_metrics``; a link, a folder or a file over
    :data:`MAX_METRICS_BYTES` is ``invalid_metrics``, refused unread.
    """
    name = "/output/metrics.json"
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return MetricsRead(None, "missing_metrics", f"{name} was not written")
    if not stat.S_ISREG(st.st_mode):
        return MetricsRead(None, "invalid_metrics", f"{name} is not a regular file")
    if st.st_size > MAX_METRICS_BYTES:
        return MetricsRead(
            None, "invalid_metrics",
            f"{name} is {st.st_size} bytes; at most {MAX_METRICS_BYTES} are read",
        )
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(MAX_METRICS_BYTES + 1)
    return parse_metrics(data, name=name)


def get_jsonpath(metrics: Any, path: str) -> Any:
    """The value at ``path`` as grand-challenge finds it, or :data:`MISSING`.

    The path is split on ``.``; each part is a key of an object (a list is not entered), as
    grand-challenge's ``get_jsonpath`` reads a leaderboard column.

    Examples
    --------
    >>> m = {"aggregates": {"dice": {"mean": 0.5}}, "results": [{"dice": 1}]}
    >>> get_jsonpath(m, "aggregates.dice.mean"), get_jsonpath(m, "results.0.dice")
    (0.5, MISSING)
    """
    value = metrics
    for key in str(path).split("."):
        if not isinstance(value, dict) or key not in value:
            return MISSING
        value = value[key]
    return value


def finite_or_none(value: Any) -> Any:
    """``value`` with every float that is not finite replaced by None (for JSON records).

    Examples
    --------
    >>> finite_or_none({"a": [1.0, float("nan")], "b": float("inf")})
    {'a': [1.0, None], 'b': None}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_none(v) for v in value]
    return value


def iter_numbers(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every ``(path, leaf)`` under ``value`` that is not an object or a list."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from iter_numbers(v, _child_path(path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from iter_numbers(v, _child_path(path, i))
    else:
        yield path, value
