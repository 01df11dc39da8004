"""grand-challenge invoke servers and model tarballs, through real containers.

The server image (tests/integration/misbehaving/invoke/server) acts as its model folder says
(``behaviour.json``: load time, health answers, invoke answers, a hang, a crash), so each
behaviour is a real container given another model tarball. Cases are three real light-sheet
patches; the expected masks are recomputed here with numpy from the inputs.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from harness.containers.images import build_folder
from harness.containers.isolation import LABEL_RUN_ID
from harness.containers.limits import Limits
from harness.containers.model import MODEL_MOUNT, prepare_model
from harness.containers.run_config import RunConfig
from harness.containers.runner import run_submission
from harness.errors import SubmissionError
from harness.split.manifest import load_split, write_manifest
from tests.conftest import REAL_PATCHES

MISBEHAVING = Path(__file__).resolve().parents[2] / "integration" / "misbehaving"
STEMS = (
    "vessels_patch_014_vol013_ch0",
    "amyloid_plaque_patch_000_vol000_ch0",
    "cell_nucleus_patch_002_vol007_ch0",
)


def tarball(path: Path, files: dict[str, bytes], *, links: dict[str, str] | None = None) -> Path:
    """A .tar.gz holding ``files`` (name -> bytes) and symbolic ``links`` (name -> target)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o600  # unreadable to others in the archive: extraction must fix it
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return path


# ---- model tarballs and folders, no engine --------------------------------------------------


def test_a_tarball_is_extracted_once_readable_and_named_by_its_sha256(tmp_path):
    tar = tarball(tmp_path / "m.tar.gz", {"weights/w.bin": b"\x01" * 1000, "params.json": b"{}"})
    model = prepare_model(tar, cache=tmp_path / "cache")
    assert model.sha256 == "sha256:" + hashlib.sha256(tar.read_bytes()).hexdigest()
    assert model.path == tmp_path / "cache" / model.sha256[7:] / "model"
    assert (model.path / "weights" / "w.bin").read_bytes() == b"\x01" * 1000
    assert model.size_bytes == 1002
    assert (model.path / "params.json").stat().st_mode & 0o777 == 0o644
    # The second time it is found in the cache, not extracted again.
    (model.path / "params.json").write_text("kept")
    assert prepare_model(tar, cache=tmp_path / "cache").path == model.path
    assert (model.path / "params.json").read_text() == "kept"


@pytest.mark.parametrize(
    ("name", "words"),
    [("../escape.txt", "climbs out of the model folder with '..'"), ("/etc/x", "absolute path")],
)
def test_a_tarball_member_outside_the_folder_is_refused(tmp_path, name, words):
    tar = tarball(tmp_path / "bad.tar.gz", {"ok.txt": b"1", name: b"2"})
    with pytest.raises(SubmissionError, match=words) as err:
        prepare_model(tar, cache=tmp_path / "cache")
    assert str(tar) in str(err.value) and repr(name) in str(err.value)
    assert not (tmp_path / "escape.txt").exists()
    assert not any((tmp_path / "cache").rglob("ok.txt")), "nothing is extracted"


def test_a_tarball_link_leading_out_is_refused(tmp_path):
    tar = tarball(tmp_path / "link.tar", {"a.txt": b"1"}, links={"passwd": "/etc/passwd"})
    with pytest.raises(SubmissionError, match="refused"):
        prepare_model(tar, cache=tmp_path / "cache")
    assert not any(p.name == "passwd" for p in (tmp_path / "cache").rglob("*"))


def test_a_tarball_over_the_size_cap_is_refused(tmp_path):
    tar = tarball(tmp_path / "big.tar.gz", {"a.bin": b"\0" * 600, "b.bin": b"\0" * 600})
    with pytest.raises(SubmissionError, match="more than the cap of 1000 bytes"):
        prepare_model(tar, cache=tmp_path / "cache", max_bytes=1000)


