"""The leaderboard a round prints on the terminal."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich.console import Console

from harness.rounds.publish import print_summary

BOARD = """\
rank,team,display_name,score,rank_ci_low,rank_ci_high,tied_group,spot_rank,vessel_rank,\
spot_blob_f1_rank,vessel_cldice_rank,spot_blob_f1_mean,vessel_cldice_mean,spot_dice_mean
1,alpha-lab-longname,Alpha,1.0,1,1,1,1,1,1,1,0.8125,0.5,0.9
2,beta,Beta,2.0,2,3,2,2,2,2,2,,0.25,0.1
"""


def test_the_terminal_board_shows_ranks_intervals_and_the_ranked_metrics(tmp_path: Path) -> None:
    (tmp_path / "leaderboard.csv").write_text(BOARD, encoding="utf-8")
    chosen = pd.DataFrame(
        {
            "team": ["alpha-lab-longname"] * 2 + ["beta"] * 2,
            "status": ["ok", "ok", "ok", "timeout"],
            "wall_time_s": [1.0, 2.5, 3.0, 60.0],
        }
    )
    console = Console(width=80, record=True)
    print_summary(chosen, tmp_path, console, {"score": 1.0})
    text = console.export_text()
    rows = [line.split() for line in text.splitlines()]
    lines = {row[1]: row for row in rows if len(row) > 2 and row[0] in ("1", "2")}
    # rank, team, score, interval, tied, spot F1, vessel clDice (the ranked metrics), ok, time
    assert lines["alpha-lab-longname"] == [
        "1",
        "alpha-lab-longname",
        "1.000",
        "1-1",
        "1",
        "0.812",
        "0.500",
        "2/2",
        "3.5",
    ]
    # A team without a value for a metric shows a dash; failed cases count against "ok".
    assert lines["beta"] == ["2", "beta", "2.000", "2-3", "2", "-", "0.250", "1/2", "63.0"]
    assert "…" not in text  # nothing cut at 80 columns
    assert "Dice" not in text.split("─")[0].replace("clDice", "")  # unranked means not shown


def test_a_non_deterministic_team_is_marked_on_the_terminal(tmp_path: Path) -> None:
    (tmp_path / "leaderboard.csv").write_text(BOARD, encoding="utf-8")
    chosen = pd.DataFrame(
        {"team": ["alpha-lab-longname", "beta"], "status": ["ok", "ok"], "wall_time_s": [1.0, 2.0]}
    )
    console = Console(width=80, record=True)
    flagged = {"beta": "case c1: 3 of 8 voxels differ between two runs of the same case"}
    print_summary(chosen, tmp_path, console, {"score": 1.0}, flagged=flagged)
    text = console.export_text()
    rows = [line.split() for line in text.splitlines()]
    assert [row[1:3] for row in rows if row and row[0] in ("1", "2")] == [
        ["alpha-lab-longname", "1.000"],
        ["beta", "\u2020"],
    ]
    assert (
        "\u2020 not deterministic (flagged, not failed): beta, case c1: 3 of 8 voxels differ"
        in " ".join(text.split())
    )
