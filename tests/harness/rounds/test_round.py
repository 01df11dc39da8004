"""A round's output folder: its own (or an earlier release's) is taken, a user's is refused."""

from __future__ import annotations

import pytest
import yaml

from common.errors import ConfigError
from common.outputs import MARKER_NAME, claim_folder, read_marker
from harness.rounds.config import load_round_config
from harness.rounds.round import is_round_folder, run_round


def test_a_round_folder_of_an_earlier_release_is_taken_as_the_rounds(tmp_path):
    out = tmp_path / "out"
    (out / "runs" / "team" / "s00").mkdir(parents=True)
    (out / "runs" / "team" / "s00" / "run.json").write_text("{}")
    (out / "scores").mkdir()
    (out / "results.csv").write_text("team,case_id\n")
    with claim_folder(out, kind="round", legacy=is_round_folder):
        pass
    assert read_marker(out)["kind"] == "round"


@pytest.mark.parametrize("extra", ["thesis.tex", "data"])
def test_anything_else_beside_a_rounds_files_is_not_a_round_folder(tmp_path, extra):
    out = tmp_path / "out"
    (out / "runs").mkdir(parents=True)
    (out / extra).write_text("mine")
    assert not is_round_folder(out)
    assert not is_round_folder(tmp_path)  # holds only "out"


def test_run_round_refuses_a_users_folder_before_anything_is_written(tmp_path):
    from harness.split.synth import synthesize_split

    split = synthesize_split(tmp_path / "split", cases=2, size=(8, 8, 8), seed=0, progress=False)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "leaderboard.csv").write_text("mine\n")
    path = tmp_path / "round.yaml"
    path.write_text(yaml.safe_dump({
        "name": "r", "output": str(mine), "phases": {"final": {"split": str(split.root)}},
        "phase": "final", "teams": [{"name": "a", "image": "no/such:1"}],
    }))
    with pytest.raises(ConfigError, match="selma3d did not make it"):
        run_round(load_round_config(path))
    assert sorted(p.name for p in mine.iterdir()) == ["leaderboard.csv"]
    assert not (mine / MARKER_NAME).exists()
