"""A container's metrics.json beside selma3d's rows: hand-worked values, every difference named."""

import math

import pandas as pd
import pytest

from harness.evaluation.compare import compare_metrics, selma3d_value
from harness.evaluation.forms import CompareTarget, Target

ROWS = [
    {"case_id": "v1", "track": "vessel", "dice": 0.5, "cldice": 0.25, "pq": math.nan},
    {"case_id": "v2", "track": "vessel", "dice": 0.7, "cldice": 0.75, "pq": math.nan},
    {"case_id": "s1", "track": "spot", "dice": 0.2, "cldice": math.nan, "pq": 0.1},
]
NAMES = {"v1.mha": "v1", "v2.mha": "v2", "s1.mha": "s1"}


def _compare(metrics, **kw):
    comparison, problems = compare_metrics(metrics, ROWS, case_of_image=NAMES, **kw)
    assert problems == []
    return comparison


def test_equal_values_give_no_difference_and_stds_are_sample_stds():
    # dice 0.5, 0.7: mean 0.6, sample std sqrt(((-0.1)^2 + 0.1^2) / 1) = 0.1414213562...
    metrics = {
        "aggregates": {
            "con_dice_mean": 0.6,
            "con_dice_std": math.sqrt(0.02),
            "con_cldice_mean": 0.5,
            "iso_dice_mean": 0.2,
            "iso_dice_std": None,  # one case: no standard deviation on either side
            "iso_panoptic_quality_mean": 0.1,
        },
        "results": [{"image_name": "v1.mha", "dice": 0.5, "cldice": 0.25},
                    {"image_name": "s1.mha", "dice": 0.2, "panoptic_quality": 0.1}],
    }
    comparison = _compare(metrics)
    assert comparison.form == "selma3d-2026"
    assert comparison.differences == ()
    assert len(comparison.values) == 6 + 4


def test_each_difference_beyond_1e_9_is_named_with_its_path_and_both_values():
    metrics = {
        "aggregates": {"con_dice_mean": 0.61, "iso_panoptic_quality_mean": 0.1 + 1e-12},
        "results": [{"image_name": "v2.mha", "dice": 0.71, "cldice": 0.75}],
    }
    assert [d.describe() for d in _compare(metrics).differences] == [
        "aggregates.con_dice_mean (dice, vessel, mean): container 0.61 vs selma3d 0.6",
        "results[0].dice (dice, case v2): container 0.71 vs selma3d 0.7",
    ]


def test_a_value_only_one_side_has_differs():
    metrics = {"aggregates": {"con_dice_std": None, "iso_dice_std": 0.0}}
    con, iso = sorted(_compare(metrics).differences, key=lambda d: d.path)
    assert (con.path, con.container) == ("aggregates.con_dice_std", None)
    assert con.selma3d == pytest.approx(math.sqrt(0.02), abs=1e-15)
    assert (iso.path, iso.container, iso.selma3d) == ("aggregates.iso_dice_std", 0.0, None)


def test_unnamed_results_and_unknown_keys_are_noted_not_compared():
    comparison = _compare({"aggregates": {"score": 3}, "results": [{"dice": 0.5}]})
    assert comparison.values == ()
    assert any("aggregates.score" in n for n in comparison.notes)
    assert any("do not name their case" in n for n in comparison.notes)


@pytest.mark.parametrize(
    ("metrics", "problem"),
    [
        ({"aggregates": {"con_dice_mean": "0.9"}}, "aggregates.con_dice_mean is a string ('0.9')"),
        ({"aggregates": {"con_dice_mean": True}}, "aggregates.con_dice_mean is a boolean"),
        ({"results": [{"image_name": "v1.mha", "dice": [1]}]}, "results[0].dice is a list"),
        ({"results": [{"image_name": ["v1.mha"]}]},
         "results[0].image_name is a list, not a string"),
        ({"aggregates": {"con_dice_mean": 0.5}, "results": {"dice": 1}},
         "results is an object, not a list"),
        ({"aggregates": {"dice": {"mean": {"x": 1}}}}, "aggregates.dice.mean is an object"),
        ({"aggregates": {"dice": {"mean": 1}}, "case": {"dice": [0.5]}},
         "case.dice is a list, not an object"),
    ],
)
def test_a_wrong_type_is_named_by_its_path(metrics, problem):
    comparison, problems = compare_metrics(metrics, ROWS, case_of_image=NAMES)
    assert comparison is None
    assert any(problem in p for p in problems), problems


def test_a_file_in_no_known_form_compares_nothing_and_says_how_to_declare():
    comparison = _compare({"score": 0.5})
    assert comparison.form == "unknown" and comparison.values == ()
    assert "evaluation.compare" in comparison.notes[0]


