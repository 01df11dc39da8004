"""A round's determinism check: one case per submission run again, a random one flagged."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from harness.containers.images import build_folder
from harness.containers.limits import Limits
from harness.containers.run_config import RunConfig
from harness.containers.runner import run_submission
from harness.split.manifest import load_split
from tests.harness.rounds.cluster.support import (
    MISBEHAVING,
    finish,
    model_tarball,
    real_split,
    selma3d,
)


@pytest.mark.docker
def test_a_round_reruns_one_case_per_submission_once_and_flags_a_random_one(tmp_path):
    quiet = {"log": lambda message: None}
    build_folder(MISBEHAVING / "_base", "selma3d-test/misbehaving-base:latest", **quiet)
    image = build_folder(
        MISBEHAVING / "invoke" / "server", "selma3d-test/invoke-server:latest", **quiet
    )
    root = real_split(tmp_path / "split", 2)
    # One image, two models: "steady" thresholds at the median, "dice" draws a random mask.
    steady = model_tarball(tmp_path / "steady.tar.gz", {})
    dice = model_tarball(tmp_path / "dice.tar.gz", {"random": True})
    out = tmp_path / "round"
    config = tmp_path / "round.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "det",
                "output": str(out),
                "phases": {"final": {"split": str(root)}},
                "phase": "final",
                "limits": {"timeout_s": 120, "memory": "512m", "cpus": 1, "jobs": 2},
                "canary": False,
                "determinism": True,
                "teams": [
                    {"name": "steady", "image": image.ref, "model": str(steady)},
                    {"name": "dice", "image": image.ref, "model": str(dice)},
                ],
            }
        )
    )
    code, first = finish(selma3d("round", str(config), start_new_session=True))
    assert code == 0, first
    # One second run per submission, sent by the organizer (the case tasks rerun nothing).
    assert first.count("determinism: running case") == 2, first
    assert "dice/s00: not deterministic" in first and "steady/s00: deterministic" in first

    case = load_split(root).case_ids[0]  # the first ok case
    meta = {
        team: json.loads((out / "runs" / team / "s00" / "run.json").read_text())
        for team in ("steady", "dice")
    }
    steady_det, dice_det = meta["steady"]["determinism"], meta["dice"]["determinism"]
    assert steady_det == {
        "case_id": case,
        "status": "ok",
        "identical": True,
        "differing_voxels": 0,
        "reason": "",
    }
    assert dice_det["case_id"] == case and dice_det["identical"] is False
    # Two independent fair coin flips per voxel of a 96^3 patch differ on about half of them.
    assert 0.45 * 96**3 < dice_det["differing_voxels"] < 0.55 * 96**3
    # Two servers for the cases (one per batch), one apart for the second run.
    for run_json in meta.values():
        assert [s["slot"] for s in run_json["servers"]] == [0, 0, -1]
        assert {k: n for k, n in run_json["counts"].items() if n} == {"ok": 2}
        assert (run_json["state"], run_json["passed"]) == ("finished", True)
    round_json = json.loads((out / "round.json").read_text())
    by_team = {s["team"]: s["determinism"] for s in round_json["submissions"]}
    assert by_team == {"steady": steady_det, "dice": dice_det}
    # Flagged, not failed: both ranked on every case.
    board = pd.read_csv(out / "leaderboard" / "leaderboard.csv")
    assert sorted(board["team"]) == ["dice", "steady"]
    assert list(board["cases_completed"]) == [2, 2]
    html = (out / "leaderboard" / "index.html").read_text()
    rows = {t: next(r for r in html.split("<tr") if f'data-team="{t}"' in r) for t in by_team}
    assert 'class="nondet"' in rows["dice"] and 'class="nondet"' not in rows["steady"]
    assert 'id="nondeterministic"' in html
    record = json.loads((out / "leaderboard" / "leaderboard.json").read_text())
    assert record["metadata"]["determinism"] == by_team
    assert not list((out / "tasks").rglob("*.jsonl"))  # attempt folders removed

    # The same command again: every case and both outcomes recorded, nothing is sent.
    code, again = finish(selma3d("round", str(config), start_new_session=True))
    assert code == 0, again
    assert "determinism: running case" not in again, again
    for team, before in meta.items():
        after = json.loads((out / "runs" / team / "s00" / "run.json").read_text())
        assert after["determinism"] == before["determinism"]
        assert after["servers"] == before["servers"]


@pytest.mark.docker
def test_a_round_with_no_ok_case_records_what_the_runner_records(tmp_path):
    quiet = {"log": lambda message: None}
    build_folder(MISBEHAVING / "_base", "selma3d-test/misbehaving-base:latest", **quiet)
    image = build_folder(MISBEHAVING / "exit-3", "selma3d-test/exit-3:latest", **quiet)
    root = real_split(tmp_path / "split", 2)
    limits = {"timeout_s": 120, "memory": "512m", "cpus": 1, "jobs": 2}
    out = tmp_path / "round"
    config = tmp_path / "round.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "det",
                "output": str(out),
                "phases": {"final": {"split": str(root)}},
                "phase": "final",
                "limits": limits,
                "canary": False,
                "determinism": True,
                "teams": [{"name": "broken", "image": image.ref}],
            }
        )
    )
    code, first = finish(selma3d("round", str(config), start_new_session=True))
    assert code == 0, first
    # The runner on the same image and split keeps the same record.
    local = run_submission(
        image.ref,
        root,
        tmp_path / "local",
        config=RunConfig(limits=Limits(**limits), determinism=True, progress=False),
    )
    assert {r.status for r in local.records.values()} == {"failed"}
    by_runner = json.loads((tmp_path / "local" / "run.json").read_text())["determinism"]
    run_json = json.loads((out / "runs" / "broken" / "s00" / "run.json").read_text())
    nothing_ok = {
        "case_id": None,
        "identical": None,
        "reason": "no case was ok: nothing to compare",
    }
    assert run_json["determinism"] == by_runner == nothing_ok
    # Every case failed (exit code 3): nothing ran again, and the console says why.
    assert "determinism: running case" not in first, first
    assert "broken/s00: determinism not judged: no case was ok: nothing to compare" in first
    assert (run_json["state"], run_json["servers"]) == ("finished", [])
    round_json = json.loads((out / "round.json").read_text())
    assert [s["determinism"] for s in round_json["submissions"]] == [nothing_ok]
    # Nothing was compared, so nothing is flagged on the leaderboard.
    html = (out / "leaderboard" / "index.html").read_text()
    assert 'class="nondet"' not in html and 'id="nondeterministic"' not in html

    # The same command again records the same, and still sends no task.
    code, again = finish(selma3d("round", str(config), start_new_session=True))
    assert code == 0, again
    assert "determinism: running case" not in again, again
    after = json.loads((out / "runs" / "broken" / "s00" / "run.json").read_text())
    assert after["determinism"] == nothing_ok