def test_a_missing_model_or_a_folder_with_a_link_is_refused(tmp_path):
    with pytest.raises(SubmissionError, match=r"no such file or folder.*/opt/ml/model"):
        prepare_model(tmp_path / "nowhere.tar.gz")
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "w.bin").write_bytes(b"abc")
    model = prepare_model(folder)
    assert model.path == folder and model.size_bytes == 3
    (folder / "link").symlink_to("/etc/passwd")
    with pytest.raises(SubmissionError, match="link is a symbolic link"):
        prepare_model(folder)


def test_a_folder_digest_follows_its_content(tmp_path):
    folder = tmp_path / "w"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.bin").write_bytes(b"one")
    first = prepare_model(folder).sha256
    (folder / "sub" / "a.bin").write_bytes(b"two")
    assert prepare_model(folder).sha256 != first
    (folder / "sub" / "a.bin").write_bytes(b"one")
    assert prepare_model(folder).sha256 == first


# ---- invoke servers, real containers -------------------------------------------------------


@pytest.fixture(scope="module")
def client(engine_client):
    return engine_client


@pytest.fixture(scope="module")
def server_image(client):
    build_folder(
        MISBEHAVING / "_base",
        "selma3d-test/misbehaving-base:latest",
        client=client,
        log=lambda m: None,
    )
    info = build_folder(
        MISBEHAVING / "invoke" / "server",
        "selma3d-test/invoke-server:latest",
        client=client,
        log=lambda m: None,
    )
    assert info.invoke, "the label org.grand-challenge.api-method=invoke was not read"
    return info


@pytest.fixture(scope="module")
def split3(tmp_path_factory):
    if not REAL_PATCHES.is_dir():
        pytest.fail(f"the real patches are missing: expected them at {REAL_PATCHES}")
    root = tmp_path_factory.mktemp("split3")
    rows = [
        {
            "case_id": stem,
            "track": "vessel" if "vessel" in stem else "spot",
            "structure": "x",
            "image": str(REAL_PATCHES / "train" / f"{stem}.nii.gz"),
            "label": "",
        }
        for stem in STEMS
    ]
    write_manifest(root, rows)
    return load_split(root)


def behaviour(tmp_path: Path, **keys: object) -> str:
    return str(tarball(tmp_path / "model.tar.gz", {"behaviour.json": json.dumps(keys).encode()}))


def run(
    client,
    image,
    split,
    tmp_path,
    *,
    model=None,
    determinism=False,
    reuse="batch",
    canary=False,
    **limits,
):
    settings = {"timeout_s": 30, "memory": "512m", "cpus": 1, "jobs": 1, "startup_timeout_s": 20}
    settings.update(limits)
    config = RunConfig(
        limits=Limits(**settings),
        progress=False,
        model=model,
        determinism=determinism,
        reuse=reuse,
        canary=canary,
    )
    summary = run_submission(image, split, tmp_path / "out", config=config, client=client)
    left = client.containers.list(
        all=True, filters={"label": f"{LABEL_RUN_ID}={summary.run_id}"}, ignore_removed=True
    )
    assert left == [], "a container was left behind"
    assert not (tmp_path / "out" / ".work").exists(), "staging folders were left behind"
    run_json = json.loads((tmp_path / "out" / "run.json").read_text())
    return summary, run_json


def case_log(tmp_path: Path, case_id: str) -> str:
    return (tmp_path / "out" / "logs" / f"{case_id}.log").read_text()


@pytest.mark.docker
def test_a_healthy_server_is_started_once_and_serves_every_case(
    client, server_image, split3, tmp_path
):
    summary, run_json = run(client, server_image, split3, tmp_path, model=behaviour(tmp_path))
    assert summary.passed, summary.records
    assert run_json["api_method"] == "invoke"
    assert len(run_json["servers"]) == 1 and run_json["servers"][0]["cases"] == 3
    assert run_json["model"]["sha256"] == (
        "sha256:" + hashlib.sha256((tmp_path / "model.tar.gz").read_bytes()).hexdigest()
    )
    # One process served the three cases in turn: the server's own count, in each case's log.
    for n, case_id in enumerate(sorted(summary.records), start=1):
        assert f"invocation {n} of server pid" in case_log(tmp_path, case_id)
    for case in split3.cases:
        rec = summary.records[case.case_id]
        assert rec.server == 1 and rec.startup_s is not None and rec.peak_memory_bytes
        image = sitk.GetArrayFromImage(sitk.ReadImage(str(case.image)))
        pred = sitk.GetArrayFromImage(
            sitk.ReadImage(str(tmp_path / "out" / "predictions" / f"{case.case_id}.nii.gz"))
        )
        # Each case got its own input: the mask is that image's above-median voxels.
        np.testing.assert_array_equal(pred, (image > np.median(image)).astype(np.uint8))