# evalutils' form, worked out by hand: dice of v1, v2, s1 = 0.5, 0.7, 0.2.
# sorted 0.2, 0.5, 0.7: mean 1.4/3, median 0.5, min 0.2, max 0.7, count 3;
# 25%: position 0.5 between 0.2 and 0.5 -> 0.35; 75%: position 1.5 -> 0.6;
# sample std: deviations -4/15, 1/30, 7/30 -> sqrt((16/225 + 1/900 + 49/900) / 2) = sqrt(0.0633..)
EVALUTILS = {
    "aggregates": {
        "DiceCoefficient": {
            "mean": 1.4 / 3, "std": math.sqrt((16 / 225 + 1 / 900 + 49 / 900) / 2),
            "min": 0.2, "max": 0.7, "25%": 0.35, "50%": 0.5, "75%": 0.6, "count": 3,
        },
        "clDice": {"mean": 0.5, "count": 2},
        "pred_fname": {"count": 3, "unique": 3, "top": "v1.mha", "freq": 1},
    },
    "case": {
        "DiceCoefficient": {"0": 0.5, "1": 0.7, "2": 0.2},
        "clDice": {"0": 0.25, "1": 0.75, "2": None},
        "pred_fname": {"0": "/input/x/v1.mha", "1": "/input/y/v2.mha", "2": "s1.mha"},
    },
}


def test_the_evalutils_form_is_detected_and_every_statistic_agrees():
    comparison = _compare(EVALUTILS)
    assert comparison.form == "evalutils"
    assert comparison.differences == ()
    # 8 dice statistics, 2 cldice ones, 3 dice and 3 cldice case values.
    assert len(comparison.values) == 8 + 2 + 3 + 3
    assert any("case: cases named by the column 'pred_fname'" in n for n in comparison.notes)
    assert any("aggregates.pred_fname" in n for n in comparison.notes)


def test_evalutils_pc_keys_and_a_list_of_rows_are_read_too():
    metrics = {
        "aggregates": {"dice": {"25pc": 0.35, "75pc": 0.6}},
        "case": [{"input file name": "v1.mha", "dice": 0.5}, {"input file name": "s1.mha",
                                                              "dice": 0.3}],
    }
    comparison = _compare(metrics)
    assert [d.describe() for d in comparison.differences] == [
        "case[1].dice (dice, case s1): container 0.3 vs selma3d 0.2"
    ]
    assert len(comparison.values) == 4


def test_a_declared_mapping_compares_exactly_its_paths():
    compare = {
        "scores.vessel.dice": CompareTarget(metric="dice", track="vessel", statistic="mean"),
        "scores.all.pq": CompareTarget(metric="pq", statistic="max"),
        "per_case.s1": CompareTarget(metric="dice", case="s1"),
        "absent.path": CompareTarget(metric="dice", statistic="min"),
    }
    metrics = {"scores": {"vessel": {"dice": 0.6}, "all": {"pq": 0.1}}, "per_case": {"s1": 0.25}}
    comparison = _compare(metrics, compare=compare)
    assert comparison.form == "declared"
    assert [d.describe() for d in comparison.differences] == [
        "per_case.s1 (dice, case s1): container 0.25 vs selma3d 0.2",
        "absent.path (dice, all, min): container missing vs selma3d 0.2",
    ]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (Target("dice", "all", "mean"), 1.4 / 3),
        (Target("dice", "all", "median"), 0.5),
        (Target("dice", "vessel", "std"), math.sqrt(0.02)),
        (Target("cldice", "all", "count"), 2.0),
        (Target("pq", "vessel", "mean"), None),
        (Target("pq", "vessel", "count"), 0.0),
        (Target("dice", case="v9"), None),
    ],
)
def test_selma3d_values_match_pandas_describe_and_hand_values(target, expected):
    value = selma3d_value(target, ROWS)
    if expected is None:
        assert value is None
    else:
        assert value == pytest.approx(expected, abs=1e-15)
    if target.statistic in ("25%", "50%", "75%", "std", "mean") and target.track == "all":
        described = pd.DataFrame(ROWS)[target.metric].describe()
        assert value == pytest.approx(described[target.statistic], abs=1e-15)


def test_quartiles_are_pandas_describe_quartiles():
    frame = pd.DataFrame(ROWS)
    described = frame["dice"].describe()
    for stat in ("25%", "50%", "75%", "std", "min", "max", "count"):
        assert selma3d_value(Target("dice", "all", stat), ROWS) == pytest.approx(
            float(described[stat]), abs=1e-15
        )
