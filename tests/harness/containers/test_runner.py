"""The runner: resuming, refusing to mix images, engine failures, canary, root images."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from docker.errors import APIError
from docker.models.containers import ContainerCollection

from harness.assets import asset_dir
from harness.containers.engine import short_reference
from harness.containers.images import build_folder, resolve_image
from harness.containers.limits import Limits
from harness.containers.run_config import RunConfig
from harness.containers.runner import run_submission
from harness.errors import SubmissionError
from harness.split.manifest import load_split, write_manifest
from tests.conftest import REAL_PATCHES

TEMPLATE = asset_dir("submissions") / "template"
MISBEHAVING = Path(__file__).resolve().parents[2] / "integration" / "misbehaving"


# ---- with Docker -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(engine_client):
    return engine_client


@pytest.fixture(scope="module")
def split2(tmp_path_factory):
    if not REAL_PATCHES.is_dir():
        pytest.fail(f"the real patches are missing: expected them at {REAL_PATCHES}")
    root = tmp_path_factory.mktemp("split")
    rows = []
    for stem in ("vessels_patch_014_vol013_ch0", "amyloid_plaque_patch_000_vol000_ch0"):
        img = REAL_PATCHES / "train" / f"{stem}.nii.gz"
        rows.append(
            {
                "case_id": stem,
                "track": "vessel" if "vessel" in stem else "spot",
                "structure": "x",
                "image": str(img),
                "label": str(REAL_PATCHES / "train" / f"{stem}_label.nii.gz"),
            }
        )
    write_manifest(root, rows)
    return load_split(root)


def config(**kw):
    limits = {"timeout_s": 60, "memory": "512m", "cpus": 1, "jobs": 2}
    limits.update({k: kw.pop(k) for k in list(kw) if k in Limits.model_fields})
    return RunConfig(limits=Limits(**limits), progress=False, **kw)


def image(client, name):
    folder = TEMPLATE if name == "template" else MISBEHAVING / name
    if folder.parent == MISBEHAVING:
        # Cached after the first build: the shared base of every misbehaving image.
        build_folder(
            MISBEHAVING / "_base",
            "selma3d-test/misbehaving-base:latest",
            client=client,
            log=lambda m: None,
        )
    return build_folder(folder, f"selma3d-test/{name}:latest", client=client, log=lambda m: None)


@pytest.mark.docker
def test_a_root_image_is_refused_unless_allowed(client, split2, tmp_path):
    folder = tmp_path / "rooty"
    folder.mkdir()
    (folder / "Dockerfile").write_text('FROM selma3d/python:3.11\nCMD ["true"]\n')
    info = build_folder(folder, "selma3d-test/rooty:latest", client=client, log=lambda m: None)
    assert info.user == ""
    with pytest.raises(SubmissionError, match="runs as root"):
        run_submission(info, split2, tmp_path / "out", config=config(), client=client)
    summary = run_submission(
        info, split2, tmp_path / "out", config=config(allow_root=True), client=client
    )
    assert {r.status for r in summary.records.values()} == {"missing_output"}


@pytest.mark.docker
@pytest.mark.parametrize(
    ("lines", "user"),
    [
        ("USER root\n", "root"),
        ("USER 00\n", "00"),
        ('RUN echo "toor:x:0:0::/tmp:/bin/sh" >> /etc/passwd\nUSER toor\n', "toor"),
    ],
)
def test_every_way_of_naming_uid_0_is_refused_as_root(client, split2, tmp_path, lines, user):
    folder = tmp_path / "rooty"
    folder.mkdir()
    (folder / "Dockerfile").write_text(f'FROM selma3d/python:3.11\n{lines}CMD ["true"]\n')
    tag = f"selma3d-test/rooty-{tmp_path.name.lower()}:latest"
    info = build_folder(folder, tag, client=client, log=lambda m: None)
    try:
        with pytest.raises(SubmissionError) as err:
            run_submission(info, split2, tmp_path / "out", config=config(), client=client)
    finally:
        client.images.remove(tag, force=True)
    assert str(err.value) == (
        f"image {tag} runs as root (configured user {user!r}); add a non-root user and `USER` "
        "to its Dockerfile (see submissions/template), or pass --allow-root if the organizers "
        "accept it."
    )


@pytest.mark.docker
def test_rerun_skips_finished_cases_and_refuses_another_image(client, split2, tmp_path):
    out = tmp_path / "out"
    first = run_submission(image(client, "template"), split2, out, config=config(), client=client)
    assert first.passed and first.ran == 2
    again = run_submission(image(client, "template"), split2, out, config=config(), client=client)
    assert again.ran == 0 and again.records == first.records
    assert len((out / "cases.jsonl").read_text().splitlines()) == 2
    with pytest.raises(SubmissionError, match="refusing to mix two images"):
        run_submission(image(client, "silent"), split2, out, config=config(), client=client)


@pytest.mark.docker
def test_retry_failed_reruns_only_cases_not_ok(client, split2, tmp_path):
    out = tmp_path / "out"
    info = image(client, "exit-3")
    run_submission(info, split2, out, config=config(), client=client)
    skipped = run_submission(info, split2, out, config=config(), client=client)
    assert skipped.ran == 0
    retried = run_submission(info, split2, out, config=config(retry_failed=True), client=client)
    assert retried.ran == 2
    assert {r.attempt for r in retried.records.values()} == {2}
    assert len((out / "cases.jsonl").read_text().splitlines()) == 4


@pytest.mark.docker
def test_the_canary_stops_a_broken_submission_early(client, split2, tmp_path):
    summary = run_submission(
        image(client, "exit-3"), split2, tmp_path / "o", config=config(canary=True), client=client
    )
    assert summary.stopped_early and not summary.passed
    assert len(summary.records) == 1
    assert json.loads((tmp_path / "o" / "run.json").read_text())["state"] == "stopped_by_canary"


@pytest.mark.docker
def test_engine_failures_are_retried_then_recorded_and_never_charged(
    client, split2, tmp_path, monkeypatch
):
    real_create = ContainerCollection.create
    calls = {"n": 0}

    def flaky_create(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] <= 1:
            raise APIError("500 Server Error: the daemon fell over", response=_Response(500))
        return real_create(self, *args, **kwargs)

    # Resolved first: its user's name is read from a container of its own.
    info = image(client, "template")
    monkeypatch.setattr(ContainerCollection, "create", flaky_create)
    ok = run_submission(
        info, split2, tmp_path / "a", config=config(jobs=1, retries=1), client=client
    )
    assert ok.passed and calls["n"] == 3  # one failure, retried, then the second case

    def broken_create(self, *args, **kwargs):
        raise APIError("500 Server Error: the daemon fell over", response=_Response(500))

    monkeypatch.setattr(ContainerCollection, "create", broken_create)
    out = tmp_path / "b"
    failed = run_submission(info, split2, out, config=config(retries=0), client=client)
    assert {r.status for r in failed.records.values()} == {"infrastructure_error"}
    assert all("the Docker engine failed" in r.reason for r in failed.records.values())
    monkeypatch.setattr(ContainerCollection, "create", real_create)
    # Never charged: the next plain rerun runs those cases again.
    healed = run_submission(info, split2, out, config=config(), client=client)
    assert healed.ran == 2 and healed.passed


class _Response:
    def __init__(self, status_code):
        self.status_code = status_code
        self.reason = "Server Error"
        self.url = "engine"


@pytest.mark.docker
def test_folder_contract_runs_the_template_in_batches(client, split2, tmp_path):
    summary = run_submission(
        image(client, "template"),
        split2,
        tmp_path / "f",
        config=config(contract="folder", expose_structure=True),
        client=client,
    )
    assert summary.passed
    assert sorted(p.name for p in (tmp_path / "f" / "predictions").iterdir()) == sorted(
        f"{c}.nii.gz" for c in split2.case_ids
    )


@pytest.mark.docker
def test_a_saved_tarball_is_loaded(client, tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "hello.txt").write_text("hello")
    (folder / "Dockerfile").write_text("FROM scratch\nCOPY hello.txt /hello.txt\nUSER 1000\n")
    info = build_folder(folder, "selma3d-test/tiny:latest", client=client, log=lambda m: None)
    tarball = tmp_path / "tiny.tar"
    with tarball.open("wb") as fh:
        for chunk in client.images.get(info.ref).save(named=True):
            fh.write(chunk)
    client.images.remove(info.ref, force=True)
    loaded = resolve_image(tarball, client=client, log=lambda m: None)
    assert loaded.digest == info.digest and loaded.user == "1000"
    # Loaded under selma3d's own tag, named by the tarball's sha256; the tag the tarball asks
    # for is not applied.
    sha = hashlib.sha256(tarball.read_bytes()).hexdigest()
    assert loaded.ref == f"selma3d-tarball/tiny:{sha[:32]}"
    # Podman names a local image localhost/...: the same tag once its prefix is dropped.
    assert [short_reference(t) for t in client.images.get(info.digest).tags] == [loaded.ref]
    client.images.remove(info.digest, force=True)


@pytest.mark.docker
def test_a_missing_image_is_a_clear_error(client):
    with pytest.raises(SubmissionError, match="not present on this engine"):
        resolve_image("selma3d-test/never-built:0", client=client)


@pytest.mark.docker
def test_a_run_that_crashes_mid_way_leaves_run_json_counting_its_records(client, split2, tmp_path):
    class Crash(Exception):
        pass

    def crash(record):
        raise Crash(record.case_id)  # a harness bug after the first case was recorded

    out = tmp_path / "out"
    with pytest.raises(Crash):
        run_submission(
            image(client, "template"),
            split2,
            out,
            config=config(jobs=1),
            client=client,
            on_record=crash,
        )
    run = json.loads((out / "run.json").read_text())
    records = [json.loads(line) for line in (out / "cases.jsonl").read_text().splitlines()]
    assert len(records) >= 1
    assert run["state"] == "interrupted"
    counted = {status: n for status, n in run["counts"].items() if n}
    assert counted == {
        r["status"]: sum(x["status"] == r["status"] for x in records) for r in records
    }
    # And it resumes: the recorded case is kept, the other one runs.
    again = run_submission(image(client, "template"), split2, out, config=config(), client=client)
    assert again.passed and again.ran == 2 - len(records)


@pytest.mark.docker
def test_run_json_names_the_engine_that_ran_the_containers(client, split2, tmp_path, engine_name):
    out = tmp_path / "out"
    run_submission(image(client, "template"), split2, out, config=config(), client=client)
    settings = json.loads((out / "run.json").read_text())["config"]
    assert settings["engine"].startswith(f"{engine_name} ") and settings["nofile"] == 4096
