"""The canary's rule: only an ok canary case sends the cases held behind it."""

from __future__ import annotations

import pytest

from common.status import STATUSES
from harness.containers.canary import after_canary, canary_split
from harness.containers.records import CaseRecord


def canary(status: str, case_id: str = "vessels_patch001") -> CaseRecord:
    return CaseRecord(
        case_id=case_id,
        status=status,
        exit_code=0 if status == "ok" else 3,
        wall_time_s=2.0,
        peak_memory_bytes=None,
        image_digest="sha256:aaa",
        reason="" if status == "ok" else "exit code 3",
        run_id="r1",
    )


def test_an_ok_canary_sends_the_rest_and_the_run_finishes():
    decision = after_canary(canary("ok"), held=5)
    assert (decision.send_rest, decision.state, decision.reason) == (True, "finished", "")
    # Nothing held: still a finished run.
    assert after_canary(canary("ok"), held=0).state == "finished"


def test_a_canary_not_ok_holds_the_rest_and_says_why():
    decision = after_canary(canary("timeout"), held=3)
    assert (decision.send_rest, decision.state) == (False, "stopped_by_canary")
    assert decision.reason == (
        "the canary case vessels_patch001 is timeout; its other 3 case(s) are not run"
    )


def test_every_status_but_ok_stops_the_run_engine_failures_too():
    # Charged to the team or not: the engine that failed the canary would fail the rest.
    for status in STATUSES:
        if status == "ok":
            continue
        decision = after_canary(canary(status), held=1)
        assert (decision.send_rest, decision.state) == (False, "stopped_by_canary"), status


def test_a_lone_canary_that_fails_stops_the_run_with_nothing_to_tell():
    decision = after_canary(canary("failed"), held=0)
    assert (decision.send_rest, decision.state, decision.reason) == (
        False,
        "stopped_by_canary",
        "",
    )


def test_a_negative_count_of_held_cases_is_refused():
    with pytest.raises(ValueError, match=r"held must be a count of cases \(0 or more\); got -1"):
        after_canary(canary("ok"), held=-1)


def test_the_canary_runs_the_first_case_alone():
    assert canary_split(["a", "b", "c"], canary=True) == (["a"], ["b", "c"])
    assert canary_split(["a"], canary=True) == (["a"], [])
    assert canary_split(["a", "b"], canary=False) is None
    assert canary_split([], canary=True) is None
