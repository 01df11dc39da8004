"""The report's section on grand-challenge's leaderboard renders the table it is given."""

from __future__ import annotations

from leaderboard.gc_report import grand_challenge_section, rank_differences

TABLE = {
    "headers": ["rank", "team", "submission", "rank_score", "Dice"],
    "rows": [[1, "b", "s01", 1, "0.900"], [2, "a", "s00", 2, "0.800"], [3, "b", "s00", 3, "0.7"]],
    "hidden": [{"team": "c", "submission": "s00", "reason": "no number at dice in metrics.json"}],
    "settings": {"scoring_method_choice": "abs", "result_display_choice": "all"},
}


def test_every_team_ranked_differently_is_named_with_both_ranks() -> None:
    # selma3d: a 1, b 2, c 3. grand-challenge: b's best row 1, a 2, c no row.
    assert rank_differences(TABLE, {"a": 1, "b": 2, "c": 3}) == [
        ("a", 1, 2), ("b", 2, 1), ("c", 3, None),
    ]
    assert rank_differences(TABLE, {"b": 1, "a": 2}) == []


def test_the_section_shows_rows_hidden_results_and_differences() -> None:
    names = {"a": "Alpha <lab>", "b": "Beta", "c": "Gamma"}
    html = grand_challenge_section(
        {"grand_challenge_leaderboard": TABLE}, names, {"a": 1, "b": 2, "c": 3}
    )
    assert html is not None
    assert html.count('<tr data-team="b">') == 2 and "0.900" in html
    assert "Alpha &lt;lab&gt;: selma3d rank 1, grand-challenge rank 2" in html
    assert "Beta: selma3d rank 2, grand-challenge rank 1" in html
    assert "Gamma: selma3d rank 3, grand-challenge no row" in html
    assert "Gamma / s00: no number at dice in metrics.json" in html
    assert grand_challenge_section({}, names, {}) is None
