import json
import xml.etree.ElementTree as ET
from xml.dom import minidom

import pytest

from common.status import FAILURES
from harness.rounds.check import (
    CaseOutcome,
    CheckReport,
    TimeEstimate,
    advice_for,
    estimate_time,
    write_json_report,
    write_junit,
)

LIMITS = {"timeout_s": 60.0, "memory": "2g"}


def outcome(case_id, status, **kw):
    base = dict(reason="", exit_code=0, wall_time_s=1.5, peak_memory_bytes=10**8, voxels=96**3)
    base.update(kw)
    return CaseOutcome(case_id=case_id, status=status, **base)


@pytest.mark.parametrize(
    "status, reason, needle",
    [
        ("timeout", "", "after 60 s"),
        ("oom", "", "2g memory limit"),
        ("failed", "exit code 3", "exited with code 3"),
        ("missing_output", "", "/output/images/x/"),
        ("invalid_output", "shape (5, 6, 7) differs from input (7, 6, 5)", "transposed"),
        ("invalid_output", "contains NaN", "np.nan_to_num"),
        ("invalid_output", "output is a symbolic link", "links are refused"),
        ("infrastructure_error", "daemon", "not counted against you"),
    ],
)
def test_advice_names_the_limit_and_the_fix(status, reason, needle):
    text = advice_for(
        status, reason=reason, limits=LIMITS, exit_code=3, output_hint="/output/images/x/"
    )
    assert needle in text


@pytest.mark.parametrize("status", FAILURES)
def test_every_failure_status_has_advice(status):
    text = advice_for(status, reason="x", limits=LIMITS, exit_code=1, output_hint="/output")
    assert text.startswith("The ") and len(text) > 25


def test_advice_for_ok_is_empty_and_unknown_status_raises():
    assert advice_for("ok", reason="", limits=LIMITS, exit_code=0, output_hint="") == ""
    with pytest.raises(ValueError, match="unknown status 'exploded'"):
        advice_for("exploded", reason="", limits=LIMITS, exit_code=0, output_hint="")


@pytest.mark.parametrize(
    "reason",
    [
        "POST /invoke answered HTTP 500 where 201 means done; body: KeyError: 'socket'; "
        "log tail:\nTraceback (most recent call last):\nKeyError: 'socket'",
        "the server never answered GET /health with 200 within 300 s (--startup-timeout); "
        "last try: HTTP 503; log tail:\nloading",
        "; log tail:\nonly a log",
    ],
)
def test_invoke_advice_never_ends_in_an_empty_log_tail(reason):
    """The log tail is printed below the advice; the advice never announces an empty one."""
    text = advice_for("failed", reason=reason, limits=LIMITS, exit_code=None, output_hint="")
    assert "log tail" not in text
    assert text.startswith("The invoke server failed: ")
    assert "Traceback" not in text and "\n" not in text


def test_billed_time_is_startup_plus_case():
    from harness.rounds.check import _billed_time

    timed = [
        outcome("a", "ok", wall_time_s=1.0, startup_s=4.0),
        outcome("b", "ok", wall_time_s=2.0, startup_s=6.0),
        outcome("c", "ok", wall_time_s=3.0, startup_s=5.0),
    ]
    billed = _billed_time(timed, "case")
    # Medians: start-up 5, case 2, start-up + case of (5, 8, 8) -> 8.
    assert (billed.startup_s, billed.case_s, billed.per_case_s) == (5.0, 2.0, 8.0)
    assert "start-up 5.0 s + case 2.0 s = 8.0 s" in billed.describe()
    assert _billed_time([outcome("a", "ok")], "batch") is None  # an exec image: no start-up


def test_estimate_uses_the_median_rate_per_voxel():
    # Rates: 1 s/Mvox, 2 s/Mvox, 10 s/Mvox (a cold start) -> median 2 s per megavoxel.
    est = estimate_time(
        [1.0, 4.0, 10.0],
        [10**6, 2 * 10**6, 10**6],
        hidden_cases=30,
        hidden_voxels_per_case=4 * 10**6,
        jobs=3,
    )
    assert est.seconds_per_megavoxel == pytest.approx(2.0)
    # 30 cases x 4 Mvox x 2 s/Mvox / 3 jobs = 80 s.
    assert est.estimated_s == pytest.approx(80.0)
    assert "120 megavoxels" in est.describe()


@pytest.mark.parametrize(
    "times, voxels, kw",
    [
        ([], [], {}),
        ([1.0], [1, 2], {}),
        ([1.0], [1], {"jobs": 0}),
    ],
)
def test_estimate_rejects_bad_input(times, voxels, kw):
    args = dict(hidden_cases=1, hidden_voxels_per_case=1, jobs=1)
    args.update(kw)
    with pytest.raises(ValueError):
        estimate_time(times, voxels, **args)


def make_report(statuses):
    cases = [
        outcome(f"c{i}", s, reason="boom" if s != "ok" else "") for i, s in enumerate(statuses)
    ]
    est = TimeEstimate(
        seconds_per_megavoxel=1.0, hidden_cases=4, hidden_megavoxels=4.0, jobs=1, estimated_s=4.0
    )
    return CheckReport(
        image="team/seg:v1",
        image_digest="sha256:abc",
        split_hash="sha256:def",
        contract="grand-challenge",
        limits=LIMITS,
        cases=cases,
        estimate=est,
    )


def test_passed_only_when_every_case_is_ok():
    assert make_report(["ok", "ok"]).passed
    assert not make_report(["ok", "timeout"]).passed
    assert not make_report([]).passed


def test_junit_has_one_testcase_per_case_and_failures_by_status(tmp_path):
    path = write_junit(make_report(["ok", "oom", "missing_output"]), tmp_path / "check.xml")
    root = ET.parse(path).getroot()
    assert root.tag == "testsuite"
    assert (root.get("tests"), root.get("failures")) == ("3", "2")
    cases = root.findall("testcase")
    assert [c.get("name") for c in cases] == ["c0", "c1", "c2"]
    assert cases[0].find("failure") is None
    assert [c.find("failure").get("type") for c in cases[1:]] == ["oom", "missing_output"]


def test_junit_holds_a_coloured_log_as_text_a_parser_reads(tmp_path):
    # What tqdm, loguru or rich print: colour codes, a carriage return, a bell.
    log = "\x1b[31mERROR\x1b[0m 12%|\r 100%\x07 \x00"
    report = make_report(["failed"])
    report.cases[0] = outcome("c0", "failed", reason=f"exit code 1: {log}", log_tail=log)
    path = write_junit(report, tmp_path / "check.xml")
    # An XML parser other than the writer's (expat through minidom) takes the file.
    failure = minidom.parse(str(path)).getElementsByTagName("failure")[0]
    assert failure.getAttribute("message") == (
        "exit code 1: \\x1b[31mERROR\\x1b[0m 12%|\r 100%\\x07 \\x00"
    )
    assert failure.firstChild.data.endswith("\\x1b[31mERROR\\x1b[0m 12%|\n 100%\\x07 \\x00")


def test_json_report_round_trips(tmp_path):
    path = write_json_report(make_report(["ok", "failed"]), tmp_path / "check.json")
    data = json.loads(path.read_text())
    assert data["passed"] is False
    assert [c["status"] for c in data["cases"]] == ["ok", "failed"]
    assert data["estimate"]["estimated_s"] == 4.0
