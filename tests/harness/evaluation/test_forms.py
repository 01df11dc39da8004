"""Which values of a metrics.json are which of selma3d's: detected forms, declared mappings."""

import pytest

from common.errors import ConfigError
from harness.evaluation.forms import detect_form, metric_of_column, plan_comparison
from harness.rounds.config import load_round_config

ROUND = """
name: r
output: out
phases: {final: {split: data}}
phase: final
teams: [{name: a, image: a/b:1}]
evaluation:
  image: e:1
  ground_truth: gt
"""


@pytest.mark.parametrize(
    ("metrics", "form"),
    [
        ({"aggregates": {"con_dice_mean": 0.5}, "results": []}, "selma3d-2026"),
        # grand-challenge-forge's example evaluation: a results list and flat aggregates.
        ({"results": [{"my_metric": 1}], "aggregates": {"my_metric": 0.5}}, "selma3d-2026"),
        ({"aggregates": {"dice": {"mean": 0.5, "std": 0.1}}}, "evalutils"),
        ({"aggregates": {"Dice": {"50pc": 0.5}}, "case": {}}, "evalutils"),
        ({"case": {"dice": {"0": 1.0}}}, "evalutils"),
        ({"score": 1}, "unknown"),
        ({"aggregates": {"score": 1}}, "unknown"),
    ],
)
def test_the_form_is_detected_from_the_shape(metrics, form):
    assert detect_form(metrics) == form


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("dice", ("all", "dice")),
        ("DiceCoefficient", ("all", "dice")),
        ("clDice", ("all", "cldice")),
        ("panoptic_quality", ("all", "pq")),
        ("PQ", ("all", "pq")),
        ("vessel_dice", ("vessel", "dice")),
        ("iso_panoptic_quality", ("spot", "pq")),
        ("Betti0_error", ("all", "betti0_error")),
        ("pred_fname", None),
        ("HausdorffDistance95", None),
    ],
)
def test_columns_are_metrics_by_their_name(column, expected):
    assert metric_of_column(column) == expected


def test_a_per_track_evalutils_column_is_compared_over_its_track():
    plan = plan_comparison(
        {"aggregates": {"vessel_dice": {"mean": 0.6}}},
        case_of_image={}, track_of_case={},
    )
    [entry] = plan.entries
    assert (entry.path, entry.target.track, entry.target.statistic) == (
        "aggregates.vessel_dice.mean", "vessel", "mean",
    )


def test_a_case_table_naming_no_case_is_noted():
    plan = plan_comparison(
        {"aggregates": {"dice": {"mean": 0.6}}, "case": {"dice": {"0": 0.6}, "f": {"0": "x.mha"}}},
        case_of_image={"v1.mha": "v1"}, track_of_case={"v1": "vessel"},
    )
    assert len(plan.entries) == 1
    assert any("no column holds the cases' image file names" in n for n in plan.notes)


def _load(tmp_path, compare: str):
    (tmp_path / "gt").mkdir(exist_ok=True)
    path = tmp_path / "round.yaml"
    path.write_text(ROUND + "  compare:\n" + compare)
    return path


def test_evaluation_compare_is_read_from_the_round_file(tmp_path):
    path = _load(
        tmp_path,
        "    aggregates.DiceVessel.mean: {metric: dice, track: vessel, statistic: mean}\n"
        "    per_case.v1: {metric: cldice, case: vessel_000}\n",
    )
    compare = load_round_config(path).evaluation.compare
    assert compare["aggregates.DiceVessel.mean"].target().describe() == "dice, vessel, mean"
    assert compare["per_case.v1"].target().describe() == "cldice, case vessel_000"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("    a.b: {metric: banana, statistic: mean}\n", "evaluation.compare.a.b.metric"),
        ("    a.b: {metric: dice}\n", "give exactly one of 'statistic'"),
        ("    a.b: {metric: dice, statistic: mean, case: v1}\n", "give exactly one of"),
        ("    a.b: {metric: dice, case: v1, track: spot}\n", "'track' goes with 'statistic'"),
        ("    a.b: {metric: dice, statistic: mode}\n", "evaluation.compare.a.b.statistic"),
        ("    'a..b': {metric: dice, statistic: mean}\n", "'a..b' is not a path of keys"),
        ("    {}\n", "an empty mapping compares nothing"),
    ],
)
def test_a_bad_compare_entry_is_refused_at_load_naming_it(tmp_path, entry, message):
    path = _load(tmp_path, entry)
    with pytest.raises(ConfigError) as info:
        load_round_config(path)
    assert str(path) in str(info.value) and message in str(info.value)
