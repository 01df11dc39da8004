"""The determinism check: a recorded ``ok`` case run once more, apart; the two masks compared.

The rule, for the runner and a round alike: :func:`plan_rerun` says whether the check is made
and on which case (the first ``ok`` one in split order), or records :data:`NOTHING_OK` when no
case is ``ok``. The second run is an ordinary run of that one case into a fresh run folder
(:func:`harness.containers.runner.run_submission` with :meth:`RunConfig.for_part` settings): the
same staging, container or invoke server, and verdict as any case. The runner does it in process;
a round sends it to a worker
(:func:`harness.rounds.cluster.run_determinism_task`). Either way :func:`judge_rerun` compares
the new mask with the recorded one. A submission whose two masks differ is flagged in
``run.json`` (``determinism``), never failed: no platform requires determinism, but a
leaderboard reader should know.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import Selma3dError
from harness.containers.records import CaseRecord, RunSummary
from harness.containers.run_folder import stands
from harness.split.manifest import Case
from harness.split.volume import read_volume

__all__ = ["NOTHING_OK", "RerunPlan", "compare_runs", "judge_rerun", "outcome_stands", "plan_rerun"]

NOTHING_OK: dict[str, Any] = {
    "case_id": None,
    "identical": None,
    "reason": "no case was ok: nothing to compare",
}
"""``run.json``'s ``determinism`` when no case was ``ok``."""


@dataclass(frozen=True)
class RerunPlan:
    """What the determinism check does for one run: nothing, run a case again, or record.

    Attributes
    ----------
    case : Case or None
        The case to run again; None when no second run is made.
    outcome : dict or None
        ``run.json``'s ``determinism`` to record without a second run (:data:`NOTHING_OK`);
        None otherwise.
    """

    case: Case | None = None
    outcome: Mapping[str, Any] | None = None


def outcome_stands(outcome: Mapping[str, Any] | None) -> bool:
    """Whether a recorded determinism outcome stands, so the check is not made again.

    One stands when it compared two masks, or its second run failed in a way charged to the
    team; one whose second run failed for infrastructure reasons does not, and neither does
    :data:`NOTHING_OK` (a later run may have an ``ok`` case).

    Examples
    --------
    >>> outcome_stands({"case_id": "c1", "status": "ok", "identical": True})
    True
    >>> outcome_stands({"case_id": "c1", "status": "infrastructure_error", "identical": None})
    False
    >>> outcome_stands(NOTHING_OK), outcome_stands(None)
    (False, False)
    """
    return (
        outcome is not None
        and outcome.get("case_id") is not None
        and stands(str(outcome.get("status", "ok")))
    )


def plan_rerun(
    cases: Sequence[Case],
    records: Mapping[str, CaseRecord],
    previous: Mapping[str, Any] | None,
    *,
    ran: bool,
    stopped: bool,
) -> RerunPlan:
    """The determinism check's next step for one run (a runner's or a round's submission).

    Parameters
    ----------
    cases : sequence of Case
        The split's cases, in split order.
    records : mapping of str to CaseRecord
        The newest record of each case.
    previous : mapping or None
        The outcome recorded so far (``run.json``'s ``determinism``).
    ran : bool, keyword-only
        Whether this call ran cases: an outcome recorded before them is made again, since
        the first ``ok`` case may have changed.
    stopped : bool, keyword-only
        Whether the canary stopped the run: nothing is checked then.

    Returns
    -------
    RerunPlan
        Nothing to do when the canary stopped the run, or no case ran and an outcome stands
        (:func:`outcome_stands`); else the first ``ok`` case in split order to run again; else,
        no case being ``ok``, :data:`NOTHING_OK` to record.
    """
    if stopped or (not ran and outcome_stands(previous)):
        return RerunPlan()
    first_ok = next(
        (c for c in cases if c.case_id in records and records[c.case_id].status == "ok"), None
    )
    if first_ok is None:
        return RerunPlan(outcome=dict(NOTHING_OK))
    return RerunPlan(case=first_ok)


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
