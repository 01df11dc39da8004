"""grand-challenge's leaderboard on tables worked out by hand from grand-challenge's code.

Each expected board below is derived step by step from comic/grand-challenge.org,
``app/grandchallenge/evaluation/``: ``tasks.calculate_ranks`` orders the phase's successful
evaluations newest first (``order_by("-created")``), filters them by
``result_display_choice`` and calls ``utils.rank_results``, which drops evaluations with an
invalid metric (``Evaluation.invalid_metrics``: value not int/float), ranks each metric path with
``_scores_to_ranks`` (stable sort; an equal score keeps the rank of the first of its group:
1, 2, 2, 4), scores each evaluation with ``Phase.scoring_method`` (``abs``: the first rank, the
score's; ``avg``/``med``: ``statistics.mean``/``median`` of the ranks) and ranks the scores
ascending with ``_scores_to_ranks`` again. Evaluations not ranked get rank 0 and are not shown.
"""

from __future__ import annotations

import json
import math

import pytest
from pydantic import ValidationError

from harness.evaluation.config import LeaderboardSettings
from harness.evaluation.gc_leaderboard import (
    Evaluation,
    board_table,
    calculate_ranks,
    floatformat,
    get_jsonpath,
    stored_metrics,
)


def _evals(*items: tuple[str, dict]) -> list[Evaluation]:
    """Evaluations oldest first, from ``("team/submission", metrics)``."""
    out = []
    for key, metrics in items:
        team, submission = key.split("/")
        out.append(Evaluation(key, team, submission, stored_metrics(metrics)))
    return out


def _ranks(board) -> dict[str, int]:
    return {r.evaluation.key: r.rank for r in board.rows}


def test_absolute_descending_with_ties_and_results_missing_the_score() -> None:
    # Newest first: F, E, D, C, B, A. Invalid (rank 0): F (NaN is stored as null by
    # _create_json_result), E (a string), D (no key). Valid: C 0.8, B 0.9, A 0.8. Sorted
    # descending (stable): B 0.9, C 0.8, A 0.8 -> ranks B 1, C 2, A 2 (A equals C, keeps 2).
    # abs: rank score = the score's rank; ranked ascending: B 1, C 2, A 2.
    evals = _evals(
        ("A/1", {"aggregates": {"dice": {"mean": 0.8}}}),
        ("B/1", {"aggregates": {"dice": {"mean": 0.9}}}),
        ("C/1", {"aggregates": {"dice": {"mean": 0.8}}}),
        ("D/1", {"aggregates": {"dice": {}}}),
        ("E/1", {"aggregates": {"dice": {"mean": "0.95"}}}),
        ("F/1", {"aggregates": {"dice": {"mean": float("nan")}}}),
    )
    settings = LeaderboardSettings(score_jsonpath="aggregates.dice.mean")
    board = calculate_ranks(evals, settings)
    assert _ranks(board) == {"B/1": 1, "A/1": 2, "C/1": 2}
    assert [r.evaluation.key for r in board.rows] == ["B/1", "A/1", "C/1"]
    assert [r.rank_score for r in board.rows] == [1, 2, 2]
    assert set(board.hidden) == {"D/1", "E/1", "F/1"}
    assert "aggregates.dice.mean" in board.hidden["E/1"]


def test_absolute_ascending() -> None:
    # asc: lowest first. A 3.0, B 1.0, C 2.0 -> B 1, C 2, A 3.
    evals = _evals(("A/1", {"hd": 3.0}), ("B/1", {"hd": 1.0}), ("C/1", {"hd": 2.0}))
    board = calculate_ranks(
        evals, LeaderboardSettings(score_jsonpath="hd", score_default_sort="asc")
    )
    assert _ranks(board) == {"B/1": 1, "C/1": 2, "A/1": 3}


def test_absolute_ranks_by_the_score_alone_but_needs_every_ranked_column() -> None:
    # valid_metrics holds the score and "hd" (not excluded): B lacks "hd", so it is filtered
    # out although abs ranks by the score only. A 0.7 vs C 0.6: A 1, C 2.
    evals = _evals(
        ("A/1", {"dice": 0.7, "hd": 9.0}), ("B/1", {"dice": 0.9}), ("C/1", {"dice": 0.6, "hd": 1.0})
    )
    settings = LeaderboardSettings(
        score_jsonpath="dice",
        extra_results_columns=[{"title": "HD", "path": "hd", "order": "asc"}],
    )
    board = calculate_ranks(evals, settings)
    assert _ranks(board) == {"A/1": 1, "C/1": 2}
    assert "hd" in board.hidden["B/1"]


