from pathlib import Path

from common.status import FAILURES, STATUS, STATUSES, status_table_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs" / "runner.md"


def test_statuses_are_the_seven_of_the_contract():
    assert STATUSES == (
        "ok",
        "timeout",
        "oom",
        "failed",
        "missing_output",
        "invalid_output",
        "infrastructure_error",
    )
    assert FAILURES == STATUSES[1:]


def test_only_the_team_s_own_failures_are_charged_to_it():
    charged = {name for name, s in STATUS.items() if s.charged}
    assert charged == {"timeout", "oom", "failed", "missing_output", "invalid_output"}


def test_every_failure_has_its_own_report_mark():
    marks = [STATUS[name].mark for name in FAILURES]
    assert all(len(m) == 1 for m in marks) and len(set(marks)) == len(marks)
    assert STATUS["ok"].mark == ""


def test_docs_show_the_table():
    assert status_table_markdown() in DOCS.read_text(encoding="utf-8")
