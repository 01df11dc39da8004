"""A round's determinism check: one case per submission run again, a random one flagged."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

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
    from harness.containers.images import build_folder

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