MEAN_SETTINGS = {
    "score_jsonpath": "dice",
    "extra_results_columns": [
        {"title": "HD", "path": "hd", "order": "asc"},
        {"title": "Time", "path": "time", "order": "asc", "exclude_from_ranking": True},
    ],
    "scoring_method_choice": "avg",
}


def test_mean_position_with_an_ascending_column_ties_and_an_excluded_column() -> None:
    # Ranked: dice (desc) and hd (asc); "time" is excluded, so B and D lacking it still rank.
    # Newest first: D, C, B, A.
    # dice desc: A 0.9 -> 1; C 0.8, B 0.8 -> 2, 2; D 0.7 -> 4.
    # hd asc (stable, newest first): D 3, B 3 -> 1, 1; C 4 -> 3; A 5 -> 4.
    # mean: A (1+4)/2 = 2.5, B (2+1)/2 = 1.5, C (2+3)/2 = 2.5, D (4+1)/2 = 2.5.
    # final, ascending: B 1; D, C, A tie at 2.5 -> 2.
    evals = _evals(
        ("A/1", {"dice": 0.9, "hd": 5, "time": 1}),
        ("B/1", {"dice": 0.8, "hd": 3}),
        ("C/1", {"dice": 0.8, "hd": 4, "time": 2}),
        ("D/1", {"dice": 0.7, "hd": 3}),
    )
    board = calculate_ranks(evals, LeaderboardSettings(**MEAN_SETTINGS))
    assert _ranks(board) == {"B/1": 1, "A/1": 2, "C/1": 2, "D/1": 2}
    scores = {r.evaluation.key: r.rank_score for r in board.rows}
    assert scores == {"A/1": 2.5, "B/1": 1.5, "C/1": 2.5, "D/1": 2.5}
    per_metric = {r.evaluation.key: r.rank_per_metric for r in board.rows}
    assert per_metric["A/1"] == {"dice": 1, "hd": 4}
    assert per_metric["D/1"] == {"dice": 4, "hd": 1}
    assert board.hidden == {}


# Three ranked metrics: m1 desc, m2 desc, m3 asc.
# m1: A 0.9, B 0.8, C 0.7 -> A 1, B 2, C 3. m2: the same. m3: B 1, C 2, A 3 -> B 1, C 2, A 3.
# Ranks: A (1, 1, 3), B (2, 2, 1), C (3, 3, 2).
THREE = _evals(
    ("A/1", {"m1": 0.9, "m2": 0.9, "m3": 3}),
    ("B/1", {"m1": 0.8, "m2": 0.8, "m3": 1}),
    ("C/1", {"m1": 0.7, "m2": 0.7, "m3": 2}),
)
THREE_SETTINGS = {
    "score_jsonpath": "m1",
    "extra_results_columns": [
        {"title": "M2", "path": "m2", "order": "desc"},
        {"title": "M3", "path": "m3", "order": "asc"},
    ],
}


def test_mean_position_ties_where_median_position_separates() -> None:
    # avg: A 5/3, B 5/3, C 8/3 -> A and B tie at 1, C 3.
    avg = calculate_ranks(THREE, LeaderboardSettings(**THREE_SETTINGS, scoring_method_choice="avg"))
    assert _ranks(avg) == {"A/1": 1, "B/1": 1, "C/1": 3}
    assert math.isclose(avg.rows[0].rank_score, 5 / 3)
    # med: A median(1, 1, 3) = 1, B median(2, 2, 1) = 2, C median(3, 3, 2) = 3.
    med = calculate_ranks(THREE, LeaderboardSettings(**THREE_SETTINGS, scoring_method_choice="med"))
    assert _ranks(med) == {"A/1": 1, "B/1": 2, "C/1": 3}
    assert [r.rank_score for r in med.rows] == [1, 2, 3]
    # abs: the score (m1) alone: A 1, B 2, C 3.
    absolute = calculate_ranks(THREE, LeaderboardSettings(**THREE_SETTINGS))
    assert _ranks(absolute) == {"A/1": 1, "B/1": 2, "C/1": 3}


