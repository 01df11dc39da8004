"""Real containers, written to misbehave, get the right status and leave harness and host unharmed.

Each image in tests/integration/misbehaving/ is built once per session (offline, cached by the
hash of its folder) and run on a 2-case split of the real light-sheet patches with short
timeouts and small limits.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from harness.containers.images import build_folder
from harness.containers.isolation import LABEL_RUN_ID
from harness.containers.limits import Limits
from harness.containers.records import read_records
from harness.containers.run_config import RunConfig
from harness.containers.runner import run_submission
from harness.split.manifest import load_split, write_manifest
from harness.split.volume import read_volume
from tests.conftest import REAL_PATCHES

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
MISBEHAVING = Path(__file__).resolve().parent / "misbehaving"
TEMPLATE = REPO / "submissions" / "template"
# `_base` holds what every misbehaving image shares; it is built first.
BASE = MISBEHAVING / "_base"
NAMES = sorted(
    p.name
    for p in MISBEHAVING.iterdir()
    if (p / "Dockerfile").is_file() and not p.name.startswith("_")
)


def patch_rows(n: int | None = None) -> list[dict[str, str]]:
    if not REAL_PATCHES.is_dir():
        pytest.fail(f"the real patches are missing: expected them at {REAL_PATCHES}")
    rows = []
    for img in sorted(REAL_PATCHES.glob("*/*.nii.gz")):
        if img.name.endswith("_label.nii.gz"):
            continue
        stem = img.name[: -len(".nii.gz")]
        rows.append(
            {
                "case_id": stem,
                "track": "vessel" if stem.startswith("vessels") else "spot",
                "structure": stem.split("_patch")[0],
                "image": str(img),
                "label": str(img.with_name(f"{stem}_label.nii.gz")),
            }
        )
    assert len(rows) == 6, f"expected 6 patches in {REAL_PATCHES}, found {len(rows)}"
    # One vessel and one spot case first, so a 2-case split covers both tracks.
    rows.sort(
        key=lambda r: (
            not r["case_id"].startswith(("vessels", "cell_nucleus_patch_010")),
            r["case_id"],
        )
    )
    return rows[:n] if n else rows


@pytest.fixture(scope="session")
def client(engine_client):
    return engine_client


@pytest.fixture(scope="session")
def images(client) -> dict[str, str]:
    build_folder(BASE, "selma3d-test/misbehaving-base:latest", client=client, log=lambda m: None)
    built = {}
    for name in [*NAMES, "template"]:
        folder = TEMPLATE if name == "template" else MISBEHAVING / name
        built[name] = build_folder(
            folder, f"selma3d-test/{name}:latest", client=client, log=lambda m: None
        ).ref
    return built


@pytest.fixture(scope="session")
def split2(tmp_path_factory):
    root = tmp_path_factory.mktemp("split2")
    write_manifest(root, patch_rows(2))
    return load_split(root)


@pytest.fixture(scope="session")
def split4(tmp_path_factory):
    root = tmp_path_factory.mktemp("split4")
    write_manifest(root, patch_rows(4))
    return load_split(root)


def fast(**kw) -> RunConfig:
    limits = {"timeout_s": 60, "memory": "512m", "cpus": 1, "jobs": 2}
    limits.update({k: kw.pop(k) for k in list(kw) if k in Limits.model_fields})
    return RunConfig(limits=Limits(**limits), progress=False, **kw)


def leftover_containers(client, run_id: str) -> list:
    # ignore_removed: a case's container may be removed between the list and its inspection.
    return client.containers.list(
        all=True, filters={"label": f"{LABEL_RUN_ID}={run_id}"}, ignore_removed=True
    )


def run(images, client, name, split, tmp_path, **kw):
    summary = run_submission(images[name], split, tmp_path / name, config=fast(**kw), client=client)
    assert leftover_containers(client, summary.run_id) == [], "a container was left behind"
    assert not (tmp_path / name / ".work").exists(), "staging folders were left behind"
    return summary


def statuses(summary) -> set[str]:
    return {r.status for r in summary.records.values()}


def test_template_succeeds_on_the_real_patches(images, client, tmp_path):
    root = tmp_path / "split"
    write_manifest(root, patch_rows())
    split = load_split(root)
    summary = run(images, client, "template", split, tmp_path)
    assert summary.passed, summary.records
    for case in split.cases:
        pred = read_volume(tmp_path / "template" / "predictions" / f"{case.case_id}.nii.gz")
        image = read_volume(case.image)
        assert pred.array.dtype == np.uint8
        assert set(np.unique(pred.array)) <= {0, 1}
        assert image.grid.mismatch(pred.grid) is None
        # The template's rule, recomputed here with SimpleITK's reader: mean + 2 std of the
        # [1, 99.9] percentile-normalised intensities, capped at 0.9.
        arr = sitk.GetArrayFromImage(sitk.ReadImage(str(case.image))).astype(np.float32)
        lo, hi = np.percentile(arr, (1.0, 99.9))
        norm = np.clip((arr - lo) / max(float(hi - lo), 1e-6), 0, 1)
        expected = norm > min(float(norm.mean() + 2 * norm.std()), 0.9)
        assert np.array_equal(pred.array.astype(bool), expected)
    rec = summary.records[split.cases[0].case_id]
    assert rec.exit_code == 0 and rec.peak_memory_bytes and rec.peak_memory_bytes > 10 * 2**20
    assert rec.image_digest == summary.image.digest


def test_sleeping_past_the_timeout_is_killed(images, client, split2, tmp_path):
    t0 = time.monotonic()
    summary = run(images, client, "sleeper", split2, tmp_path, timeout_s=3)
    assert time.monotonic() - t0 < 30
    assert statuses(summary) == {"timeout"}
    assert all(r.exit_code is None and r.wall_time_s < 10 for r in summary.records.values())


def test_allocating_twice_the_memory_limit_is_oom(images, client, split2, tmp_path):
    summary = run(images, client, "memory-hog", split2, tmp_path, memory="128m")
    assert statuses(summary) == {"oom"}, summary.records
    assert all(r.peak_memory_bytes >= 128 * 2**20 for r in summary.records.values())


def test_exit_code_3_is_failed_with_the_log_tail(images, client, split2, tmp_path):
    summary = run(images, client, "exit-3", split2, tmp_path)
    assert statuses(summary) == {"failed"}
    rec = next(iter(summary.records.values()))
    assert rec.exit_code == 3
    assert "exited with code 3" in rec.reason and "model weights not found" in rec.reason
    assert "loading layer 0" not in rec.reason  # a tail, not the whole log
    log = (tmp_path / "exit-3" / rec.log).read_text()
    assert "loading layer 0" in log and "model weights not found" in log


def test_a_folder_run_that_crashes_keeps_what_it_wrote(images, client, split4, tmp_path):
    # One container for the 4 cases: it writes one good output, cuts the next short, exits 3.
    summary = run(images, client, "folder-partial", split4, tmp_path, contract="folder", jobs=1)
    records = list(summary.records.values())
    assert sorted(r.status for r in records) == ["failed", "failed", "failed", "ok"]
    kept = next(r for r in records if r.status == "ok")
    assert kept.reason.startswith("kept: written before the container run (4 cases) ended")
    assert kept.prediction == f"predictions/{kept.case_id}.nii.gz"
    assert (tmp_path / "folder-partial" / kept.prediction).is_file()
    failed = [r for r in records if r.status == "failed"]
    assert all(r.exit_code == 3 and "out of time budget" in r.reason for r in failed)
    cut = [r for r in failed if "its output for this case" in r.reason]
    assert len(cut) == 1 and "unreadable" in cut[0].reason.lower(), cut
    assert sum("had no output yet" in r.reason for r in failed) == 2
    saved = sorted(p.name for p in (tmp_path / "folder-partial" / "predictions").iterdir())
    assert saved == [f"{kept.case_id}.nii.gz"]


def test_writing_nothing_is_missing_output(images, client, split2, tmp_path):
    summary = run(images, client, "silent", split2, tmp_path)
    assert statuses(summary) == {"missing_output"}
    assert all("nothing written" in r.reason for r in summary.records.values())
    assert not list((tmp_path / "silent").glob("predictions/*"))


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("wrong-shape", "shape (z, y, x) is (96, 96, 95), expected (96, 96, 96)"),
        ("nans", "5 NaN"),
        ("symlink", "is a symlink (to /etc/passwd)"),
        ("huge-output", "size cap of 16777216 bytes"),
    ],
)
def test_invalid_outputs_are_rejected_with_what_was_found(
    images, client, split2, tmp_path, name, words
):
    summary = run(images, client, name, split2, tmp_path, max_output=16 * 2**20)
    assert statuses(summary) == {"invalid_output"}, summary.records
    for rec in summary.records.values():
        assert words in rec.reason
        assert rec.prediction == ""
    assert not list((tmp_path / name).glob("predictions/*"))


def test_a_fork_bomb_is_contained_by_the_pids_limit(images, client, split2, tmp_path):
    t0 = time.monotonic()
    summary = run(images, client, "fork-bomb", split2, tmp_path, timeout_s=4, pids=64)
    assert time.monotonic() - t0 < 40
    assert statuses(summary) <= {"timeout", "failed"}
    # The host can still start processes.
    assert subprocess.run(["true"], check=False, timeout=10).returncode == 0


@pytest.fixture(scope="module")
def probe(images, client, split2, tmp_path_factory):
    out = tmp_path_factory.mktemp("probe")
    summary = run(images, client, "probe", split2, out)
    logs = {}
    for case_id, rec in summary.records.items():
        text = (out / "probe" / rec.log).read_text()
        logs[case_id] = dict(
            line[len("probe ") :].split(": ", 1)
            for line in text.splitlines()
            if line.startswith("probe ")
        )
    return summary, logs


def test_the_network_is_unreachable_and_the_attempt_is_logged(probe):
    summary, logs = probe
    assert statuses(summary) == {"ok"}
    for found in logs.values():
        assert found["interfaces"] == "lo"
        assert found["network"].startswith("unreachable")


def test_a_container_finds_no_labels_and_only_the_contract_files(probe, split2):
    _, logs = probe
    for found in logs.values():
        files = found["input files"].split(";")
        assert (
            len(files) == 2
            and files[0] == "images/light-sheet-3d-microscopy/" + files[0].split("/")[-1]
        )
        assert files[1] == "inputs.json"
        uuid_name = files[0].split("/")[-1]
        assert len(uuid_name) == len("12345678-1234-1234-1234-123456789abc.mha")
        assert found["found"] == "/input/" + files[0]
        text = json.dumps(found)
        for case in split2.cases:
            assert case.case_id not in text
            assert case.structure not in text  # not exposed unless the round allows it


def test_a_container_cannot_write_to_input_or_root_but_can_to_tmp(probe):
    _, logs = probe
    for found in logs.values():
        assert found["write /input/x"] == "refused (EROFS)"
        assert found["write /input/images/light-sheet-3d-microscopy/x"] == "refused (EROFS)"
        assert found["write /etc/x"] == "refused (EROFS)"
        assert found["write /tmp/x"] == "ok"


def test_tmp_executes_programs_and_the_grand_challenge_environment_is_set(probe):
    _, logs = probe
    for found in logs.values():
        assert found["exec /tmp"] == "ran"
        # fast() grants 512m: 512 MiB, as grand-challenge writes the limit.
        assert found["grand-challenge environment"] == (
            "LOG_LEVEL=INFO;PYTHONUNBUFFERED=1;GRAND_CHALLENGE_COMPONENT_MAX_MEMORY_MB=512"
        )


@pytest.mark.parametrize("on_sigterm", ["exit", "ignore"])
def test_a_container_past_its_timeout_gets_sigterm_then_sigkill_after_the_grace(
    images, client, tmp_path, on_sigterm
):
    from harness.containers.images import resolve_image
    from harness.containers.isolation import STOP_GRACE_S, run_container

    input_dir, output_dir, model_dir = tmp_path / "in", tmp_path / "out", tmp_path / "model"
    for folder in (input_dir, output_dir, model_dir):
        folder.mkdir()
        folder.chmod(0o777)
    (model_dir / "behaviour.json").write_text(json.dumps({"on_sigterm": on_sigterm}))
    (model_dir / "behaviour.json").chmod(0o644)
    t0 = time.monotonic()
    result = run_container(
        client,
        resolve_image(images["sigterm"], client=client),
        input_dir,
        output_dir,
        limits=Limits(memory="256m", cpus=1),
        timeout_s=2,
        labels={LABEL_RUN_ID: f"sigterm-{tmp_path.name}"},
        log_bytes=1 << 16,
        model_dir=model_dir,
    )
    stopped_after = time.monotonic() - t0
    assert result.timed_out and result.exit_code is None
    # SIGTERM came first, and the program saw it, whatever it did next.
    assert (output_dir / "sigterm-received").is_file()
    if on_sigterm == "exit":
        assert stopped_after < 2 + STOP_GRACE_S - 1  # it left within the grace: no SIGKILL wait
    else:
        assert 2 + STOP_GRACE_S - 0.5 <= stopped_after < 2 + STOP_GRACE_S + 15  # then SIGKILL


def test_killing_the_harness_mid_run_loses_nothing(images, client, split4, tmp_path, kill_when):
    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "harness",
        "predict",
        images["slow"],
        "--split",
        str(split4.root),
        "--out",
        str(out),
        "--timeout-s",
        "60",
        "--memory",
        "512m",
        "--cpus",
        "1",
        "--no-progress",
    ]
    console = tmp_path / "console.txt"
    with console.open("w") as fh:
        proc = subprocess.Popen(
            cmd, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
    records = out / "cases.jsonl"
    run_id = None

    def orphan_due() -> bool:
        nonlocal run_id
        if not (records.is_file() and records.read_text().count("\n") >= 1):
            return False
        run_id = json.loads((out / "run.json").read_text())["run_id"]
        # Wait for the next case's container, so the kill leaves an orphan behind.
        return bool(leftover_containers(client, run_id))

    kill_when(proc, orphan_due, within_s=120, poll_s=0.05, output=console.read_text)
    assert leftover_containers(client, run_id), "expected an orphan container after the kill"
    done_before = read_records(out)

    summary = run_submission(images["slow"], split4, out, config=fast(jobs=1), client=client)
    assert summary.passed
    assert summary.run_id == run_id
    assert leftover_containers(client, run_id) == []
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    ids = [rec["case_id"] for rec in lines]
    assert sorted(ids) == sorted(split4.case_ids), "a case was lost or recorded twice"
    for case_id, rec in done_before.items():
        assert summary.records[case_id] == rec, "a finished case was rerun"
    assert sorted(p.name for p in (out / "predictions").iterdir()) == sorted(
        f"{c}.nii.gz" for c in split4.case_ids
    )
    assert json.loads((out / "run.json").read_text())["orphans_removed"] >= 1


def test_sigterm_to_predict_removes_its_container_and_closes_run_json(
    images, client, split4, tmp_path
):
    out = tmp_path / "terminated"
    cmd = [sys.executable, "-m", "harness", "predict", images["slow"], "--split",
           str(split4.root), "--out", str(out), "--timeout-s", "60", "--memory", "512m",
           "--cpus", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    records = out / "cases.jsonl"
    try:
        deadline = time.monotonic() + 120
        run_id = None
        # One case recorded and the next one's container running: a stop in the middle.
        while time.monotonic() < deadline and proc.poll() is None:
            if records.is_file() and records.read_text().count("\n") >= 1:
                run_id = json.loads((out / "run.json").read_text())["run_id"]
                if leftover_containers(client, run_id):
                    break
            time.sleep(0.05)
        assert run_id is not None and proc.poll() is None, "no case container to stop"
        proc.send_signal(signal.SIGTERM)  # what `kill PID` or a batch system's stop sends
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 143, output
    assert output.rstrip().splitlines()[-1] == "terminated" and "Traceback" not in output
    assert leftover_containers(client, run_id) == []
    run_json = json.loads((out / "run.json").read_text())
    kept = read_records(out)
    assert run_json["state"] == "interrupted"
    assert sum(run_json["counts"].values()) == len(kept) >= 1


@pytest.mark.parametrize("threshold", [None, 0.5])
def test_a_probability_map_scores_the_same_through_predict_and_evaluate(
    images, client, split2, tmp_path, threshold
):
    import pandas as pd

    from harness.predictions.validate import BinarizeRule, GateOptions
    from harness.scoring.evaluate import evaluate_predictions
    from harness.split.volume import write_volume
    from metrics import METRIC_COLUMNS

    gate = GateOptions(binarize=BinarizeRule(threshold=threshold))
    summary = run(images, client, "probabilities", split2, tmp_path, gate=gate)
    assert statuses(summary) == {"ok"}, summary.records
    # The same map, computed here and written as a plain folder (the container's formula).
    plain = tmp_path / "plain"
    plain.mkdir()
    for case in split2.cases:
        array = read_volume(case.image).array
        high, mid = np.percentile(array, 90), np.median(array)
        prob = np.where(array > high, 0.8, np.where(array > mid, 0.3, 0.0)).astype(np.float32)
        write_volume(plain / f"{case.case_id}.mha", prob)
    teams = {"runner": tmp_path / "probabilities", "plain": plain}
    frame = evaluate_predictions(split2, teams, gate=gate, progress=False).set_index(
        ["team", "case_id"]
    )
    for case in split2.case_ids:
        a, b = frame.loc[("runner", case)], frame.loc[("plain", case)]
        assert a["status"] == b["status"] == "ok"
        for column in METRIC_COLUMNS:
            assert (pd.isna(a[column]) and pd.isna(b[column])) or a[column] == b[column], column
        # Both messages say what the rule made of the floats (only the file names differ).
        rule = "> 0" if threshold is None else ">= 0.5"
        for row in (a, b):
            assert f"became foreground under the rule {rule}" in row["message"]
        assert a["message"].split(": ", 2)[2] == b["message"].split(": ", 2)[2]
