"""The harness's exceptions and the exit codes they map to.

The tree is rooted at :class:`common.errors.Selma3dError` (so the leaderboard, a layer below,
raises into the same tree); the harness adds one kind per stage so callers can react differently.

Exit codes of every ``selma3d`` command:

==  ========================================================================================
0   success
1   the command ran, but the submission did not pass (a case not ``ok``, a check failed)
2   bad input: configuration, split, volume or usage; the message names the file and field
3   the Docker engine or the Dask cluster failed or is unreachable (infrastructure, not the team)
4   an internal error of selma3d itself (a bug: the traceback is printed)
==  ========================================================================================
"""

from __future__ import annotations

# The tree's root and the problems list are common's; only the harness's own kinds are defined
# (and importable) here.
from common.errors import ProblemsError, Selma3dError

__all__ = [
    "EXIT_ABORTED",
    "EXIT_BAD_INPUT",
    "EXIT_ENGINE",
    "EXIT_FAILED",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "ClusterError",
    "EngineError",
    "SplitError",
    "SubmissionError",
    "Terminated",
    "VolumeError",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_ENGINE = 3
EXIT_INTERNAL = 4
EXIT_ABORTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM, as shells report a command stopped by kill or a scheduler


class Terminated(SystemExit):
    """The process was sent SIGTERM (``kill``, a batch system's stop): it ends as on Ctrl-C.

    A :class:`SystemExit`, so no ``except Exception`` takes it for a failure of the work; every
    ``finally`` and context manager on the way out runs (containers removed, records closed).
    """

    def __init__(self) -> None:
        super().__init__(EXIT_TERMINATED)


class VolumeError(Selma3dError):
    """A volume cannot be read or written: unreadable, truncated, not 3D, unknown format."""


class SplitError(ProblemsError):
    """A split (manifest plus volumes) is invalid; each problem names its row.

    ``manifest`` is the manifest's path (also ``source``).
    """

    def __init__(self, manifest: str, problems: list[str]) -> None:
        # Every problem of a split is shown: loading reports all of them at once.
        super().__init__(manifest, problems, shown=len(problems))
        self.manifest = manifest


class SubmissionError(Selma3dError):
    """A submission (container image or its outputs) breaks the contract."""


class EngineError(Selma3dError):
    """The Docker engine is unreachable or failed; never charged to a team."""


class ClusterError(EngineError):
    """The Dask scheduler or its workers failed (lost, unreachable); never charged to a team."""