MEDIAN_SETTINGS = {
    "score_jsonpath": "dice",
    "extra_results_columns": [
        {"title": "HD", "path": "hd", "order": "asc"},
        {"title": "NSD", "path": "nsd", "order": "desc"},
        {"title": "Time", "path": "time", "order": "asc", "exclude_from_ranking": True},
    ],
}
# Created in this order: A/1, B/1, C/1, D/1, E/1 (E/1 lacks the ranked "hd", B/1 the excluded
# "time").
MEDIAN_EVALS = _evals(
    ("A/1", {"dice": 0.9, "hd": 4, "nsd": 0.5, "time": 10}),
    ("B/1", {"dice": 0.8, "hd": 2, "nsd": 0.7}),
    ("C/1", {"dice": 0.8, "hd": 2, "nsd": 0.6, "time": 5}),
    ("D/1", {"dice": 0.7, "hd": 1, "nsd": 0.7, "time": 1}),
    ("E/1", {"dice": 0.95, "nsd": 0.9, "time": 2}),
)


def test_median_position_with_ties_a_missing_metric_both_orders_and_an_excluded_column() -> None:
    # valid_metrics: dice (desc), hd (asc), nsd (desc); "time" is excluded, so B/1 lacking it
    # still ranks, while E/1 lacking "hd" is filtered out (rank 0). Newest first: D, C, B, A.
    # dice desc: A 0.9 -> 1; C 0.8, B 0.8 -> 2, 2; D 0.7 -> 4.
    # hd asc: D 1 -> 1; C 2, B 2 -> 2, 2; A 4 -> 4.
    # nsd desc: D 0.7, B 0.7 -> 1, 1; C 0.6 -> 3; A 0.5 -> 4.
    # median: A (1, 4, 4) 4; B (2, 2, 1) 2; C (2, 2, 3) 2; D (4, 1, 1) 1.
    # final, ascending: D 1; C, B tie at 2 -> 2; A 4.
    board = calculate_ranks(
        MEDIAN_EVALS, LeaderboardSettings(**MEDIAN_SETTINGS, scoring_method_choice="med")
    )
    assert _ranks(board) == {"D/1": 1, "B/1": 2, "C/1": 2, "A/1": 4}
    assert {r.evaluation.key: r.rank_score for r in board.rows} == {
        "A/1": 4,
        "B/1": 2,
        "C/1": 2,
        "D/1": 1,
    }
    per_metric = {r.evaluation.key: r.rank_per_metric for r in board.rows}
    assert per_metric["B/1"] == {"dice": 2, "hd": 2, "nsd": 1}
    assert per_metric["D/1"] == {"dice": 4, "hd": 1, "nsd": 1}
    assert list(board.hidden) == ["E/1"]
    assert board.hidden["E/1"] == "no number at hd in metrics.json"
    # The same table by mean position: A 9/3 = 3, B 5/3, C 7/3, D 6/3 = 2 -> B 1, D 2, C 3, A 4.
    mean = calculate_ranks(
        MEDIAN_EVALS, LeaderboardSettings(**MEDIAN_SETTINGS, scoring_method_choice="avg")
    )
    assert _ranks(mean) == {"B/1": 1, "D/1": 2, "C/1": 3, "A/1": 4}
    # As leaderboard_row.html shows the excluded column: its value, no position.
    _, shown = board_table(
        board, LeaderboardSettings(**MEDIAN_SETTINGS, scoring_method_choice="med"), shown=True
    )
    assert [row[:4] + row[-1:] for row in shown] == [
        [1, "D", "1", "1", "1.0000"],
        [2, "B", "1", "2", ""],
        [2, "C", "1", "2", "5.0000"],
        [4, "A", "1", "4", "10.0000"],
    ]
    assert shown[1][4:7] == ["0.8000 (2)", "2.0000 (2)", "0.7000 (1)"]


def test_absolute_ascending_with_a_tie_an_invalid_score_and_an_excluded_column() -> None:
    # abs with "hd" ascending as the score and "dice" excluded from ranking: valid_metrics is
    # hd alone, so B/1 lacking dice ranks and D/1, whose hd is a string, does not.
    # Newest first: D, C, B, A; valid C, B, A. hd asc: B 1 -> 1; C 3, A 3 -> 2, 2.
    # Rank score = hd's rank; final: B 1, C 2, A 2.
    evals = _evals(
        ("A/1", {"hd": 3, "dice": 0.9}),
        ("B/1", {"hd": 1}),
        ("C/1", {"hd": 3, "dice": 0.5}),
        ("D/1", {"hd": "n/a", "dice": 0.99}),
    )
    settings = LeaderboardSettings(
        score_jsonpath="hd",
        score_title="HD",
        score_default_sort="asc",
        score_decimal_places=1,
        extra_results_columns=[
            {"title": "Dice", "path": "dice", "order": "desc", "exclude_from_ranking": True}
        ],
    )
    board = calculate_ranks(evals, settings)
    assert _ranks(board) == {"B/1": 1, "A/1": 2, "C/1": 2}
    assert [r.rank_per_metric for r in board.rows] == [{"hd": 1}, {"hd": 2}, {"hd": 2}]
    assert board.hidden == {"D/1": "no number at hd in metrics.json"}
    headers, rows = board_table(board, settings)
    assert headers == ["rank", "team", "submission", "rank_score", "HD", "Dice"]
    assert rows == [
        [1, "B", "1", 1, "1.0", ""],
        [2, "A", "1", 2, "3.0", "0.9"],
        [2, "C", "1", 2, "3.0", "0.5"],
    ]
    # Absolute: leaderboard_row.html shows no position in any cell.
    _, shown = board_table(board, settings, shown=True)
    assert [row[4:] for row in shown] == [["1.0", ""], ["3.0", "0.9"], ["3.0", "0.5"]]


