"""The round's ledger of a submission: records merged, servers numbered, a changed model refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from common.outputs import LOCK_NAME, MARKER_NAME
from harness.containers.determinism import NOTHING_OK, plan_rerun
from harness.containers.images import ImageInfo, build_folder
from harness.containers.run_config import RunConfig
from harness.containers.run_folder import RunIdentity
from harness.errors import SubmissionError
from harness.rounds.cluster import (
    BatchResult,
    DeterminismResult,
    Ledger,
)
from tests.harness.rounds.cluster.support import (
    MISBEHAVING,
    finish,
    finished,
    model_tarball,
    real_split,
    selma3d,
)


def open_ledger(run_dir: Path, split, digest: str = "sha256:aaa", model=None) -> Ledger:
    identity = RunIdentity(ImageInfo("team/x:1", digest, "1000"), split, "grand-challenge", model)
    return Ledger.open(run_dir, identity, config=RunConfig().as_record())


def rerun_case(ledger: Ledger, split):
    """The case the determinism check runs again on a rerun of the round that runs no case."""
    return plan_rerun(
        split.cases, ledger.records, ledger.determinism, ran=False, stopped=False
    ).case


def test_the_ledger_keeps_one_record_per_case_and_the_newest_files(tmp_path, split):
    run_dir = tmp_path / "runs" / "team" / "s00"
    ledger = open_ledger(run_dir, split)
    first, second, third = split.case_ids
    assert [c.case_id for c in ledger.pending()] == [first, second, third]

    ledger.merge(finished(tmp_path, first, "ok", run_id="a1"))
    ledger.merge(finished(tmp_path, second, "infrastructure_error", run_id="b1"))
    # The same case again (a rerun after an infrastructure failure): replaced, not appended.
    ledger.merge(finished(tmp_path, second, "ok", run_id="b2"))
    ledger.merge(finished(tmp_path, third, "failed", run_id="c1"))

    lines = (run_dir / "cases.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["case_id"] for line in lines) == [first, second, third]
    assert {json.loads(line)["case_id"]: json.loads(line)["run_id"] for line in lines} == {
        first: "a1",
        second: "b2",
        third: "c1",
    }
    assert (run_dir / "predictions" / f"{second}.nii.gz").read_bytes() == b"b2"
    assert (run_dir / "logs" / f"{third}.log").read_text() == "log of c1\n"
    assert not (run_dir / "predictions" / f"{third}.nii.gz").exists()
    # No temporary file is left beside what the ledger wrote (its locks and its folder's marker).
    assert sorted(p.name for p in run_dir.rglob(".*") if p.is_file()) == sorted(
        [".lock", LOCK_NAME, MARKER_NAME]
    )
    meta = json.loads((run_dir / "run.json").read_text())
    assert {k: v for k, v in meta["counts"].items() if v} == {"failed": 1, "ok": 2}
    assert meta["run_id"] and meta["state"] == "running" and meta["model"] is None
    assert meta["image"] == {
        "ref": "team/x:1",
        "digest": "sha256:aaa",
        "user": "1000",
        "api_method": "",
        "volumes": [],
        "run_as": "",
    }

    ledger.close(state="finished")
    assert json.loads((run_dir / "run.json").read_text())["passed"] is False
    with open_ledger(run_dir, split) as reopened:
        assert reopened.pending() == []


def test_a_later_ok_case_removes_nothing_and_a_later_failure_removes_the_stale_mask(
    tmp_path, split
):
    run_dir = tmp_path / "runs" / "team" / "s00"
    ledger = open_ledger(run_dir, split)
    case = split.case_ids[0]
    ledger.merge(finished(tmp_path, case, "ok", run_id="a1"))
    assert (run_dir / "predictions" / f"{case}.nii.gz").is_file()
    ledger.merge(finished(tmp_path, case, "timeout", run_id="a2"))
    assert not (run_dir / "predictions" / f"{case}.nii.gz").exists()
    ledger.close()


def test_infrastructure_failures_stay_pending_and_another_image_is_refused(tmp_path, split):
    run_dir = tmp_path / "runs" / "team" / "s00"
    ledger = open_ledger(run_dir, split)
    case = split.case_ids[1]
    ledger.merge(finished(tmp_path, case, "infrastructure_error", run_id="x"))
    ledger.close()
    with open_ledger(run_dir, split) as again:
        assert case in [c.case_id for c in again.pending()]
    with pytest.raises(SubmissionError, match="refusing to mix two images"):
        open_ledger(run_dir, split, digest="sha256:bbb")
    model = {"source": "/m.tar.gz", "sha256": "sha256:ccc", "size_bytes": 1}
    with pytest.raises(SubmissionError, match="refusing to mix two models"):
        open_ledger(run_dir, split, model=model)


def test_a_batch_is_merged_case_by_case_with_its_servers_numbered_on(tmp_path, split):
    run_dir = tmp_path / "runs" / "team" / "s00"
    ledger = open_ledger(run_dir, split)
    first, second, third = split.case_ids

    def batch(cases: list[str], run_id: str, servers: int) -> BatchResult:
        results = tuple(finished(tmp_path, c, "ok", run_id=run_id, server=1) for c in cases)
        entries = tuple(
            {"server": n, "slot": 0, "cases": len(cases), "startup_s": 2.5, "healthy": True}
            for n in range(1, servers + 1)
        )
        where = {"attempt_dir": results[0].attempt_dir, "worker": "w2", "host": "host"}
        return BatchResult("team/s00", results, entries, **where)

    # Each batch's runner numbers its servers from 1; the round's record numbers them on.
    records = ledger.merge_batch(batch([first, second], "a1", servers=1))
    assert [(r.case_id, r.server) for r in records] == [(first, 1), (second, 1)]
    ledger.merge_batch(batch([third], "b1", servers=1))
    meta = json.loads((run_dir / "run.json").read_text())
    assert [(s["server"], s["worker"], s["cases"]) for s in meta["servers"]] == [
        (1, "w2", 2),
        (2, "w2", 1),
    ]
    lines = [json.loads(line) for line in (run_dir / "cases.jsonl").read_text().splitlines()]
    assert {r["case_id"]: r["server"] for r in lines} == {first: 1, second: 1, third: 2}
    assert (run_dir / "predictions" / f"{second}.nii.gz").read_bytes() == b"a1"
    # Reopened (a rerun), the servers recorded so far stay and the next one is number 3.
    ledger.close()
    reopened = open_ledger(run_dir, split)
    assert reopened.pending() == []
    records = reopened.merge_batch(batch([third], "c1", servers=1))
    assert records[0].server == 3
    assert len(json.loads((run_dir / "run.json").read_text())["servers"]) == 3
    reopened.close()


def test_the_ledger_asks_for_one_determinism_run_and_keeps_what_stands(tmp_path, split):
    run_dir = tmp_path / "runs" / "team" / "s00"
    ledger = open_ledger(run_dir, split)
    first, second, third = split.case_ids
    assert rerun_case(ledger, split) is None  # no ok case to run again
    # Kept without a second run, as the runner keeps it.
    assert ledger.keep_determinism(NOTHING_OK) == NOTHING_OK
    assert json.loads((run_dir / "run.json").read_text())["determinism"] == {
        "case_id": None,
        "identical": None,
        "reason": "no case was ok: nothing to compare",
    }
    ledger.merge(finished(tmp_path, first, "failed", run_id="a1"))
    ledger.merge(finished(tmp_path, second, "ok", run_id="b1"))
    assert rerun_case(ledger, split).case_id == second  # the first ok case

    def outcome(det: dict, servers: tuple = ()) -> DeterminismResult:
        where = {"attempt_dir": tmp_path / "x", "worker": "w2", "host": "host"}
        return DeterminismResult("team/s00", second, det, servers, **where)

    # A second run lost to the engine does not stand: the next rerun asks again.
    infra = {"case_id": second, "status": "infrastructure_error", "identical": None, "reason": "x"}
    ledger.record_determinism(outcome(infra))
    ledger.close()
    with open_ledger(run_dir, split) as again:
        assert rerun_case(again, split).case_id == second
    ledger = open_ledger(run_dir, split)
    differs = {
        "case_id": second,
        "status": "ok",
        "identical": False,
        "differing_voxels": 5,
        "reason": "5 of 13824 voxels differ between two runs of the same case",
    }
    server = {"server": 1, "slot": 0, "cases": 1, "startup_s": 1.5, "healthy": True}
    ledger.record_determinism(outcome(differs, (server,)))
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["determinism"] == differs
    # The second run's server is listed apart (slot -1), numbered on from the round's.
    assert meta["servers"] == [{**server, "slot": -1, "worker": "w2"}]
    ledger.close()
    reopened = open_ledger(run_dir, split)
    assert reopened.determinism == differs and rerun_case(reopened, split) is None
    # Later cases rewrite run.json and keep the outcome.
    reopened.merge(finished(tmp_path, third, "ok", run_id="c1"))
    assert json.loads((run_dir / "run.json").read_text())["determinism"] == differs
    # A second run that failed in a way charged to the team stands too (and flags nothing).
    timed_out = {"case_id": second, "status": "timeout", "identical": None, "reason": "y"}
    reopened.record_determinism(outcome(timed_out))
    reopened.close()
    with open_ledger(run_dir, split) as again:
        assert rerun_case(again, split) is None


@pytest.mark.docker
def test_a_round_resumed_after_a_teams_model_changed_mixes_no_two_models(tmp_path):
    quiet = {"log": lambda message: None}
    build_folder(MISBEHAVING / "_base", "selma3d-test/misbehaving-base:latest", **quiet)
    image = build_folder(
        MISBEHAVING / "invoke" / "server", "selma3d-test/invoke-server:latest", **quiet
    )
    root = real_split(tmp_path / "split", 2)
    model = model_tarball(tmp_path / "model.tar.gz", {"load_s": 0})
    first_sha = "sha256:" + hashlib.sha256(model.read_bytes()).hexdigest()
    config = tmp_path / "round.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "models",
                "output": str(tmp_path / "round"),
                "phases": {"final": {"split": str(root)}},
                "phase": "final",
                "limits": {"timeout_s": 120, "memory": "512m", "cpus": 1, "jobs": 1},
                "canary": False,
                "teams": [{"name": "inv", "image": image.ref, "model": str(model)}],
            }
        )
    )
    code, out = finish(selma3d("round", str(config), start_new_session=True))
    assert code == 0, out
    run_dir = tmp_path / "round" / "runs" / "inv" / "s00"
    (recorded,) = json.loads((tmp_path / "round" / "round.json").read_text())["submissions"]
    assert recorded["model"]["sha256"] == first_sha
    # The round was stopped before its last case was recorded (as a killed round leaves it)...
    lines = (run_dir / "cases.jsonl").read_text().splitlines()
    (run_dir / "cases.jsonl").write_text(lines[0] + "\n")
    kept = (run_dir / "cases.jsonl").read_bytes()
    # ... and the team's model changed in place before the rerun: new weights, same file.
    model_tarball(model, {"load_s": 0, "random": True})

    code, out = finish(selma3d("round", str(config), start_new_session=True))
    # Resuming would finish the run with the new model's mask beside the old model's: refused,
    # naming both models, and nothing recorded changes.
    assert code == 2, f"resumed with another model: {(run_dir / 'cases.jsonl').read_text()}"
    assert "refusing to mix two models" in out and first_sha in out, out
    assert (run_dir / "cases.jsonl").read_bytes() == kept
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["model"]["sha256"] == first_sha
