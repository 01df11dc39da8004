"""The harness's exceptions: one tree, so callers can react to each kind differently.

``HarnessError`` is the root. A CLI catches it, prints its message (which names the file, the case
and what was expected) and exits non-zero; anything else escaping is a bug.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "EngineError",
    "HarnessError",
    "SplitError",
    "SubmissionError",
    "VolumeError",
]


class HarnessError(Exception):
    """Base class of every error the harness raises on purpose."""


class ConfigError(HarnessError):
    """A configuration file or option is invalid; the message names the file and the field."""


class VolumeError(HarnessError):
    """A volume cannot be read or written: unreadable, truncated, not 3D, unknown format."""


class SplitError(HarnessError):
    """A split (manifest plus volumes) is invalid.

    Parameters
    ----------
    manifest : str
        Path of the manifest the problems were found in.
    problems : list of str
        Every problem found, each naming its row; loading reports all of them at once.
    """

    def __init__(self, manifest: str, problems: list[str]) -> None:
        self.manifest = manifest
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{manifest}: {len(self.problems)} problem(s):\n{lines}")


class SubmissionError(HarnessError):
    """A submission (container image or its outputs) breaks the contract."""


class EngineError(HarnessError):
    """The Docker engine is unreachable or failed; never charged to a team."""
