"""A round's evaluation stage: grand-challenge's leaderboard from each submission's metrics.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from harness.assets import asset_dir
from harness.evaluation.config import LeaderboardSettings
from harness.rounds.evaluation import grand_challenge_leaderboard, write_grand_challenge_csv
from tests.integration.evaluation_support import evaluation_round, run_round, write_team

THRESHOLD = asset_dir("submissions") / "baseline-threshold"
TEMPLATE = asset_dir("submissions") / "template-evaluation"


def _record(metrics: dict | None, status: str = "ok", reason: str = "") -> dict:
    return {"status": status, "reason": reason, "metrics": metrics}


def test_failed_evaluations_are_hidden_and_order_is_the_submission_order(tmp_path: Path) -> None:
    # a/s00 then a/s01 (newer), b/s00 failed. "rec": a's most recent is a/s01 (0.5), so a/s00
    # (0.9) is hidden; b never succeeded: grand-challenge ranks successful evaluations only.
    records = {
        "a/s00": _record({"aggregates": {"con_dice_mean": 0.9}}),
        "a/s01": _record({"aggregates": {"con_dice_mean": 0.5}}),
        "b/s00": _record(None, "timeout", "still running after 60 s"),
    }
    settings = LeaderboardSettings(
        score_jsonpath="aggregates.con_dice_mean", score_title="Dice", result_display_choice="rec"
    )
    table = grand_challenge_leaderboard(
        records, [("a", "s00"), ("a", "s01"), ("b", "s00")], settings
    )
    assert table["headers"] == ["rank", "team", "submission", "rank_score", "Dice"]
    assert table["rows"] == [[1, "a", "s01", 1, "0.5000"]]
    assert table["shown"] == [[1, "a", "s01", "1", "0.5000"]]
    assert table["hidden"] == [
        {"team": "a", "submission": "s00", "reason": "not a's most recent result"},
        {"team": "b", "submission": "s00",
         "reason": "evaluation timeout: the evaluation container ran past its time limit"},
    ]
    json.dumps(table, allow_nan=False)
    path = write_grand_challenge_csv(
        {"headers": ["rank", "team", "submission", "rank_score", "D"],
         "rows": [[1, "-x", "s00", 1.5, "-0.5000"], [2, "b", "s00", 2, ""]]},
        tmp_path,
    )
    # The shown digits are kept and a negative value stays a number; a team name that a
    # spreadsheet would run is neutralised.
    assert path.read_text().splitlines() == [
        "rank,team,submission,rank_score,D", "1,'-x,s00,1.5,-0.5000", "2,b,s00,2.0,",
    ]


@pytest.mark.docker
@pytest.mark.slow
def test_a_round_writes_grand_challenges_board_and_names_rank_differences(tmp_path: Path) -> None:
    from harness.evaluation import write_ground_truth
    from harness.split.synth import synthesize_split

    split = synthesize_split(tmp_path / "split", cases=4, size=(32, 32, 32), seed=5)
    gt = write_ground_truth(split, tmp_path / "ground-truth.tar.gz")
    bright = write_team(tmp_path / "bright")
    out = tmp_path / "round"
    leaderboard = {
        "score_jsonpath": "aggregates.con_dice_mean",
        "score_error_jsonpath": "aggregates.con_dice_std",
        "score_title": "Contiguous Dice",
        "score_decimal_places": 3,
        "extra_results_columns": [
            {"title": "Contiguous clDice", "path": "aggregates.con_cldice_mean", "order": "desc"},
            {"title": "Isolated Dice", "path": "aggregates.iso_dice_mean", "order": "desc"},
            {"title": "Isolated PQ", "path": "aggregates.iso_panoptic_quality_mean",
             "order": "desc"},
        ],
        "scoring_method_choice": "avg",
        "result_display_choice": "all",
    }
    config = evaluation_round(
        "gc",
        out,
        split.root,
        [
            {"name": "threshold", "folder": str(THRESHOLD)},
            # Its last submission (ranked by selma3d) is the threshold team's image again.
            {"name": "bright", "submissions": [{"folder": str(bright)},
                                               {"folder": str(THRESHOLD)}]},
        ],
        {"image": str(TEMPLATE), "ground_truth": str(gt), "leaderboard": leaderboard},
    )
    proc = run_round(config, tmp_path / "round.yaml")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    board = pd.read_csv(out / "leaderboard" / "grand-challenge.csv")
    assert list(board.columns) == [
        "rank", "team", "submission", "rank_score", "Contiguous Dice", "Contiguous clDice",
        "Isolated Dice", "Isolated PQ",
    ]
    # "all": every submission has a row. Expected ranks from selma3d's own per-case scores
    # (the template container computes with the same metrics), ranked by pandas: a metric's
    # rank is grand-challenge's competition rank ("min"), the rank score their mean.
    results = pd.read_csv(out / "results.csv")
    means = results.pivot_table(
        index=["team", "submission"], columns="track", values=["dice", "cldice", "pq"]
    )
    ranked = pd.DataFrame({
        "con_dice": means[("dice", "vessel")], "con_cldice": means[("cldice", "vessel")],
        "iso_dice": means[("dice", "spot")], "iso_pq": means[("pq", "spot")],
    }).rank(method="min", ascending=False)
    score = ranked.mean(axis=1)
    expected_rank = score.rank(method="min").astype(int)
    got = board.set_index(["team", "submission"])
    assert len(got) == 3
    for key, rank in expected_rank.items():
        assert got.loc[key, "rank"] == rank, key
        assert got.loc[key, "rank_score"] == pytest.approx(score[key])
        assert got.loc[key, "Contiguous Dice"] == pytest.approx(
            means.loc[key, ("dice", "vessel")], abs=5e-4
        )
    # bright/s01 is the threshold image: the same metrics.json values, so the same rank.
    assert got.loc[("bright", "s01"), "rank"] == got.loc[("threshold", "s00"), "rank"]
    # The report's section names exactly the teams whose ranks differ (a team's best row).
    selma3d = pd.read_csv(out / "leaderboard" / "leaderboard.csv").set_index("team")["rank"]
    gc_best = board.groupby("team")["rank"].min()
    differing = {t for t in selma3d.index if selma3d[t] != gc_best[t]}
    html = (out / "leaderboard" / "index.html").read_text()
    assert "grand-challenge&#x27;s leaderboard" in html
    section = html.split('id="grand-challenge"')[1].split("</section>")[0]
    named = set(re.findall(r"<li>([^:<]+): selma3d rank", section))
    assert named == differing
    if not differing:
        assert "same rank" in section
    record = json.loads((out / "round.json").read_text())
    assert record["outputs"]["grand_challenge_leaderboard"] == "leaderboard/grand-challenge.csv"
    assert record["evaluation"]["bright/s00"]["metrics"]["aggregates"]["con_dice_mean"] > 0
