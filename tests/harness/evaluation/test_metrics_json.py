"""metrics.json read within its bounds: each hostile file gives its stated result, quickly."""

import json
import os

import pytest

from harness.evaluation.metrics_json import (
    MAX_METRICS_BYTES,
    MAX_METRICS_DEPTH,
    MAX_NUMBER_CHARS,
    MISSING,
    finite_or_none,
    get_jsonpath,
    parse_metrics,
    read_metrics,
)


def _write(tmp_path, data: bytes):
    path = tmp_path / "metrics.json"
    path.write_bytes(data)
    return read_metrics(path)


def test_nan_and_infinity_are_no_value_each_named_by_its_path(tmp_path):
    read = _write(
        tmp_path,
        b'{"aggregates": {"con_cldice_mean": NaN, "x": [1, Infinity]},'
        b' "results": [{"cldice": -Infinity}, {"pq": 1e999}]}',
    )
    assert read.status == "ok"
    assert read.metrics == {
        "aggregates": {"con_cldice_mean": None, "x": [1, None]},
        "results": [{"cldice": None}, {"pq": None}],
    }
    assert read.non_finite == (
        ("aggregates.con_cldice_mean", "NaN"), ("aggregates.x[1]", "Infinity"),
        ("results[0].cldice", "-Infinity"), ("results[1].pq", "1e999"),
    )
    assert "4 value(s) not finite, kept as no value" in read.notes[0]
    # What selma3d writes of it is strict JSON.
    json.dumps(read.metrics, allow_nan=False)


def test_many_non_finite_values_are_counted_past_the_first_ten():
    data = json.dumps({f"k{i}": float("nan") for i in range(25)}).encode()
    read = parse_metrics(data)
    assert read.notes[0].endswith("and 15 more")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"[" * 200_000 + b"]" * 200_000,
         f"nested 200000 deep; at most {MAX_METRICS_DEPTH} levels are read"),
        (b'{"a": ' * 65 + b"1" + b"}" * 65, "nested 65 deep"),
        (b'{"n": ' + b"7" * 5000 + b"}", f"a number of 5000 characters (777777777777...); at most "
         f"{MAX_NUMBER_CHARS} are read"),
        (b'{"n": 0.' + b"1" * 5000 + b"}", "a number of 5002 characters"),
        (b'{"n": 1e' + b"1" * 200 + b"}", "a number of 202 characters"),
        (b"[1, 2]", "holds a list, not an object"),
        (b"null", "holds a null, not an object"),
        (b"{not json", "is not valid JSON"),
        (b'{"a": "\xff"}', "is not UTF-8 text"),
        (b'"' + b'\\"' * 1_000_000 + b"\\", "is not valid JSON"),
    ],
)
def test_hostile_files_are_invalid_metrics_with_a_clear_reason(tmp_path, data, reason):
    read = _write(tmp_path, data)
    assert read.status == "invalid_metrics" and read.metrics is None
    assert reason in read.reason and read.reason.startswith("/output/metrics.json")


def test_brackets_inside_strings_are_not_nesting():
    read = parse_metrics(b'{"a": "' + b"[{" * 500 + b'"}')
    assert read.status == "ok"


def test_a_file_over_the_size_bound_is_refused_unread(tmp_path):
    path = tmp_path / "metrics.json"
    with open(path, "wb") as fh:
        fh.truncate(MAX_METRICS_BYTES + 1)
    read = read_metrics(path)
    assert read.status == "invalid_metrics"
    assert f"at most {MAX_METRICS_BYTES} are read" in read.reason


def test_a_file_just_under_the_size_bound_is_read(tmp_path):
    values = ",".join(["0.123456789"] * ((MAX_METRICS_BYTES - 100) // 12))
    read = _write(tmp_path, f'{{"a": [{values}]}}'.encode())
    assert read.status == "ok" and len(read.metrics["a"]) > 1_000_000


def test_links_and_folders_are_not_followed(tmp_path):
    assert read_metrics(tmp_path / "metrics.json").status == "missing_metrics"
    (tmp_path / "elsewhere.json").write_text('{"aggregates": {}}')
    os.symlink(tmp_path / "elsewhere.json", tmp_path / "metrics.json")
    read = read_metrics(tmp_path / "metrics.json")
    assert (read.status, read.reason) == (
        "invalid_metrics", "/output/metrics.json is not a regular file"
    )


def test_paths_follow_grand_challenges_syntax():
    # comic/grand-challenge.org, evaluation_extras.get_jsonpath: split on ".", keys only.
    m = {"chips": 21, "spam": {"eggs": 42, "ham": {"beans": 84}}, "l": [{"a": 1}]}
    assert get_jsonpath(m, "chips") == 21
    assert get_jsonpath(m, "spam.ham.beans") == 84
    assert get_jsonpath(m, "spam.eggs") == 42
    assert get_jsonpath(m, "foo") is MISSING
    assert get_jsonpath(m, "spam.foo") is MISSING
    assert get_jsonpath(m, "spam") == m["spam"]
    assert get_jsonpath(m, "") is MISSING
    assert get_jsonpath(m, "l.0.a") is MISSING


def test_finite_or_none_leaves_no_value_json_cannot_hold():
    record = finite_or_none({"a": (1.5, float("-inf")), "b": {"c": float("nan")}, "d": "NaN"})
    assert record == {"a": [1.5, None], "b": {"c": None}, "d": "NaN"}
    json.dumps(record, allow_nan=False)
