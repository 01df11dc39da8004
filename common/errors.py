"""The project's exception tree, rooted here so every layer above can raise and catch it.

``Selma3dError`` is the root of every error selma3d raises on purpose: a command line catches it,
prints its message (which names the file, the case and what was expected) and exits 2 (bad input)
or 3 (the engine failed, :class:`harness.errors.EngineError`); anything else escaping is a bug.
The leaderboard raises :class:`ConfigError` and :class:`ResultsError`; the harness adds the kinds
of its own stages in :mod:`harness.errors`.
"""

from __future__ import annotations

__all__ = ["ConfigError", "ProblemsError", "ResultsError", "Selma3dError", "WriteError"]


class Selma3dError(Exception):
    """Base class of every error selma3d raises on purpose."""


class WriteError(Selma3dError, OSError):
    """A file could not be written (disk full, read-only folder); nothing earlier was lost.

    Also an ``OSError``, so code that handles a failed write as one keeps doing so; its
    ``errno`` and ``strerror`` may be set (an atomic writer around the failed write then names
    its own file), and its text is always its message.
    """

    def __str__(self) -> str:
        return Exception.__str__(self)


class ConfigError(Selma3dError):
    """A configuration file or option is invalid; the message names the file and the field."""


class ProblemsError(Selma3dError):
    """An input with every problem found in it listed at once.

    Parameters
    ----------
    source : str
        The file (or a description of the input) the problems were found in.
    problems : list of str
        Every problem found, each naming its row, case or field.
    shown : int, keyword-only
        At most this many problems are spelled out in the message; all are kept in ``problems``.
    """

    def __init__(self, source: str, problems: list[str], *, shown: int = 50) -> None:
        self.source = source
        self.problems = list(problems)
        listed = self.problems[:shown]
        more = len(self.problems) - len(listed)
        lines = "\n".join(f"  - {p}" for p in listed)
        tail = f"\n  ... and {more} more" if more > 0 else ""
        super().__init__(f"{source}: {len(self.problems)} problem(s):\n{lines}{tail}")


class ResultsError(ProblemsError):
    """A results table is invalid; each problem names its row and column."""