@pytest.mark.docker
def test_a_slow_start_is_timed_apart_from_the_cases(client, server_image, split3, tmp_path):
    summary, run_json = run(
        client, server_image, split3, tmp_path, model=behaviour(tmp_path, load_s=3)
    )
    assert summary.passed, summary.records
    startup = run_json["servers"][0]["startup_s"]
    assert 3.0 <= startup < 10.0
    assert all(r.startup_s == startup for r in summary.records.values())
    assert all(r.wall_time_s < 3.0 for r in summary.records.values())


@pytest.mark.docker
def test_a_server_never_healthy_fails_every_case(client, server_image, split3, tmp_path):
    summary, run_json = run(
        client,
        server_image,
        split3,
        tmp_path,
        model=behaviour(tmp_path, health=503),
        startup_timeout_s=3,
    )
    assert {r.status for r in summary.records.values()} == {"failed"}
    assert len(summary.records) == 3
    for rec in summary.records.values():
        assert "never answered GET /health with 200 within 3 s" in rec.reason
        assert "last try: HTTP 503" in rec.reason
        assert "times)" in rec.reason, "the repeated health lines are squeezed"
    assert len(run_json["servers"]) == 1 and run_json["servers"][0]["healthy"] is False


@pytest.mark.docker
def test_a_redirect_from_health_fails_the_start_at_once(client, server_image, split3, tmp_path):
    # grand-challenge's shim fails at once on a redirect, however long the start-up allowance.
    summary, run_json = run(
        client,
        server_image,
        split3,
        tmp_path,
        model=behaviour(tmp_path, health=302),
        startup_timeout_s=60,
    )
    assert {r.status for r in summary.records.values()} == {"failed"}
    for rec in summary.records.values():
        assert "GET /health answered HTTP 302, a redirect" in rec.reason
    assert len(run_json["servers"]) == 1 and run_json["servers"][0]["startup_s"] < 10


@pytest.mark.docker
def test_reuse_case_starts_a_fresh_server_for_every_case(client, server_image, split3, tmp_path):
    summary, run_json = run(
        client, server_image, split3, tmp_path, model=behaviour(tmp_path), reuse="case"
    )
    assert summary.passed, summary.records
    assert run_json["config"]["reuse"] == "case"
    servers = run_json["servers"]
    assert [s["cases"] for s in servers] == [1, 1, 1]
    assert all(s["healthy"] and s["startup_s"] is not None for s in servers)
    assert sorted(r.server for r in summary.records.values()) == [1, 2, 3]
    # Each server saw one invocation: the model loaded for every case, as on grand-challenge.
    for case_id in summary.records:
        assert "invocation 1 of server pid" in case_log(tmp_path, case_id)
        assert "invocation 2" not in case_log(tmp_path, case_id)


@pytest.mark.docker
def test_a_server_exiting_at_once_fails_every_case_with_its_exit_code(
    client, server_image, split3, tmp_path
):
    # It may be gone before the harness's relay joins its network namespace: either way the
    # server died starting (the team's doing), never an engine failure or a crash of selma3d.
    summary, run_json = run(
        client, server_image, split3, tmp_path, model=behaviour(tmp_path, exit_at_start=3)
    )
    assert {r.status for r in summary.records.values()} == {"failed"}
    for rec in summary.records.values():
        assert "the server exited with code 3 before GET /health answered 200" in rec.reason
        assert "no model to load: exiting" in rec.reason
    assert run_json["servers"][0]["healthy"] is False


