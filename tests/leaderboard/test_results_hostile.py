"""Results tables with impossible values and hostile text: refused, or written as plain text."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from common.errors import ResultsError
from harness.cli import run
from leaderboard import build_leaderboard
from tests.leaderboard.lb_tables import config, frame, rows


def _spot(teams):
    return frame(rows("spot", {t: {"dice": v, "blob_f1": v} for t, v in teams.items()}))


@pytest.mark.parametrize(("value", "shown"), [(1000.0, "1000.0"), (-0.5, "-0.5"),
                                              (math.inf, "inf")])
def test_a_metric_outside_its_bounds_is_refused_naming_team_case_column_value(
    tmp_path, value, shown
):
    table = _spot({"strong": [0.9, 0.9], "weak": [0.1, value]})
    with pytest.raises(ResultsError) as err:
        build_leaderboard(table, tmp_path, config=config(), progress=False)
    text = str(err.value)
    assert (
        f"row 3 (team 'weak', case 'spot_1'), column 'dice': value {shown} is outside the bounds "
        "[0, 1] and must be finite"
    ) in text
    assert not (tmp_path / "leaderboard.csv").exists()


def test_an_infinite_count_is_refused_from_a_csv_with_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    table = _spot({"a": [0.5, 0.5], "b": [0.4, 0.4]})
    table["blob_fp"] = [0, 1, 2, "inf"]
    table.to_csv(tmp_path / "r.csv", index=False)
    assert run(["leaderboard", str(tmp_path / "r.csv"), "--out", str(tmp_path / "lb"),
                "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "line 5 (team 'b', case 'spot_1'), column 'blob_fp': value inf is outside" in err


def test_formulas_are_neutralised_in_csv_and_html_escaped_in_markdown(tmp_path):
    table = _spot({"=HYPERLINK(\"http://x\")": [0.9, 0.9], "<b>bold</b>": [0.5, 0.5]})
    table["display_name"] = table["team"]
    build_leaderboard(table, tmp_path, config=config(), progress=False)
    csv = pd.read_csv(tmp_path / "leaderboard.csv", dtype=str, keep_default_na=False)
    assert "'=HYPERLINK(\"http://x\")" in set(csv["team"]) | set(csv["display_name"])
    assert not any(str(v).startswith("=") for v in csv.to_numpy().ravel())
    md = (tmp_path / "leaderboard.md").read_text()
    assert "&lt;b&gt;bold&lt;/b&gt;" in md and "<b>" not in md
    html = (tmp_path / "index.html").read_text()
    assert "<b>bold</b>" not in html


def test_unknown_columns_are_reported(tmp_path, capsys):
    table = _spot({"a": [0.5, 0.5], "b": [0.4, 0.4]})
    table["dice_score"] = 1.0  # a typo of a metric name
    table.to_csv(tmp_path / "r.csv", index=False)
    assert run(["leaderboard", str(tmp_path / "r.csv"), "--out", str(tmp_path / "lb")]) == 0
    assert "ignored column(s) dice_score" in capsys.readouterr().out


def test_a_team_with_only_invalid_rows_cannot_come_first_whatever_its_cells_say(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "400")
    # 'cheat' claims Dice and blob F1 of 1.0 on rows whose predictions were refused; 'honest'
    # scored 0.5 and 0.6. Scored at the worst value (0), cheat comes last.
    table = _spot({"cheat": [1.0, 1.0], "honest": [0.5, 0.6]})
    table.loc[table["team"] == "cheat", "status"] = "invalid_output"
    table.to_csv(tmp_path / "r.csv", index=False)
    assert run(["leaderboard", str(tmp_path / "r.csv"), "--out", str(tmp_path / "lb"),
                "--quiet"]) == 0
    board = pd.read_csv(tmp_path / "lb" / "leaderboard.csv", keep_default_na=False)
    assert board.sort_values("rank")["team"].tolist() == ["honest", "cheat"]


def test_a_fractional_count_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    table = _spot({"a": [0.5, 0.5], "b": [0.4, 0.4]})
    table["blob_tp"] = [1, 1.5, 2, 3]
    table.to_csv(tmp_path / "r.csv", index=False)
    assert run(["leaderboard", str(tmp_path / "r.csv"), "--out", str(tmp_path / "lb"),
                "--quiet"]) == 2
    err = capsys.readouterr().err
    assert ("line 3 (team 'a', case 'spot_1'), column 'blob_tp': value 1.5 is not a whole "
            "number; blob_tp is a count") in err
