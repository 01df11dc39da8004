"""The determinism check: a recorded ``ok`` case run once more, apart; the two masks compared.

The second run is an ordinary run of that one case into a fresh run folder
(:func:`harness.containers.runner.run_submission` with :meth:`RunConfig.for_part` settings): the
same staging, container or invoke server, and verdict as any case. The runner does it in process;
a round sends it to a worker
(:func:`harness.rounds.cluster.run_determinism_task`). Either way :func:`judge_rerun` compares
the new mask with the recorded one. A submission whose two masks differ is flagged in
``run.json`` (``determinism``), never failed: no platform requires determinism, but a
leaderboard reader should know.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harness.containers.records import RunSummary
from harness.errors import Selma3dError
from harness.split.volume import read_volume

__all__ = ["NOTHING_OK", "compare_runs", "judge_rerun"]

NOTHING_OK: dict[str, Any] = {
    "case_id": None,
    "identical": None,
    "reason": "no case was ok: nothing to compare",
}
"""``run.json``'s ``determinism`` when no case was ``ok``."""


def judge_rerun(summary: RunSummary, case_id: str, reference: Path) -> dict[str, Any]:
    """Compare a second run's mask of ``case_id`` (in ``summary``'s folder) with ``reference``.

    Raises
    ------
    Selma3dError
        The second run wrote no record of the case.
    """
    record = summary.records.get(case_id)
    if record is None:
        raise Selma3dError(f"{summary.out_dir}: the runner wrote no record for {case_id}.")
    folder = Path(summary.out_dir)
    second = read_volume(folder / record.prediction).array if record.status == "ok" else None
    return compare_runs(
        case_id,
        read_volume(reference).array,
        second,
        status=record.status,
        reason=record.reason,
    )


def compare_runs(
    case_id: str,
    first: np.ndarray,
    second: np.ndarray | None,
    *,
    status: str = "ok",
    reason: str = "",
) -> dict[str, Any]:
    """How a second run of a case compares with its recorded run: ``run.json``'s ``determinism``.

    Parameters
    ----------
    case_id : str
    first : (Z, Y, X) ndarray
        The recorded mask (0/1).
    second : (Z, Y, X) ndarray or None
        The second run's mask on the same grid; None when the second run was not ``ok``.
    status, reason : str, keyword-only
        The second run's case status and its reason (as in ``cases.jsonl``).

    Returns
    -------
    dict
        ``case_id``; ``status``, the second run's; ``identical``, whether no voxel differs,
        or None when the second run failed (nothing was compared, so nothing is flagged: a
        failure of the rerun is never charged to the team); ``differing_voxels``,
        ``count(first != second)``, when compared; ``reason``, empty when identical.

    Raises
    ------
    ValueError
        The two masks have different shapes.
    """
    if second is None:
        return {
            "case_id": case_id,
            "status": status,
            "identical": None,
            "reason": f"the second run ended {status}: {reason}; nothing was compared",
        }
    if first.shape != second.shape:
        raise ValueError(
            f"case {case_id}: the recorded mask has shape {first.shape}, the second run's "
            f"{second.shape}; both must be on the case's grid."
        )
    differing = int(np.count_nonzero(first != second))
    return {
        "case_id": case_id,
        "status": "ok",
        "identical": differing == 0,
        "differing_voxels": differing,
        "reason": ""
        if differing == 0
        else f"{differing} of {first.size} voxels differ between two runs of the same case",
    }
