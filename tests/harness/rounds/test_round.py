"""A round's output folder (its own or an earlier release's taken, a user's refused); early ends."""

from __future__ import annotations

import gc
import warnings

import pytest
import yaml

import docker
from common.errors import ConfigError
from common.outputs import MARKER_NAME, claim_folder, read_marker
from harness.errors import ClusterError
from harness.rounds import round as round_module
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


def test_an_early_end_whose_engine_is_gone_keeps_its_own_error(tmp_path):
    # A real client of an engine that is not there: every call fails to connect.
    engine = docker.DockerClient(base_url=f"unix://{tmp_path}/gone.sock", version="1.41")
    try:
        remove = round_module._remove_left_containers(engine, tmp_path / "round")
        error = ClusterError("the scheduler at tcp://10.0.0.9:8786 is gone")
        assert remove(ClusterError, error, None) is False  # the round's own error goes on
        assert error.__notes__[0].startswith("the round's containers could not be removed: ")
        assert remove(None, None, None) is False  # a normal end asks the engine nothing
    finally:
        engine.close()
        # The SDK leaves its failed connection's socket to the collector: collected here, where
        # it is known to come from, so that no later test is blamed for it.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