@pytest.mark.docker
def test_a_server_gone_before_its_relay_joins_it_is_a_server_failure(
    client, server_image, split3, tmp_path, monkeypatch
):
    # The race made certain: the relay is started only once the server has exited, so the
    # engine refuses to join its network namespace (HTTP 400).
    from harness.containers import invoke

    start_relay = invoke.InvokeServer._start_relay

    def late_relay(self):
        self.container.wait(timeout=30)
        return start_relay(self)

    monkeypatch.setattr(invoke.InvokeServer, "_start_relay", late_relay)
    summary, _ = run(
        client, server_image, split3, tmp_path, model=behaviour(tmp_path, exit_at_start=3)
    )
    assert {r.status for r in summary.records.values()} == {"failed"}
    assert all("exited with code 3" in r.reason for r in summary.records.values())


@pytest.mark.docker
def test_an_answer_other_than_201_fails_the_case_with_code_and_body(
    client, server_image, split3, tmp_path
):
    summary, run_json = run(
        client, server_image, split3, tmp_path, model=behaviour(tmp_path, invoke=500)
    )
    assert {r.status for r in summary.records.values()} == {"failed"}
    for rec in summary.records.values():
        assert "answered HTTP 500 where 201 means done" in rec.reason
        assert "ValueError: the model cannot read this" in rec.reason
    # Stopped so that its whole log could be read; a fresh server serves each next case.
    assert len(run_json["servers"]) == 3


@pytest.mark.docker
def test_a_canary_case_the_server_fails_stops_the_run_before_a_second_server(
    client, server_image, split3, tmp_path
):
    summary, run_json = run(
        client,
        server_image,
        split3,
        tmp_path,
        model=behaviour(tmp_path, invoke=500),
        canary=True,
        jobs=2,
    )
    assert summary.stopped_early and not summary.passed
    first = split3.cases[0].case_id
    assert {k: r.status for k, r in summary.records.items()} == {first: "failed"}
    assert run_json["state"] == "stopped_by_canary"
    # Only the canary's slot ever started a server: the second slot was never opened.
    assert [s["slot"] for s in run_json["servers"]] == [0]


@pytest.mark.docker
@pytest.mark.slow
def test_the_traceback_written_just_before_a_500_is_always_in_the_log(
    client, server_image, split3, tmp_path
):
    # 4 runs of 3 cases: 12 servers, each printing 33 lines to stderr just before its answer.
    for attempt in range(4):
        folder = tmp_path / f"run{attempt}"
        folder.mkdir()
        summary, run_json = run(
            client, server_image, split3, folder, model=behaviour(folder, invoke=500)
        )
        assert len(run_json["servers"]) == 3
        for case_id, rec in summary.records.items():
            assert rec.status == "failed"
            assert "first exception in the log" in rec.reason, rec.reason
            assert "RuntimeError: Unknown category: spot_001.nii.gz" in rec.reason
            assert "PredictionProcessingError: invocation 1 failed" in rec.reason
            log = case_log(folder, case_id)
            assert "RuntimeError: Unknown category: spot_001.nii.gz" in log
            assert all(f"frame{i}.py" in log for i in range(25))
            assert "PredictionProcessingError: invocation 1 failed" in log
            assert log.rstrip().endswith("500 Internal Server Error"), log[-300:]


@pytest.mark.docker
def test_a_hang_times_out_and_a_fresh_server_takes_the_next_case(
    client, server_image, split3, tmp_path
):
    summary, run_json = run(
        client,
        server_image,
        split3,
        tmp_path,
        model=behaviour(tmp_path, invoke="hang"),
        timeout_s=3,
    )
    assert {r.status for r in summary.records.values()} == {"timeout"}
    assert all(3.0 <= r.wall_time_s < 8.0 for r in summary.records.values())
    assert "POST /invoke still running after 3 s" in next(iter(summary.records.values())).reason
    assert [s["ended"] for s in run_json["servers"]] == ["timeout"] * 3
    assert sorted(r.server for r in summary.records.values()) == [1, 2, 3]


