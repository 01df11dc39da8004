"""A run's records: `cases.jsonl` (newest wins, a cut last line ignored) and `run.json`."""

from __future__ import annotations

import json
import threading

import pytest

from common.errors import Selma3dError
from harness.containers.records import (
    CaseRecord,
    append_record,
    read_case_records,
    read_records,
    read_run,
    write_run,
)


def record(case_id, status, attempt=1):
    return CaseRecord(case_id, status, 0, 1.0, 10, "sha256:x", "", attempt=attempt)


def test_records_newest_wins_and_a_cut_last_line_is_ignored(tmp_path):
    lines = [
        record("a", "failed").to_json(),
        record("b", "ok").to_json(),
        record("a", "ok", 2).to_json(),
    ]
    (tmp_path / "cases.jsonl").write_text("\n".join(lines) + "\n" + '{"case_id": "c", "sta')
    recs = read_records(tmp_path)
    assert sorted(recs) == ["a", "b"]
    assert recs["a"].status == "ok" and recs["a"].attempt == 2
    assert read_case_records(tmp_path / "cases.jsonl")["b"]["status"] == "ok"


def test_a_corrupt_record_in_the_middle_is_an_error(tmp_path):
    (tmp_path / "cases.jsonl").write_text(record("a", "ok").to_json() + "\nnot json\n")
    with pytest.raises(Selma3dError, match="line 2 is not a case record"):
        read_records(tmp_path)


def test_record_fields_are_the_documented_ones():
    keys = set(json.loads(record("a", "ok").to_json()))
    assert {
        "case_id",
        "status",
        "exit_code",
        "wall_time_s",
        "peak_memory_bytes",
        "image_digest",
        "reason",
    } <= keys


def test_appending_keeps_earlier_records_and_writes_one_line_each(tmp_path):
    path = tmp_path / "cases.jsonl"
    lock = threading.Lock()
    append_record(path, record("a", "failed"), lock)
    first = path.read_bytes()
    append_record(path, record("a", "ok", 2), lock)
    assert path.read_bytes().startswith(first)
    assert path.read_text().count("\n") == 2
    assert read_records(tmp_path)["a"].attempt == 2


def test_run_json_round_trips_and_is_replaced_whole(tmp_path):
    assert read_run(tmp_path) == {}
    write_run(tmp_path, {"run_id": "abc", "state": "running"})
    write_run(tmp_path, {"run_id": "abc", "state": "finished"})
    assert (
        tmp_path / "run.json"
    ).read_text() == '{\n  "run_id": "abc",\n  "state": "finished"\n}\n'
    assert read_run(tmp_path) == {"run_id": "abc", "state": "finished"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]
