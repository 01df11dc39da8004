"""The public rule: a leaderboard's metadata keeps statuses, numbers and digests, never a log,
a reason quoting one, a path of the organizer's machine or a ground-truth file name."""

from __future__ import annotations

import json

import pytest

from leaderboard.public import EVALUATION_STATUS_TEXT, PUBLIC_FIELDS, public_metadata

SECRETS = (
    "/srv/organizer/hidden/ground-truth.tar.gz",
    "/tmp/selma3d-evaluation-abc/run/container.log",
    "patch_042_vol007_ch0.nii.gz",
    "Traceback (most recent call last)",
    "ERROR reading /opt/ml/input/data/ground_truth",
)


def _hostile_run(status: str) -> dict:
    return {
        "status": status,
        "reason": f"exited with code 3; log tail:\n{SECRETS[3]}\n{SECRETS[4]}",
        "image": "organizer/evaluator:secret-tag",
        "image_digest": "sha256:" + "a" * 64,
        "api_method": "invoke",
        "ground_truth": SECRETS[0],
        "ground_truth_sha256": "sha256:" + "b" * 64,
        "jobs": 2,
        "wall_time_s": 1.5,
        "peak_memory_bytes": 1 << 20,
        "log_tail": "\n".join(SECRETS),
        "log_file": SECRETS[1],
        "comparison": {
            "compared": 1,
            "tolerance": 1e-9,
            "differences": [],
            "values": [{"metric": "con_dice_mean", "case": "all", "container": 0.5,
                        "selma3d": 0.5, "differs": False}],
            "notes": [f"results: {SECRETS[2]!r} is no case of this submission"],
        },
    }


@pytest.mark.parametrize("status", sorted(EVALUATION_STATUS_TEXT))
def test_an_evaluation_record_keeps_numbers_and_digests_and_no_text_of_the_container(status):
    public = public_metadata({"evaluation_container": {"team": _hostile_run(status)}})
    text = json.dumps(public)
    for secret in (*SECRETS, "secret-tag", "log tail"):
        assert secret not in text
    run = public["evaluation_container"]["team"]
    assert run["reason"] == EVALUATION_STATUS_TEXT[status]
    assert run["image_digest"] == "sha256:" + "a" * 64 and run["jobs"] == 2
    assert run["comparison"]["values"][0]["container"] == 0.5
    assert "notes" not in run["comparison"]


def test_a_status_that_is_not_a_word_is_published_as_unknown():
    public = public_metadata({"evaluation_container": {"t": {"status": SECRETS[0]}}})
    assert public["evaluation_container"]["t"]["status"] == "unknown"


def test_determinism_keeps_the_voxel_count_and_never_a_failed_rerun_reason():
    outcomes = {
        "a": {"case_id": "c1", "status": "ok", "identical": False, "differing_voxels": 17,
              "reason": "17 of 11520 voxels differ between two runs of the same case"},
        "b": {"case_id": "c1", "status": "failed", "identical": None,
              "reason": f"the second run ended failed: {SECRETS[3]}; nothing was compared"},
        "c": {"case_id": "c1", "status": "ok", "identical": False, "differing_voxels": 3,
              "reason": SECRETS[4]},
    }
    public = public_metadata({"determinism": outcomes})["determinism"]
    assert public["a"]["reason"] == outcomes["a"]["reason"]
    assert public["b"]["reason"] == "the second run ended failed; nothing was compared"
    assert public["c"]["reason"] == "the two masks differ"


def test_a_key_the_rule_does_not_know_is_refused():
    with pytest.raises(ValueError, match="'log_tail' is not publishable"):
        public_metadata({"round": "r", "log_tail": "x"})
    assert set(public_metadata({k: {} for k in PUBLIC_FIELDS})) == set(PUBLIC_FIELDS)


def test_grand_challenges_board_is_published_with_numbers_only_in_its_cells():
    board = {
        "headers": ["rank", "team", "submission", "rank_score", "Dice"],
        "rows": [[1, "a", "s01", 1.5, "0.5000"], [2, "b", "s00", 2, "/data/gt/case7.nii.gz"]],
        "shown": [[1, "a", "s01", "1.5", "0.5000 ± 0.0100 (1)"],
                  [2, "b", "s00", "2", "Traceback (most recent call last)"]],
        "hidden": [{"team": "c", "submission": "s00",
                    "reason": "evaluation failed: the evaluation container failed"}],
        "settings": {"score_jsonpath": "aggregates.dice.mean"},
    }
    out = public_metadata({"grand_challenge_leaderboard": board})["grand_challenge_leaderboard"]
    assert out["rows"] == [[1, "a", "s01", 1.5, "0.5000"], [2, "b", "s00", 2, ""]]
    assert out["shown"] == [[1, "a", "s01", "1.5", "0.5000 ± 0.0100 (1)"],
                            [2, "b", "s00", "2", ""]]
    assert out["hidden"] == board["hidden"] and out["settings"] == board["settings"]


def test_a_submission_set_aside_before_it_ran_is_named_with_its_statuss_fixed_text():
    entries = [
        {"team": "cut", "submission": "s0", "source": "/srv/organizer/teams/cut.tar",
         "status": "image_failed", "reason": f"{SECRETS[0]} is cut short; {SECRETS[3]}"},
        {"team": "odd", "submission": "s1", "status": SECRETS[4], "reason": SECRETS[2]},
    ]
    public = public_metadata({"not_ranked": entries})["not_ranked"]
    assert public == [
        {"team": "cut", "submission": "s0", "status": "image_failed",
         "reason": "its image could not be built, loaded or found"},
        {"team": "odd", "submission": "s1", "status": "unknown", "reason": "not run: unknown"},
    ]
