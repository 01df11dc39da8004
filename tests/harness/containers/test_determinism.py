"""Two runs of a case compared voxel by voxel: run.json's ``determinism``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.assets import asset_dir
from harness.containers.determinism import (
    NOTHING_OK,
    RerunPlan,
    compare_runs,
    outcome_stands,
    plan_rerun,
)
from harness.containers.records import CaseRecord
from harness.split.manifest import Case

TEMPLATE = asset_dir("submissions") / "template"
MISBEHAVING = Path(__file__).resolve().parents[2] / "integration" / "misbehaving"


def test_two_runs_of_a_case_are_compared_voxel_by_voxel():
    first = np.zeros((2, 3, 4), np.uint8)
    first[0, 0, :2] = 1
    second = first.copy()
    second[0, 0, 0] = 0  # one voxel lost
    second[1, 2, 3] = 1  # one voxel gained: 2 of 2*3*4 = 24 differ
    assert compare_runs("c1", first, second) == {
        "case_id": "c1",
        "status": "ok",
        "identical": False,
        "differing_voxels": 2,
        "reason": "2 of 24 voxels differ between two runs of the same case",
    }
    same = compare_runs("c1", first, first.astype(bool))
    assert (same["identical"], same["differing_voxels"], same["reason"]) == (True, 0, "")
    # A second run that failed compares nothing and flags nothing.
    failed = compare_runs("c1", first, None, status="timeout", reason="ran over 30 s")
    assert failed == {
        "case_id": "c1",
        "status": "timeout",
        "identical": None,
        "reason": "the second run ended timeout: ran over 30 s; nothing was compared",
    }
    with pytest.raises(ValueError, match=r"shape \(2, 3, 4\).*\(2, 3, 5\)"):
        compare_runs("c1", first, np.zeros((2, 3, 5), np.uint8))


CASES = tuple(
    Case(case_id, "vessel", "vessels", (Path(f"/data/{case_id}.nii.gz"),), None)
    for case_id in ("c1", "c2", "c3")
)


def records(**statuses: str) -> dict[str, CaseRecord]:
    return {
        case_id: CaseRecord(case_id, status, 0, 1.0, None, "sha256:a", "", "r1")
        for case_id, status in statuses.items()
    }


def plan(recorded, previous=None, *, ran=True, stopped=False) -> RerunPlan:
    return plan_rerun(CASES, recorded, previous, ran=ran, stopped=stopped)


def test_the_first_ok_case_in_split_order_is_run_again():
    # Records in another order than the split's: the split's order decides.
    assert plan(records(c3="ok", c2="ok", c1="timeout")) == RerunPlan(case=CASES[1])
    assert plan(records(c1="ok", c2="ok")).case.case_id == "c1"


def test_no_ok_case_records_nothing_ok_and_runs_nothing():
    for recorded in (records(), records(c1="failed", c2="timeout", c3="infrastructure_error")):
        chosen = plan(recorded)
        assert chosen.case is None
        assert chosen.outcome == {
            "case_id": None,
            "identical": None,
            "reason": "no case was ok: nothing to compare",
        }
    # A copy: what a caller records is not the module's constant.
    assert plan(records()).outcome is not NOTHING_OK


def test_a_run_the_canary_stopped_is_not_checked():
    assert plan(records(c1="ok", c2="failed"), stopped=True) == RerunPlan()
    assert plan(records(c1="failed"), stopped=True) == RerunPlan()


def test_an_outcome_that_stands_is_kept_until_cases_run_again():
    compared = {"case_id": "c1", "status": "ok", "identical": True, "differing_voxels": 0}
    charged = {"case_id": "c1", "status": "timeout", "identical": None, "reason": "t"}
    engine = {"case_id": "c1", "status": "infrastructure_error", "identical": None, "reason": "e"}
    ok = records(c1="ok", c2="ok")
    assert plan(ok, compared, ran=False) == RerunPlan()
    assert plan(ok, charged, ran=False) == RerunPlan()
    # The engine's failure is never charged: the check is made again.
    assert plan(ok, engine, ran=False) == RerunPlan(case=CASES[0])
    # "Nothing ok" does not stand: a case may be ok now.
    assert plan(ok, NOTHING_OK, ran=False) == RerunPlan(case=CASES[0])
    # Cases ran in this call (the first ok case may have changed): made again.
    assert plan(records(c1="failed", c2="ok"), compared, ran=True) == RerunPlan(case=CASES[1])
    assert (outcome_stands(compared), outcome_stands(charged), outcome_stands(engine)) == (
        True,
        True,
        False,
    )
    assert (outcome_stands(NOTHING_OK), outcome_stands(None)) == (False, False)
