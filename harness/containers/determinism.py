"""The determinism check: a recorded ``ok`` case run once more, apart; the two masks compared."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from harness.containers.invoke_slots import Slot
from harness.containers.isolation import (
    LABEL_OUT_DIR,
    LABEL_RUN_ID,
    run_container,
)
from harness.containers.records import (
    CaseRecord,
)
from harness.containers.run_state import RunState, chmod_tree
from harness.containers.verdicts import case_verdict
from harness.split.manifest import Split
from harness.split.volume import read_volume

__all__ = ["compare_runs", "rerun_one"]


def rerun_one(run: RunState, split: Split, records: dict[str, CaseRecord]) -> dict[str, Any]:
    """Run the first ``ok`` case once more, apart, and compare its mask with the recorded one.

    A submission whose two masks differ is flagged in ``run.json`` (``determinism``), never
    failed: no platform requires determinism, but a leaderboard reader should know.
    """
    ok = [c for c in split.cases if c.case_id in records and records[c.case_id].status == "ok"]
    if not ok:
        return {"case_id": None, "identical": None, "reason": "no case was ok: nothing to compare"}
    case = ok[0]
    work = Path(tempfile.mkdtemp(prefix="rerun-", dir=run.work_root))
    try:
        if run.image.invoke:
            slot = Slot(run, -1)
            try:
                staged = slot.stage(case)
                engine_error = slot.start_server()
                outcome = (
                    slot.server.invoke(timeout_s=run.config.limits.timeout_s)
                    if slot.server is not None
                    else None
                )
                result = outcome.result if outcome is not None else None
                verdict = case_verdict(
                    result,
                    staged,
                    slot.output_dir,
                    contract=run.contract,
                    limits=run.config.limits,
                    gate=run.config.gate,
                    cases_in_run=1,
                    engine_error=engine_error or "the server did not start",
                )
            finally:
                slot.close()
        else:
            input_dir, output_dir = work / "input", work / "output"
            input_dir.mkdir()
            output_dir.mkdir()
            os.chmod(output_dir, 0o777)
            staged = run.contract.stage([case], input_dir)[0]
            chmod_tree(input_dir, dirs=0o755, files=0o644)
            result = run_container(
                run.client,
                run.image,
                input_dir,
                output_dir,
                limits=run.config.limits,
                timeout_s=run.config.limits.timeout_s,
                labels={LABEL_RUN_ID: run.run_id, LABEL_OUT_DIR: str(run.out_dir)},
                log_bytes=run.config.log_bytes,
                model_dir=run.model_dir,
            )
            verdict = case_verdict(
                result,
                staged,
                output_dir,
                contract=run.contract,
                limits=run.config.limits,
                gate=run.config.gate,
                cases_in_run=1,
            )
    finally:
        shutil.rmtree(work)
    first = read_volume(run.out_dir / records[case.case_id].prediction).array
    return compare_runs(
        case.case_id, first, verdict.mask, status=verdict.status, reason=verdict.reason
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
