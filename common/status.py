"""The case statuses: what happened to one case of one submission, in one vocabulary.

The runner writes them, evaluation keeps them, the leaderboard counts them. :data:`STATUS_TABLE`
is the one statement of the statuses: their names, what each means, whether it is charged to
the team, and the letter that marks it in reports. ``docs/runner.md`` shows it
(:func:`status_table_markdown` renders it). Every status but ``ok`` scores the worst value of
each metric.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "FAILURES",
    "STATUS",
    "STATUSES",
    "STATUS_TABLE",
    "Status",
    "status_table_markdown",
]


@dataclass(frozen=True)
class Status:
    """One case status.

    Attributes
    ----------
    name : str
        As written in ``cases.jsonl`` and in the ``status`` column of results tables.
    meaning : str
        What happened, in one line.
    charged : bool
        Whether the status is held against the team. An uncharged failure (the engine's) is
        retried, and a plain rerun runs the case again.
    mark : str
        One letter marking the status on the report's per-case heatmap; empty for ``ok``.
    """

    name: str
    meaning: str
    charged: bool
    mark: str


STATUS_TABLE: tuple[Status, ...] = (
    Status("ok", "a valid prediction was produced within the limits", False, ""),
    Status("timeout", "the container ran past the wall-clock limit and was killed", True, "T"),
    Status("oom", "the container exceeded its memory limit and was killed", True, "M"),
    Status("failed", "the container exited with a non-zero code", True, "F"),
    Status("missing_output", "the container finished but left no prediction", True, "∅"),
    Status(
        "invalid_output",
        "the prediction was rejected (unreadable, wrong grid, NaN, a link, ...)",
        True,
        "X",
    ),
    Status(
        "infrastructure_error",
        "the Docker engine failed (retried); a plain rerun runs the case again",
        False,
        "I",
    ),
)  # fmt: skip

STATUS: Mapping[str, Status] = MappingProxyType({s.name: s for s in STATUS_TABLE})
"""Status name -> :class:`Status`, in table order."""

STATUSES: tuple[str, ...] = tuple(STATUS)
"""The status names, in table order."""

FAILURES: tuple[str, ...] = tuple(s for s in STATUSES if s != "ok")
"""Every status but ``ok``: the case did not run cleanly and scores the worst values."""


def status_table_markdown() -> str:
    """Render :data:`STATUS_TABLE` as the Markdown table of the docs.

    Examples
    --------
    >>> print(status_table_markdown().splitlines()[3])
    | `timeout` | the container ran past the wall-clock limit and was killed | yes | T |
    """
    lines = [
        "| status | meaning | charged to the team | report mark |",
        "|---|---|---|---|",
    ]
    for s in STATUS_TABLE:
        lines.append(f"| `{s.name}` | {s.meaning} | {'yes' if s.charged else 'no'} | {s.mark} |")
    return "\n".join(lines)
