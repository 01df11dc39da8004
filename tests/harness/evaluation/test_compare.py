"""A container's metrics.json beside selma3d's rows: hand-worked values, every difference named."""

import math

import pytest

from leaderboard.container_metrics import compare_container_metrics, metrics_problems

ROWS = [
    {"case_id": "v1", "track": "vessel", "dice": 0.5, "cldice": 0.25, "pq": math.nan},
    {"case_id": "v2", "track": "vessel", "dice": 0.7, "cldice": 0.75, "pq": math.nan},
    {"case_id": "s1", "track": "spot", "dice": 0.2, "cldice": math.nan, "pq": 0.1},
]
NAMES = {"v1.mha": "v1", "v2.mha": "v2", "s1.mha": "s1"}


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
    comparison = compare_container_metrics(metrics, ROWS, case_of_image=NAMES)
    assert comparison.differences == ()
    assert len(comparison.values) == 6 + 4


def test_each_difference_beyond_1e_9_is_named_with_both_values():
    metrics = {
        "aggregates": {"con_dice_mean": 0.61, "iso_panoptic_quality_mean": 0.1 + 1e-12},
        "results": [{"image_name": "v2.mha", "dice": 0.71, "cldice": 0.75}],
    }
    comparison = compare_container_metrics(metrics, ROWS, case_of_image=NAMES)
    assert [d.describe() for d in comparison.differences] == [
        "con_dice_mean (all): container 0.61 vs selma3d 0.6",
        "dice (v2): container 0.71 vs selma3d 0.7",
    ]


def test_a_value_only_one_side_has_differs():
    metrics = {"aggregates": {"con_dice_std": None, "iso_dice_std": 0.0}}
    comparison = compare_container_metrics(metrics, ROWS, case_of_image=NAMES)
    con, iso = sorted(comparison.differences, key=lambda d: d.metric)
    assert (con.metric, con.container) == ("con_dice_std", None)
    assert con.selma3d == pytest.approx(math.sqrt(0.02), abs=1e-15)
    assert (iso.metric, iso.container, iso.selma3d) == ("iso_dice_std", 0.0, None)


def test_unnamed_results_and_unknown_keys_are_noted_not_compared():
    metrics = {"aggregates": {"score": 3}, "results": [{"dice": 0.5}]}
    comparison = compare_container_metrics(metrics, ROWS, case_of_image=NAMES)
    assert comparison.values == ()
    assert any("aggregates.score" in n for n in comparison.notes)
    assert any("do not name their case" in n for n in comparison.notes)


@pytest.mark.parametrize(
    ("metrics", "problem"),
    [
        ({"aggregates": {"con_dice_mean": "0.9"}}, "aggregates.con_dice_mean is '0.9'"),
        ({"aggregates": {"con_dice_mean": True}}, "aggregates.con_dice_mean is True"),
        ({"results": [{"dice": [1]}]}, "results[0].dice is [1]"),
        ({"results": {"dice": 1}}, "results is a dict, not a list"),
        ({}, "neither 'aggregates' nor 'results'"),
        ("text", "holds a str"),
    ],
)
def test_invalid_metrics_are_named(metrics, problem):
    assert any(problem in p for p in metrics_problems(metrics))


def test_the_report_section_names_every_difference_and_the_log_of_a_failure():
    from leaderboard.container_report import container_section

    comparison = compare_container_metrics(
        {"aggregates": {"con_dice_mean": 0.61, "con_cldice_mean": 0.5}}, ROWS, case_of_image=NAMES
    ).as_record()
    body = container_section(
        {"evaluation_container": {
            "a": {"status": "ok", "comparison": comparison, "wall_time_s": 0.8,
                  "peak_memory_bytes": 200 << 20, "image_digest": "sha256:abc"},
            "b": {"status": "failed", "reason": "exited with code 3", "log_tail": "<boom>"},
        }},
        {"a": "Team A", "b": "Team B"},
    )
    assert "1 difference(s) in 2" in body and "200 MiB" in body
    assert "con_dice_mean (all): container 0.61 vs selma3d 0.6" in body
    assert "&lt;boom&gt;" in body and "<boom>" not in body
    assert container_section({}, {}) is None
