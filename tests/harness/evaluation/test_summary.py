"""A run in words and columns: every compared value as a table, container columns per case or
per track."""

import math

import pandas as pd

from harness.evaluation.compare import compare_metrics
from harness.evaluation.run import EvaluationRun
from harness.evaluation.summary import add_container_columns, summary_lines, value_table

ROWS = [
    {"team": "t", "case_id": "v1", "track": "vessel", "dice": 0.5, "cldice": 0.25, "pq": math.nan},
    {"team": "t", "case_id": "v2", "track": "vessel", "dice": 0.7, "cldice": 0.75, "pq": math.nan},
    {"team": "t", "case_id": "s1", "track": "spot", "dice": 0.2, "cldice": math.nan, "pq": 0.1},
]
NAMES = {"v1.mha": "v1", "v2.mha": "v2", "s1.mha": "s1"}


def _record(metrics):
    comparison, problems = compare_metrics(metrics, ROWS, case_of_image=NAMES)
    assert not problems
    return comparison.as_record()


def test_every_value_is_a_row_of_the_table_also_when_nothing_differs():
    record = _record({"aggregates": {"con_dice_mean": 0.6, "iso_dice_mean": 0.2}})
    lines = value_table(record)
    assert lines[0].split() == ["path", "selma3d", "value", "container", "selma3d"]
    assert lines[1].split() == ["aggregates.con_dice_mean", "dice,", "vessel,", "mean", "0.6",
                                "0.6"]
    assert len(lines) == 3 and not any("differs" in line for line in lines)
    run = EvaluationRun(status="ok", comparison=record)
    text = "\n".join(summary_lines(run, table=True))
    assert "metrics.json form: selma3d-2026 (detected)" in text
    assert "2 value(s) compared with selma3d's: no difference beyond 1e-09" in text
    assert "aggregates.iso_dice_mean" in text


def test_a_difference_is_marked_in_the_table_and_listed_without_it():
    record = _record({"aggregates": {"con_dice_mean": 0.61}})
    assert value_table(record)[1].endswith("differs")
    run = EvaluationRun(status="ok", comparison=record)
    assert summary_lines(run)[-1] == (
        "    aggregates.con_dice_mean (dice, vessel, mean): container 0.61 vs selma3d 0.6"
    )


def test_container_columns_hold_case_values_where_cases_are_named():
    record = _record({"results": [{"image_name": "v1.mha", "dice": 0.5, "cldice": 0.2},
                                  {"image_name": "s1.mha", "dice": 0.3}]})
    frame = add_container_columns(pd.DataFrame(ROWS), {("t",): record}, keys=("team",))
    assert frame["container_dice"].tolist()[0] == 0.5 and frame["container_dice"].tolist()[2] == 0.3
    assert math.isnan(frame["container_dice"].tolist()[1])
    assert frame["container_cldice"].tolist()[0] == 0.2
    assert frame["container_scope"].tolist() == ["case", "", "case"]


def test_results_naming_no_case_give_each_case_its_tracks_mean():
    record = _record({"aggregates": {"con_dice_mean": 0.6, "iso_dice_mean": 0.2,
                                     "con_cldice_mean": 0.5},
                      "results": [{"dice": 0.5}, {"dice": 0.7}, {"dice": 0.2}]})
    frame = add_container_columns(pd.DataFrame(ROWS), {("t",): record}, keys=("team",))
    assert frame["container_dice"].tolist() == [0.6, 0.6, 0.2]
    assert frame["container_cldice"].tolist()[:2] == [0.5, 0.5]
    assert math.isnan(frame["container_cldice"].tolist()[2])
    assert frame["container_scope"].tolist() == ["track mean"] * 3


def test_no_comparison_leaves_the_columns_empty():
    frame = add_container_columns(pd.DataFrame(ROWS), {("t",): None}, keys=("team",))
    assert frame["container_dice"].isna().all() and (frame["container_scope"] == "").all()