# Created in this order: A/1, B/1, A/2, C/1, A/3, B/2 (B/2 lacks the score).
SEVERAL = _evals(
    ("A/1", {"s": 0.5}),
    ("B/1", {"s": 0.8}),
    ("A/2", {"s": 0.9}),
    ("C/1", {"s": 0.6}),
    ("A/3", {"s": 0.7}),
    ("B/2", {"t": 1.0}),
)


def test_display_all_results() -> None:
    # Every valid one, descending: A/2 0.9, B/1 0.8, A/3 0.7, C/1 0.6, A/1 0.5 -> 1..5.
    board = calculate_ranks(SEVERAL, LeaderboardSettings(score_jsonpath="s"))
    assert _ranks(board) == {"A/2": 1, "B/1": 2, "A/3": 3, "C/1": 4, "A/1": 5}
    assert list(board.hidden) == ["B/2"]


def test_display_most_recent_drops_a_participant_whose_latest_lacks_the_score() -> None:
    # filter_by_creators_most_recent runs on newest first (B/2, A/3, C/1, A/2, B/1, A/1)
    # before invalid metrics are filtered: it keeps B/2, A/3, C/1. rank_results then drops
    # B/2 (no "s"): B has no row. A/3 0.7 -> 1, C/1 0.6 -> 2.
    board = calculate_ranks(
        SEVERAL, LeaderboardSettings(score_jsonpath="s", result_display_choice="rec")
    )
    assert _ranks(board) == {"A/3": 1, "C/1": 2}
    assert "no number at s" in board.hidden["B/2"]
    assert board.hidden["B/1"] == "not B's most recent result"


def test_display_best_per_participant() -> None:
    # Ranks over all (as above): A/2 1, B/1 2, A/3 3, C/1 4, A/1 5. filter_by_creators_best,
    # newest first: B/2 unranked (skipped), A/3 (3) -> best A; C/1 -> C; A/2 (1 < 3) -> A;
    # B/1 -> B; A/1 (5) no. Kept A/2, C/1, B/1, ranked again: A/2 1, B/1 2, C/1 3.
    board = calculate_ranks(
        SEVERAL, LeaderboardSettings(score_jsonpath="s", result_display_choice="bst")
    )
    assert _ranks(board) == {"A/2": 1, "B/1": 2, "C/1": 3}
    assert board.hidden["A/3"] == "not A's best result"


def test_best_per_participant_keeps_the_newest_of_equal_ranks() -> None:
    # D/1 and D/2 both 0.8: both rank 1. Newest first D/2 is seen first; D/1's rank 1 is not
    # < 1, so D/2 stays.
    evals = _evals(("D/1", {"s": 0.8}), ("D/2", {"s": 0.8}))
    settings = LeaderboardSettings(score_jsonpath="s", result_display_choice="bst")
    board = calculate_ranks(evals, settings)
    assert _ranks(board) == {"D/2": 1}


def test_best_per_participant_under_mean_position() -> None:
    # Ranks over all with avg (dice desc, hd asc), newest first X/2, Y/1, X/1:
    # dice: X/1 0.9 -> 1; X/2 0.8, Y/1 0.8 -> 2, 2. hd: X/2 1 -> 1; Y/1 2 -> 2; X/1 3 -> 3.
    # mean: X/1 2, X/2 1.5, Y/1 2 -> X/2 1, X/1 2, Y/1 2. Best of X: X/2. Kept X/2, Y/1;
    # again: dice X/2 0.8, Y/1 0.8 -> 1, 1; hd X/2 1, Y/1 2 -> 1, 2; mean 1, 1.5 -> 1, 2.
    evals = _evals(
        ("X/1", {"dice": 0.9, "hd": 3}),
        ("Y/1", {"dice": 0.8, "hd": 2}),
        ("X/2", {"dice": 0.8, "hd": 1}),
    )
    settings = LeaderboardSettings(
        score_jsonpath="dice",
        extra_results_columns=[{"title": "HD", "path": "hd", "order": "asc"}],
        scoring_method_choice="avg",
        result_display_choice="bst",
    )
    board = calculate_ranks(evals, settings)
    assert _ranks(board) == {"X/2": 1, "Y/1": 2}
    assert [r.rank_score for r in board.rows] == [1, 1.5]