@pytest.mark.docker
def test_a_crash_during_the_second_case_fails_it_and_a_fresh_server_serves_the_third(
    client, server_image, split3, tmp_path
):
    summary, run_json = run(
        client, server_image, split3, tmp_path, model=behaviour(tmp_path, crash_on=2)
    )
    first, second, third = (summary.records[c.case_id] for c in split3.cases)
    assert (first.status, second.status, third.status) == ("ok", "failed", "ok")
    assert second.exit_code == 9
    assert "exited with code 9 during POST /invoke" in second.reason
    assert "crashing on purpose" in second.reason
    assert (first.server, second.server, third.server) == (1, 1, 2)
    assert [s["cases"] for s in run_json["servers"]] == [2, 1]


@pytest.mark.docker
def test_running_out_of_memory_during_a_case_is_oom(client, server_image, split3, tmp_path):
    summary, _ = run(
        client,
        server_image,
        split3,
        tmp_path,
        model=behaviour(tmp_path, allocate_mb=400),
        memory="256m",
    )
    assert {r.status for r in summary.records.values()} == {"oom"}
    assert all("memory limit of 256m" in r.reason for r in summary.records.values())


@pytest.mark.docker
def test_two_jobs_start_two_servers(client, server_image, split3, tmp_path):
    summary, run_json = run(client, server_image, split3, tmp_path, jobs=2)
    assert summary.passed, summary.records
    assert sorted(s["slot"] for s in run_json["servers"]) == [0, 1]
    assert sum(s["cases"] for s in run_json["servers"]) == 3


@pytest.mark.docker
def test_a_missing_or_unsafe_model_tarball_stops_before_any_container(
    client, server_image, split3, tmp_path
):
    before = {c.id for c in client.containers.list(all=True)}
    with pytest.raises(SubmissionError, match="no such file or folder"):
        run(client, server_image, split3, tmp_path, model=str(tmp_path / "missing.tar.gz"))
    evil = tarball(tmp_path / "evil.tar.gz", {"behaviour.json": b"{}", "../../evil.py": b"x"})
    with pytest.raises(SubmissionError, match=r"'\.\./\.\./evil\.py' climbs out"):
        run(client, server_image, split3, tmp_path, model=str(evil))
    assert not (tmp_path / "out").exists(), "nothing was run"
    mine = [
        c
        for c in client.containers.list(all=True, ignore_removed=True)
        if c.id not in before and c.image.id == server_image.digest
    ]
    assert mine == []


@pytest.mark.docker
def test_an_exec_image_finds_the_model_read_only(client, split3, tmp_path):
    folder = tmp_path / "reads-model"
    folder.mkdir()
    (folder / "Dockerfile").write_text(
        "FROM selma3d-test/misbehaving-base:latest\n"
        "COPY predict.py /opt/predict.py\nUSER app\n"
        'ENTRYPOINT ["python3", "/opt/predict.py"]\n'
    )
    (folder / "predict.py").write_text(
        "import sys\nfrom pathlib import Path\nsys.path.insert(0, '/opt')\n"
        f"model = Path('{MODEL_MOUNT}')\n"
        "print('model says', (model / 'greeting.txt').read_text())\n"
        "try:\n    (model / 'x').write_text('1')\n    sys.exit(5)\n"
        "except OSError as exc:\n    print('read-only:', exc.errno)\n"
        "from contract_io import write_valid_mask\nwrite_valid_mask()\n"
    )
    build_folder(
        MISBEHAVING / "_base", "selma3d-test/misbehaving-base:latest", client=client, log=print
    )
    info = build_folder(folder, "selma3d-test/reads-model:latest", client=client, log=print)
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "greeting.txt").write_text("hello from the model")
    summary, run_json = run(client, info, split3, tmp_path, model=str(weights), determinism=True)
    assert summary.passed, summary.records
    assert run_json["api_method"] == "exec"
    assert run_json["determinism"]["identical"] is True
    assert run_json["model"]["sha256"] == prepare_model(weights).sha256
    log = case_log(tmp_path, split3.cases[0].case_id)
    assert "model says hello from the model" in log and "read-only: 30" in log


