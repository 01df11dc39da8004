"""The run folder's one owner: the resume check, records merged and appended, run.json, the lock."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from common.errors import Selma3dError
from harness.containers.images import ImageInfo
from harness.containers.limits import Limits
from harness.containers.records import CaseRecord, read_records
from harness.containers.run_config import RunConfig
from harness.containers.run_folder import RunFolder, RunIdentity, run_identity
from harness.errors import SubmissionError
from harness.predictions.validate import BinarizeRule, GateOptions
from harness.split.manifest import load_split
from harness.split.synth import synthesize_split

IMAGE = ImageInfo("team/seg:1", "sha256:aaa", "1000")
MODEL = {"source": "/models/v1.tar.gz", "sha256": "sha256:m1", "size_bytes": 10}


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("run_folder") / "split"
    synthesize_split(root, cases=3, size=(16, 16, 16), seed=3)
    return load_split(root)


def identity(split, **changes) -> RunIdentity:
    base = {"image": IMAGE, "split": split, "contract": "grand-challenge", "model": MODEL}
    return RunIdentity(**{**base, **changes})


def record(case_id: str, status: str = "ok", attempt: int = 1) -> CaseRecord:
    return CaseRecord(
        case_id=case_id,
        status=status,
        exit_code=0,
        wall_time_s=1.0,
        peak_memory_bytes=None,
        image_digest=IMAGE.digest,
        reason="",
        attempt=attempt,
        prediction=f"predictions/{case_id}.nii.gz" if status == "ok" else "",
        log=f"logs/{case_id}.log",
    )


def started(path: Path, split, **changes) -> None:
    """A run folder holding one finished case, closed again."""
    with RunFolder.open(path, identity(split, **changes), config=RunConfig().as_record()) as f:
        f.append(record(split.case_ids[0]))
        f.write(state="finished")


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        ({"model": {**MODEL, "sha256": "sha256:m2"}}, SubmissionError, "two models"),
        ({"model": None}, SubmissionError, "model sha256:m1, but this run's model is none"),
        ({"image": ImageInfo("team/seg:1", "sha256:bbb", "1000")}, SubmissionError, "two images"),
        ({"contract": "folder"}, Selma3dError, "a 'grand-challenge' run; this run uses 'folder'"),
        (
            {"gate": GateOptions(binarize=BinarizeRule(threshold=0.5))},
            Selma3dError,
            "masks judged with foreground > 0, geometry voxel; this run uses foreground >= 0.5",
        ),
        (
            {"gate": GateOptions(geometry="strict")},
            Selma3dError,
            "this run uses foreground > 0, geometry strict",
        ),
    ],
)
def test_a_run_of_another_model_image_contract_or_gate_is_refused(
    tmp_path, split, change, error, words
):
    started(tmp_path / "run", split)
    before = (tmp_path / "run" / "run.json").read_bytes()
    with pytest.raises(error) as info:
        RunFolder.open(
            tmp_path / "run", identity(split, **change), config={}, advice="Use a new --out."
        )
    assert words in str(info.value) and str(info.value).endswith("Use a new --out.")
    # Nothing recorded was touched, and the lock was let go.
    assert (tmp_path / "run" / "run.json").read_bytes() == before
    with RunFolder.open(tmp_path / "run", identity(split), config={}) as again:
        assert list(again.records) == [split.case_ids[0]]


def test_every_difference_is_named_at_once_and_the_same_run_resumes(tmp_path, split):
    started(tmp_path / "run", split)
    other = ImageInfo("team/seg:1", "sha256:bbb", "1000")
    with pytest.raises(SubmissionError) as info:
        RunFolder.open(tmp_path / "run", identity(split, image=other, model=None), config={})
    assert "two images" in str(info.value) and "two models" in str(info.value)
    with RunFolder.open(tmp_path / "run", identity(split), config={}) as folder:
        assert [c.case_id for c in folder.pending()] == list(split.case_ids[1:])


def test_the_identity_of_a_run_config_holds_what_a_resumed_run_must_share(tmp_path, split):
    invoke = ImageInfo("team/seg:1", "sha256:aaa", "1000", "invoke")
    config = RunConfig(contract="folder", gate=GateOptions(geometry="strict"), reuse="case")
    made = run_identity(invoke, split, config, MODEL)
    assert made == RunIdentity(
        invoke, split, "folder", model=MODEL, gate=GateOptions(geometry="strict"), reuse="case"
    )
    with RunFolder.open(tmp_path / "run", made, config=config.as_record()) as folder:
        folder.append(record(split.case_ids[0]))
        folder.write(state="finished")
    # Settings a run's results do not depend on (limits, canary, relay) resume it.
    others = replace(config, limits=Limits(timeout_s=5), canary=True, relay_image="sha256:r")
    resumed = run_identity(invoke, split, others, MODEL)
    with RunFolder.open(tmp_path / "run", resumed, config=others.as_record()) as folder:
        assert list(folder.records) == [split.case_ids[0]]
    # Another gate or another server lifetime does not.
    for changed, words in (
        (replace(config, gate=GateOptions()), "this run uses foreground > 0, geometry voxel"),
        (replace(config, reuse="batch"), "servers reused per case; this run reuses them per batch"),
    ):
        with pytest.raises(Selma3dError, match=words):
            RunFolder.open(tmp_path / "run", run_identity(invoke, split, changed, MODEL), config={})


def test_a_run_json_that_records_no_model_resumes_only_without_one(tmp_path, split):
    # As a round's ledger wrote it before models were recorded: image, split and contract.
    folder = tmp_path / "run"
    folder.mkdir()
    old = {
        "image": {"ref": IMAGE.ref, "digest": IMAGE.digest},
        "split": {"root": str(split.root), "content_hash": split.content_hash, "n_cases": 3},
        "contract": "grand-challenge",
    }
    (folder / "run.json").write_text(json.dumps(old))
    with pytest.raises(SubmissionError, match="model none, but this run's model is sha256:m1"):
        RunFolder.open(folder, identity(split), config={})
    RunFolder.open(folder, identity(split, model=None), config={}).close()


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path, split):
    with RunFolder.open(tmp_path / "run", identity(split), config={}):
        with pytest.raises(Selma3dError, match="another selma3d run is writing"):
            RunFolder.open(tmp_path / "run", identity(split), config={})
    RunFolder.open(tmp_path / "run", identity(split), config={}).close()


def test_records_merged_from_elsewhere_and_appended_in_place_agree(tmp_path, split):
    first, second, third = split.case_ids
    attempt = tmp_path / "attempt"
    (attempt / "predictions").mkdir(parents=True)
    (attempt / "logs").mkdir()
    (attempt / "predictions" / f"{first}.nii.gz").write_bytes(b"mask")
    (attempt / "logs" / f"{first}.log").write_text("log\n")
    (attempt / "logs" / f"{second}.log").write_text("log 2\n")
    run = tmp_path / "run"
    with RunFolder.open(run, identity(split), config={}) as folder:
        folder.merge(record(first), attempt)
        folder.merge(record(second, "infrastructure_error"), attempt)
        folder.append(record(third, "failed"))
        # Pending: no record, or one not charged to the team; retry_failed adds the failures.
        assert folder.pending() == [split.cases[1]]
        assert folder.pending(retry_failed=True) == [split.cases[1], split.cases[2]]
        assert folder.attempt_of(folder.pending(retry_failed=True)) == {second: 2, third: 2}
        folder.merge(record(second, "ok", attempt=2), attempt_with(attempt, second))
        folder.write(state="finished")
    assert (run / "predictions" / f"{first}.nii.gz").read_bytes() == b"mask"
    assert {k: r.status for k, r in read_records(run).items()} == {
        first: "ok",
        second: "ok",
        third: "failed",
    }
    meta = json.loads((run / "run.json").read_text())
    assert meta["counts"]["ok"] == 2 and meta["counts"]["failed"] == 1
    assert (meta["state"], meta["passed"], meta["model"]) == ("finished", False, MODEL)
    assert meta["finished_at"] is not None and meta["determinism"] is None


def attempt_with(attempt: Path, case_id: str) -> Path:
    (attempt / "predictions" / f"{case_id}.nii.gz").write_bytes(b"mask 2")
    return attempt


def test_servers_from_elsewhere_are_numbered_on(tmp_path, split):
    with RunFolder.open(tmp_path / "run", identity(split), config={}) as folder:
        folder.add_servers([{"server": 1, "slot": 0}, {"server": 2, "slot": 1}], worker="w1")
        first, added = folder.add_servers([{"server": 1, "slot": 0}], slot=-1)
    assert first == 2 and added == [{"server": 3, "slot": -1}]
    assert [s["server"] for s in folder.servers] == [1, 2, 3]



def test_a_run_folder_of_an_earlier_release_resumes_and_is_marked(tmp_path, split):
    from common.outputs import LOCK_NAME as CLAIM_LOCK
    from common.outputs import MARKER_NAME, read_marker

    started(tmp_path / "old", split)
    # What an earlier release left: run.json, cases.jsonl, .lock, no marker.
    (tmp_path / "old" / MARKER_NAME).unlink()
    (tmp_path / "old" / CLAIM_LOCK).unlink()
    with RunFolder.open(tmp_path / "old", identity(split), config={}) as folder:
        assert set(folder.records) == {split.case_ids[0]}
        assert [c.case_id for c in folder.pending()] == list(split.case_ids[1:])
    assert read_marker(tmp_path / "old")["kind"] == "run"


def test_a_folder_holding_files_selma3d_did_not_write_is_refused_untouched(tmp_path, split):
    from common.errors import ConfigError

    mine = tmp_path / "mine"
    (mine / ".work").mkdir(parents=True)
    (mine / ".work" / "thesis.tex").write_text("chapter 1")
    (mine / "predictions").mkdir()
    with pytest.raises(ConfigError, match="selma3d did not make it"):
        RunFolder.open(mine, identity(split), config={})
    assert sorted(str(p.relative_to(mine)) for p in mine.rglob("*")) == [
        ".work",
        ".work/thesis.tex",
        "predictions",
    ]


def test_an_interrupted_run_json_counts_what_cases_jsonl_holds(tmp_path, split):
    with RunFolder.open(tmp_path / "r", identity(split), config={}) as folder:
        folder.write(state="running")
        folder.append(record(split.case_ids[0]))
        folder.write(state="interrupted")
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    assert run["state"] == "interrupted" and run["finished_at"] is None
    assert run["counts"]["ok"] == 1 and sum(run["counts"].values()) == 1