def test_get_jsonpath_follows_objects_only() -> None:
    metrics = {"aggregates": {"dice": {"mean": 0.5, "25%": 0.4}}, "case": [{"dice": 1}]}
    assert get_jsonpath(metrics, "aggregates.dice.25%") == 0.4
    assert get_jsonpath(metrics, "case.0.dice") == ""
    assert get_jsonpath(metrics, "aggregates.dice.mean.x") == ""
    assert get_jsonpath(metrics, "") == ""


def test_floatformat_rounds_the_decimal_text_half_up() -> None:
    # Django's floatformat: Decimal(str(value)).quantize(..., ROUND_HALF_UP); 2.675 is
    # 2.67499999... in binary (Python's own format gives 2.67), its text "2.675" gives 2.68.
    assert f"{2.675:.2f}" == "2.67"
    assert floatformat(2.675, 2) == "2.68"
    assert floatformat(0.1, 4) == "0.1000"
    assert floatformat(3, 0) == "3"
    assert floatformat(2.5, 0) == "3"
    assert floatformat(1.5) == "1.5"
    assert floatformat(4) == "4"
    assert floatformat(True, 2) == "1.00"
    assert floatformat({"a": 1}, 2) == ""


def test_board_table_columns_by_title_and_the_cells_as_shown() -> None:
    # Mean position of dice (desc) and hd (asc), 2 decimal places; "Time" excluded from
    # ranking has no position. A: dice 1, hd 2 -> 1.5; B: dice 2, hd 1 -> 1.5: tie at 1.
    evals = _evals(
        ("A/1", {"dice": {"mean": 0.8765, "std": 0.0123}, "hd": 2.675, "time": 10}),
        ("B/1", {"dice": {"mean": 0.5, "std": 0.1}, "hd": 1.0}),
    )
    settings = LeaderboardSettings(
        score_jsonpath="dice.mean",
        score_error_jsonpath="dice.std",
        score_title="Dice",
        score_decimal_places=2,
        extra_results_columns=[
            {"title": "HD", "path": "hd", "order": "asc", "error_path": "hd_std"},
            {"title": "Time", "path": "time", "order": "asc", "exclude_from_ranking": True},
        ],
        scoring_method_choice="avg",
    )
    board = calculate_ranks(evals, settings)
    headers, rows = board_table(board, settings)
    assert headers == ["rank", "team", "submission", "rank_score", "Dice", "HD", "Time"]
    assert rows == [
        [1, "A", "1", 1.5, "0.88", "2.68", "10.00"],
        [1, "B", "1", 1.5, "0.50", "1.00", ""],
    ]
    # As leaderboard_row.html writes each cell: value, "± error" with an error path (a missing
    # error shows empty), "(position)" for a ranked column when not absolute.
    _, shown = board_table(board, settings, shown=True)
    assert shown == [
        [1, "A", "1", "1.5", "0.88 ± 0.01 (1)", "2.68 ±  (2)", "10.00"],
        [1, "B", "1", "1.5", "0.50 ± 0.10 (2)", "1.00 ±  (1)", ""],
    ]
    json.dumps(rows)  # the table goes into the report's metadata


def test_settings_are_checked_at_load() -> None:
    with pytest.raises(ValidationError, match="scoring_method_choice"):
        LeaderboardSettings(score_jsonpath="a", scoring_method_choice="mean")
    with pytest.raises(ValidationError, match="order"):
        LeaderboardSettings(
            score_jsonpath="a", extra_results_columns=[{"title": "B", "path": "b", "order": "up"}]
        )
    with pytest.raises(ValidationError, match="score_jsonpath"):
        LeaderboardSettings(score_jsonpath="")
    with pytest.raises(ValidationError, match="extra"):
        LeaderboardSettings(score_jsonpath="a", score_sort="asc")
    with pytest.raises(ValidationError, match="used twice"):
        LeaderboardSettings(
            score_jsonpath="a",
            score_title="Dice",
            extra_results_columns=[{"title": "Dice", "path": "b", "order": "asc"}],
        )
