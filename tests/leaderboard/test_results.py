"""Validation of the results table: every problem names the file, the row and the column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from common.errors import ResultsError
from leaderboard import compute_leaderboard, read_results
from tests.leaderboard.lb_tables import config, frame, rows

BASE = rows(
    "vessel",
    {
        "A": {"dice": [0.8, 0.6], "cldice": [0.5, 0.7]},
        "B": {"dice": [0.6, 0.8], "cldice": [0.6, 0.6]},
    },
)


def problems_of(table, tmp_path, name="results.csv") -> str:
    path = tmp_path / name
    table.to_csv(path, index=False)
    with pytest.raises(ResultsError) as info:
        compute_leaderboard(read_results(path), config=config(), source=str(path))
    text = str(info.value)
    assert str(path) in text
    return text


def test_missing_columns(tmp_path):
    text = problems_of(frame(BASE).drop(columns=["status", "cldice"]), tmp_path)
    assert "missing column(s) ['status']" in text
    text = problems_of(frame(BASE).drop(columns=["cldice"]), tmp_path)
    assert "['cldice']" in text and "ranked for track 'vessel'" in text


def test_unknown_track_and_status_name_the_line(tmp_path):
    table = frame(BASE)
    table.loc[1, "track"] = "vesel"
    table.loc[2, "status"] = "crashed"
    text = problems_of(table, tmp_path)
    # data row 1 is line 3 of the file (line 1 is the header)
    assert "line 3, column 'track': unknown track 'vesel'" in text
    assert "line 4, column 'status': unknown status 'crashed'" in text


def test_duplicate_rows(tmp_path):
    table = pd.concat([frame(BASE), frame(BASE).iloc[[0]]], ignore_index=True)
    text = problems_of(table, tmp_path)
    assert "duplicate rows for team 'A', case 'vessel_0': line 2, line 6" in text


def test_not_a_number(tmp_path):
    table = frame(BASE).astype({"dice": object})
    table.loc[3, "dice"] = "0.7x"
    text = problems_of(table, tmp_path)
    assert "line 5, column 'dice': expected a number, got '0.7x'" in text


def test_empty_ranked_value_on_ok_row(tmp_path):
    table = frame(BASE)
    table.loc[0, "cldice"] = np.nan
    text = problems_of(table, tmp_path)
    assert "line 2, column 'cldice': empty on an 'ok' row" in text


def test_betti_error_without_value_needs_the_reference():
    table = frame(
        rows(
            "vessel",
            {
                "A": {"dice": [0.8], "cldice": [0.5], "betti0_error": [1.0]},
                "B": {"dice": [0.6], "cldice": [0.6], "betti0_error": [np.nan]},
            },
        )
    )
    table.loc[1, "status"] = "failed"
    with pytest.raises(ResultsError, match=r"betti0_error.*needs the reference"):
        compute_leaderboard(table, config=config(ranked_metrics={"vessel": ["betti0_error"]}))
    # not ranked: shown as an unknown mean, the ranking still runs
    board = compute_leaderboard(table, config=config())
    assert np.isnan(board.table.set_index("team").loc["B", "vessel_betti0_error_mean"])


def test_absent_team_row_cannot_be_filled_for_betti():
    table = frame(
        rows(
            "vessel",
            {
                "A": {"dice": [0.8, 0.7], "cldice": [0.5, 0.5], "betti0_error": [1.0, 2.0]},
                "B": {"dice": [0.6, 0.1], "cldice": [0.6, 0.1], "betti0_error": [0.0, 1.0]},
            },
        )
    ).iloc[:3]
    with pytest.raises(ResultsError, match=r"added row \(team 'B', case 'vessel_1'\)"):
        compute_leaderboard(table, config=config(ranked_metrics={"vessel": ["betti0_error"]}))


def test_case_with_two_tracks_and_two_splits(tmp_path):
    table = frame(BASE)
    table["split_hash"] = ["sha256:a", "sha256:a", "sha256:b", "sha256:a"]
    table.loc[2, "structure"] = "microglia"
    text = problems_of(table, tmp_path)
    assert "rows come from several splits ['sha256:a', 'sha256:b']" in text
    assert "case 'vessel_0', column 'structure': differs between rows" in text


def test_team_called_na_stays_a_name(tmp_path):
    table = frame(
        rows(
            "vessel",
            {
                "NA": {"dice": [0.9], "cldice": [0.9]},
                "B": {"dice": [0.5], "cldice": [0.5]},
            },
        )
    )
    path = tmp_path / "r.csv"
    table.to_csv(path, index=False)
    board = compute_leaderboard(read_results(path), config=config())
    assert list(board.table["team"]) == ["NA", "B"]


def test_parquet_and_unknown_format(tmp_path):
    path = tmp_path / "r.parquet"
    frame(BASE).to_parquet(path)
    board = compute_leaderboard(read_results(path), config=config())
    assert list(board.table["rank"]) == [1, 1]
    with pytest.raises(ResultsError, match=r"unknown format '\.xlsx'"):
        (tmp_path / "r.xlsx").write_text("x")
        read_results(tmp_path / "r.xlsx")
    with pytest.raises(ResultsError, match="file not found"):
        read_results(tmp_path / "none.csv")


def test_split_adds_cases_no_team_has(small_round):
    table = small_round["table"]
    board = compute_leaderboard(
        table[table["case_id"] != "vessel_001"], config=config(), split=small_round["split"]
    )
    completed = board.table.set_index("team")["cases_completed"].to_dict()
    assert completed == {"ada": 2, "bob": 2, "cy": 2}
    assert board.table["failed_missing_output"].tolist() == [1, 1, 1]
    bad = table.copy()
    bad["split_hash"] = "sha256:other"
    with pytest.raises(ResultsError, match="results were computed on sha256:other"):
        compute_leaderboard(bad, config=config(), split=small_round["split"])
