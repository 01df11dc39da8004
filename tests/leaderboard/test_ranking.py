"""Rankings checked against values worked out by hand (comments show the arithmetic)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leaderboard import compute_leaderboard, holm_adjust, rank_min
from tests.leaderboard.lb_tables import config, frame, rows

VESSEL_TIES = rows(
    "vessel",
    {
        # dice means: A 0.7, B 0.7, C 0.5 -> ranks 1, 1, 3
        # cldice means: A 0.6, B 0.6, C 0.9 -> ranks 2, 2, 1
        "A": {"dice": [0.8, 0.6], "cldice": [0.5, 0.7]},
        "B": {"dice": [0.6, 0.8], "cldice": [0.6, 0.6]},
        "C": {"dice": [0.5, 0.5], "cldice": [0.9, 0.9]},
    },
)
SPOT = rows(
    "spot",
    {
        # dice: A 0.9, B 0.5, C 0.7 -> 1, 3, 2; blob_f1: A 0.8, B 0.4, C 0.6 -> 1, 3, 2
        "A": {"dice": [0.9, 0.9], "blob_f1": [0.8, 0.8]},
        "B": {"dice": [0.5, 0.5], "blob_f1": [0.4, 0.4]},
        "C": {"dice": [0.7, 0.7], "blob_f1": [0.6, 0.6]},
    },
)


def ranks(board) -> dict[str, int]:
    return dict(zip(board.table["team"], board.table["rank"], strict=True))


def column(board, name) -> dict[str, float]:
    return dict(zip(board.table["team"], board.table[name], strict=True))


def test_ties_share_the_lowest_rank():
    board = compute_leaderboard(frame(VESSEL_TIES), config=config())
    # track rank = mean metric rank: A (1+2)/2, B (1+2)/2, C (3+1)/2
    assert column(board, "vessel_rank") == {"A": 1.5, "B": 1.5, "C": 2.0}
    assert ranks(board) == {"A": 1, "B": 1, "C": 3}
    assert list(board.table["team"]) == ["A", "B", "C"]
    assert column(board, "vessel_dice_mean") == pytest.approx({"A": 0.7, "B": 0.7, "C": 0.5})


def test_overall_is_the_mean_of_track_ranks():
    board = compute_leaderboard(frame(VESSEL_TIES, SPOT), config=config())
    # spot ranks A 1, B 3, C 2; overall A (1.5+1)/2 = 1.25, B (1.5+3)/2 = 2.25, C (2+2)/2 = 2
    assert column(board, "spot_rank") == {"A": 1.0, "B": 3.0, "C": 2.0}
    assert column(board, "score") == {"A": 1.25, "B": 2.25, "C": 2.0}
    assert list(board.table["team"]) == ["A", "C", "B"]
    assert ranks(board) == {"A": 1, "C": 2, "B": 3}


def test_missing_case_scores_worst_and_is_counted():
    table = frame(VESSEL_TIES)
    # A has no row for vessel_1: it becomes missing_output with dice = cldice = 0.
    table = table[~((table["team"] == "A") & (table["case_id"] == "vessel_1"))]
    board = compute_leaderboard(table, config=config())
    # dice means: A 0.4, B 0.7, C 0.5 -> 3, 1, 2; cldice: A 0.25, B 0.6, C 0.9 -> 3, 2, 1
    # track: A 3, B 1.5, C 1.5
    assert column(board, "vessel_dice_mean") == pytest.approx({"A": 0.4, "B": 0.7, "C": 0.5})
    assert column(board, "vessel_rank") == {"A": 3.0, "B": 1.5, "C": 1.5}
    assert ranks(board) == {"B": 1, "C": 1, "A": 3}
    assert column(board, "cases_completed") == {"A": 1, "B": 2, "C": 2}
    assert column(board, "cases_total") == {"A": 2, "B": 2, "C": 2}
    assert column(board, "failed_missing_output") == {"A": 1, "B": 0, "C": 0}
    filled = board.results.frame.set_index(["team", "case_id"]).loc[("A", "vessel_1")]
    assert filled["status"] == "missing_output" and filled["dice"] == 0.0


def test_failed_row_with_empty_values_gets_worst_values():
    table = frame(VESSEL_TIES)
    mask = (table["team"] == "C") & (table["case_id"] == "vessel_0")
    table.loc[mask, "status"] = "timeout"
    table.loc[mask, ["dice", "cldice"]] = np.nan
    board = compute_leaderboard(table, config=config())
    # C: dice (0 + 0.5)/2 = 0.25, cldice (0 + 0.9)/2 = 0.45 -> C last on both
    assert column(board, "vessel_dice_mean")["C"] == pytest.approx(0.25)
    assert column(board, "vessel_cldice_mean")["C"] == pytest.approx(0.45)
    assert column(board, "failed_timeout") == {"A": 0, "B": 0, "C": 1}
    assert ranks(board) == {"A": 1, "B": 1, "C": 3}


def test_lower_is_better_metric_ranks_ascending():
    table = frame(
        rows(
            "vessel",
            {
                "A": {"dice": [0.9], "cldice": [0.9], "betti0_error": [3.0]},
                "B": {"dice": [0.1], "cldice": [0.1], "betti0_error": [1.0]},
                "C": {"dice": [0.5], "cldice": [0.5], "betti0_error": [2.0]},
            },
        )
    )
    board = compute_leaderboard(table, config=config(ranked_metrics={"vessel": ["betti0_error"]}))
    assert ranks(board) == {"B": 1, "C": 2, "A": 3}
    assert column(board, "vessel_betti0_error_mean") == {"A": 3.0, "B": 1.0, "C": 2.0}


def test_aggregation_per_structure_averages_structures():
    values = {
        "A": {"dice": [0.9, 0.9, 0.1], "blob_f1": [0.0] * 3},
        "B": {"dice": [0.5, 0.5, 0.9], "blob_f1": [0.0] * 3},
        "C": {"dice": [0.6, 0.6, 0.5], "blob_f1": [0.0] * 3},
    }
    table = frame(rows("spot", values, cases=["s1", "s2", "s3"]))
    table.loc[table["case_id"] == "s3", "structure"] = "cell_nucleus"
    cfg = {"ranked_metrics": {"spot": ["dice"]}}
    # per track: means A 1.9/3, B 1.9/3, C 1.7/3 -> 1, 1, 3
    pooled = compute_leaderboard(table, config=config(**cfg))
    assert ranks(pooled) == {"A": 1, "B": 1, "C": 3}
    # per structure: cfos A 0.9, B 0.5, C 0.6 -> 1, 3, 2; nucleus A 0.1, B 0.9, C 0.5 -> 3, 1, 2
    # track score = mean over structures: A 2, B 2, C 2 -> all rank 1
    split = compute_leaderboard(table, config=config(aggregation="structure", **cfg))
    assert column(split, "spot:cfos_rank") == {"A": 1.0, "B": 3.0, "C": 2.0}
    assert column(split, "spot:cell_nucleus_rank") == {"A": 3.0, "B": 1.0, "C": 2.0}
    assert column(split, "spot_rank") == {"A": 2.0, "B": 2.0, "C": 2.0}
    assert ranks(split) == {"A": 1, "B": 1, "C": 1}


def test_rank_then_aggregate():
    table = frame(
        rows(
            "vessel",
            {
                # case 0 ranks: A 1, B 2, C 3; case 1: A 3, B 1, C 1 (tie)
                "A": {"dice": [0.9, 0.1], "cldice": [0.0, 0.0]},
                "B": {"dice": [0.8, 0.8], "cldice": [0.0, 0.0]},
                "C": {"dice": [0.7, 0.8], "cldice": [0.0, 0.0]},
            },
        )
    )
    cfg = {"ranked_metrics": {"vessel": ["dice"]}}
    board = compute_leaderboard(table, config=config(scheme="rank-then-aggregate", **cfg))
    # mean case ranks: A 2, B 1.5, C 2
    assert column(board, "vessel_dice_mean_case_rank") == {"A": 2.0, "B": 1.5, "C": 2.0}
    assert ranks(board) == {"B": 1, "A": 2, "C": 2}
    # aggregate-then-rank differs: means A 0.5, B 0.8, C 0.75
    other = compute_leaderboard(table, config=config(**cfg))
    assert ranks(other) == {"B": 1, "C": 2, "A": 3}


def test_rank_min_matches_pandas():
    rng = np.random.default_rng(3)
    for _ in range(20):
        x = rng.integers(0, 4, size=7).astype(float)
        expected = pd.Series(x).rank(method="min", ascending=False).astype(int).tolist()
        assert rank_min(x, higher_is_better=True).tolist() == expected


def test_holm_by_hand():
    # sorted 0.001*4=0.004, 0.01*3=0.03, 0.02*2=0.04, 0.5*1 -> 0.5
    p = np.array([0.02, 0.5, 0.001, 0.01])
    assert holm_adjust(p).tolist() == pytest.approx([0.04, 0.5, 0.004, 0.03])


def test_directions_come_from_the_registry(monkeypatch):
    import metrics

    spec = metrics.METRICS["betti0_error"]
    assert spec.higher_is_better is False
    table = frame(
        rows(
            "vessel",
            {
                "A": {"dice": [0.9], "cldice": [0.9], "betti0_error": [3.0]},
                "B": {"dice": [0.1], "cldice": [0.1], "betti0_error": [1.0]},
            },
        )
    )
    from leaderboard import metric_info

    monkeypatch.setattr(metric_info, "higher_is_better", lambda name: True)
    flipped = compute_leaderboard(table, config=config(ranked_metrics={"vessel": ["betti0_error"]}))
    assert ranks(flipped) == {"A": 1, "B": 2}
