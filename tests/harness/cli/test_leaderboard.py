"""``selma3d leaderboard --out DIR`` through the real command line: never over a user's files."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from common.outputs import MARKER_NAME, claim_folder
from tests.leaderboard.lb_tables import frame, rows


def selma3d(*args: str) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=300,
        check=False, env={**os.environ, "COLUMNS": "400"},
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture
def results(tmp_path):
    table = frame(rows("vessel", {"a": {"dice": [0.9, 0.8], "cldice": [0.9, 0.7]},
                                  "b": {"dice": [0.5, 0.6], "cldice": [0.4, 0.6]}}))
    path = tmp_path / "results.csv"
    table.to_csv(path, index=False)
    return path


def leaderboard(results, out):
    return selma3d("leaderboard", str(results), "--out", str(out), "--no-progress")


def test_a_users_index_html_is_never_overwritten(results, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<h1>my lab</h1>")
    code, out = leaderboard(results, site)
    assert code == 2, out
    assert f"--out {site}: the folder is not empty and selma3d did not make it" in out
    assert (site / "index.html").read_text() == "<h1>my lab</h1>"
    assert sorted(p.name for p in site.iterdir()) == ["index.html"]


def test_its_own_folder_is_written_again_and_an_earlier_releases_too(results, tmp_path):
    board = tmp_path / "board"
    assert leaderboard(results, board)[0] == 0
    assert (board / MARKER_NAME).is_file() and (board / "index.html").is_file()
    assert leaderboard(results, board)[0] == 0
    # A round of an earlier release wrote leaderboard/ with its four files and no marker.
    (board / MARKER_NAME).unlink()
    (board / ".selma3d-folder.lock").unlink()
    code, out = leaderboard(results, board)
    assert code == 0, out


def test_out_inside_the_split_is_refused_naming_both(results, tmp_path):
    from harness.split.synth import synthesize_split

    split = synthesize_split(tmp_path / "split", cases=2, size=(8, 8, 8), seed=0, progress=False)
    code, out = selma3d("leaderboard", str(results), "--split", str(split.root), "--out",
                        str(split.root / "board"), "--no-progress")
    assert code == 2, out
    assert f"--out {split.root / 'board'} lies inside the split {split.root}" in out
    assert not (split.root / "board").exists()


def test_a_second_leaderboard_into_a_folder_being_written_is_refused(results, tmp_path):
    board = tmp_path / "board"
    assert leaderboard(results, board)[0] == 0
    before = {p.name: p.read_bytes() for p in board.iterdir() if p.is_file()}
    with claim_folder(board, kind="leaderboard"):  # the first command, still writing
        code, out = leaderboard(results, board)
    assert code == 2, out
    assert out == (
        f"error: --out {board}: another selma3d command is writing into this folder; wait for "
        "it to finish, or give another folder\n"
    )
    assert {p.name: p.read_bytes() for p in board.iterdir() if p.is_file()} == before
