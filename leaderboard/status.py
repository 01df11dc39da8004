"""The case statuses: what happened to one case of one submission, in one vocabulary.

The runner writes them, evaluation keeps them, the leaderboard counts them. Every status but
``ok`` scores the worst value of each metric.

=======================  =====================================================================
status                   meaning
=======================  =====================================================================
``ok``                   a valid prediction was produced within the limits
``timeout``              the container ran past the wall-clock limit and was killed
``oom``                  the container exceeded its memory limit and was killed
``failed``               the container exited with a non-zero code
``missing_output``       the container finished but left no prediction
``invalid_output``       the prediction was rejected (unreadable, wrong grid, NaN, a link, ...)
``infrastructure_error`` the Docker engine failed; retried, never charged to the team
=======================  =====================================================================
"""

from __future__ import annotations

__all__ = ["STATUSES"]

STATUSES: tuple[str, ...] = (
    "ok",
    "timeout",
    "oom",
    "failed",
    "missing_output",
    "invalid_output",
    "infrastructure_error",
)