@pytest.mark.docker
def test_check_runs_an_invoke_image_and_a_rebuilt_image_starts_a_new_rehearsal(
    client, server_image, split3, tmp_path, capsys
):
    import shutil

    from harness.cli import EXIT_OK, run

    folder = tmp_path / "mine"
    shutil.copytree(MISBEHAVING / "invoke" / "server", folder)
    model = behaviour(tmp_path, load_s=1)
    out = tmp_path / "check"
    args = ["check", str(folder), "--split", str(split3.root), "--out", str(out)]
    args += ["--timeout-s", "60", "--memory", "512m", "--cpus", "1", "--model", model]
    assert run(args) == EXIT_OK, capsys.readouterr().out
    printed = capsys.readouterr().out
    assert "invoke server 1: start-up" in printed and "PASSED" in printed
    first = json.loads((out / "check.json").read_text())
    assert first["api_method"] == "invoke"
    assert first["model"]["sha256"].startswith("sha256:")
    assert 1.0 <= first["servers"][0]["startup_s"] < 10
    # The participant fixes something and rebuilds: the same command simply runs again.
    with (folder / "server.py").open("a") as fh:
        fh.write("# rebuilt\n")
    assert run(args) == EXIT_OK, capsys.readouterr().out
    second = json.loads((out / "check.json").read_text())
    assert second["image_digest"] != first["image_digest"]
    kept = out.with_name(f"check.{first['image_digest'][7:19]}")
    assert second["previous"] == str(kept)
    assert json.loads((kept / "check.json").read_text()) == first
    # The same image again resumes its own check; --determinism reruns one case.
    capsys.readouterr()
    assert run([*args, "--determinism"]) == EXIT_OK
    assert "deterministic: case" in capsys.readouterr().out
    third = json.loads((out / "check.json").read_text())
    assert third["previous"] is None and third["determinism"]["identical"] is True


@pytest.mark.docker
@pytest.mark.parametrize("random", [False, True])
def test_determinism_reruns_one_case_and_flags_a_different_mask(
    client, server_image, split3, tmp_path, random
):
    summary, run_json = run(
        client,
        server_image,
        split3,
        tmp_path,
        model=behaviour(tmp_path, random=random),
        determinism=True,
    )
    # Flagged, never failed.
    assert summary.passed, summary.records
    det = run_json["determinism"]
    assert det["case_id"] == split3.cases[0].case_id
    assert det["identical"] is (not random)
    if random:
        # Two independent fair coin flips per voxel differ on about half of them.
        n = np.prod(sitk.GetArrayFromImage(sitk.ReadImage(str(split3.cases[0].image))).shape)
        assert 0.45 * n < det["differing_voxels"] < 0.55 * n
        assert "voxels differ between two runs of the same case" in det["reason"]
    else:
        assert det["differing_voxels"] == 0
    # The rerun's server is started apart from the run's, and removed like them.
    assert [s["slot"] for s in run_json["servers"]] == [0, -1]


@pytest.mark.docker
@pytest.mark.parametrize("jobs", [1, 2])
def test_a_server_churning_output_after_its_answer_fails_only_its_own_cases(
    client, server_image, split3, tmp_path, jobs
):
    # After each answer its threads keep writing /output, closing folders with mode 000.
    summary, run_json = run(
        client, server_image, split3, tmp_path, model=behaviour(tmp_path, churn=True), jobs=jobs
    )
    records = list(summary.records.values())
    assert len(records) == 3
    for rec in records:
        assert rec.status in {"ok", "invalid_output"}, (rec.status, rec.reason)
        assert str(tmp_path) not in rec.reason and "/.work" not in rec.reason, rec.reason
    # A server still writing when the next case is staged is stopped; a fresh one serves it.
    ended = {s["ended"] for s in run_json["servers"]}
    assert ended <= {"finished", "output_not_cleared"}, ended


# ---- servers dripping their answers: every request ends at its deadline -------------------


def bounded(seconds: float, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` and its wall time; the test fails if it runs past ``seconds``."""
    out: dict[str, object] = {}

    def call() -> None:
        try:
            out["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the test below
            out["error"] = exc

    t0 = time.perf_counter()
    # A daemon thread: a run that never ends must not keep pytest from ending.
    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(seconds)
    elapsed = time.perf_counter() - t0
    if worker.is_alive():
        pytest.fail(f"still running after {seconds:g} s: a dripping answer held the harness")
    if "error" in out:
        raise out["error"]
    return out["value"], elapsed


@pytest.mark.docker
def test_a_health_answer_dripped_a_byte_at_a_time_fails_the_start_at_its_deadline(
    client, server_image, split3, tmp_path
):
    # A status line 200, then an endless header line, one byte every 2 s: each read of the
    # answer gets a byte well within any per-read timeout.
    (summary, run_json), elapsed = bounded(
        60,
        run,
        client,
        server_image,
        split3,
        tmp_path,
        model=behaviour(tmp_path, health="drip"),
        startup_timeout_s=6,
    )
    assert {r.status for r in summary.records.values()} == {"failed"}
    assert len(summary.records) == 3
    for rec in summary.records.values():
        assert "never answered GET /health with 200 within 6 s" in rec.reason, rec.reason
        assert "last try: no whole answer within" in rec.reason, rec.reason
    [server] = run_json["servers"]
    assert server["healthy"] is False and server["ended"] == "failed"
    # The health try ended at the start-up deadline, not a byte later than the margin.
    assert 6.0 <= server["startup_s"] < 8.0, server["startup_s"]
    assert "loading the model: {'health': 'drip'}" in case_log(tmp_path, split3.cases[0].case_id)
    # Three cases, one start of 6 s: no case waited for a server of its own.
    assert elapsed < 6 + 10, elapsed


@pytest.mark.docker
@pytest.mark.parametrize("mode", ["drip_headers", "drip_body"])
def test_an_invoke_answer_dripped_a_byte_at_a_time_times_out_at_the_case_timeout(
    client, server_image, split3, tmp_path, mode
):
    (summary, run_json), elapsed = bounded(
        120,
        run,
        client,
        server_image,
        split3,
        tmp_path,
        model=behaviour(tmp_path, invoke=mode),
        timeout_s=3,
    )
    assert {r.status for r in summary.records.values()} == {"timeout"}
    for rec in summary.records.values():
        assert 3.0 <= rec.wall_time_s < 8.0, rec.wall_time_s
        assert "POST /invoke still running after 3 s" in rec.reason, rec.reason
    assert [s["ended"] for s in run_json["servers"]] == ["timeout"] * 3
    # Three servers, each stopped at 3 s.
    assert elapsed < 3 * 3 + 20, elapsed


@pytest.mark.docker
def test_check_of_a_server_dripping_its_health_answer_fails_within_the_start_up_limit(
    server_image, split3, tmp_path
):
    folder = tmp_path / "slow"
    shutil.copytree(MISBEHAVING / "invoke" / "server", folder)
    out = tmp_path / "check"
    args = ["check", str(folder), "--split", str(split3.root), "--out", str(out)]
    args += ["--startup-timeout-s", "20", "--timeout-s", "30", "--memory", "512m", "--cpus", "1"]
    args += ["--model", behaviour(tmp_path, health="drip")]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "400"},
    )
    try:
        printed, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        # SIGTERM: the command removes its containers on the way out.
        proc.terminate()
        printed, _ = proc.communicate(timeout=60)
        pytest.fail(f"check still running after 120 s:\n{printed[-2000:]}")
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 1, printed
    assert "Traceback" not in printed, printed
    assert "never answered GET /health with 200 within 20 s" in printed, printed
    report = json.loads((out / "check.json").read_text())
    [server] = report["servers"]
    assert server["healthy"] is False and 20.0 <= server["startup_s"] < 22.0, server
    # Building the copied image, a start-up of 20 s, the server's stop and the clean-up.
    assert elapsed < 20 + 30, elapsed
