"""A round on a Dask cluster: a real `dask scheduler`, two `selma3d worker` processes on loopback.

The ledger and batching tests need no engine; the others run real containers: the same round
locally and through the cluster gives the same table, a worker SIGKILLed mid-round loses no case
and records none twice, a worker lacking an image loads the round's tarball, checked by digest,
and an invoke image's cases run in batches with one server each, a worker killed
mid-batch losing none.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from harness.containers.runner import LABEL_OUT_DIR, CaseRecord
from harness.errors import EngineError, SubmissionError
from harness.rounds.cluster import (
    BatchResult,
    DeterminismResult,
    Ledger,
    TaskResult,
    batch_cases,
    ensure_image,
    save_image_tarball,
)
from harness.split.manifest import load_split, write_manifest
from harness.split.synth import synthesize_split
from harness.split.volume import read_volume
from tests.conftest import REAL_PATCHES

REPO = Path(__file__).resolve().parents[3]
TEMPLATE = REPO / "submissions" / "template"
MISBEHAVING = REPO / "tests" / "integration" / "misbehaving"
TIMING = ["wall_time_s", "peak_memory_bytes", "prediction"]


# --- the ledger, without an engine ------------------------------------------------------------


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory):
    from harness.split.manifest import load_split

    root = tmp_path_factory.mktemp("cluster") / "split"
    synthesize_split(root, cases=3, size=(24, 24, 24), seed=5)
    return load_split(root)


def finished(
    tmp: Path, case_id: str, status: str, *, run_id: str, server: int | None = None
) -> TaskResult:
    """A task's result as a worker returns it: its attempt folder with the files it names."""
    attempt = tmp / "tasks" / "team" / "s00" / case_id / run_id
    (attempt / "logs").mkdir(parents=True, exist_ok=True)
    (attempt / "logs" / f"{case_id}.log").write_text(f"log of {run_id}\n")
    prediction = ""
    if status == "ok":
        (attempt / "predictions").mkdir(exist_ok=True)
        (attempt / "predictions" / f"{case_id}.nii.gz").write_bytes(run_id.encode())
        prediction = f"predictions/{case_id}.nii.gz"
    record = CaseRecord(
        case_id=case_id,
        status=status,
        exit_code=0,
        wall_time_s=1.0,
        peak_memory_bytes=None,
        image_digest="sha256:aaa",
        reason="",
        run_id=run_id,
        prediction=prediction,
        log=f"logs/{case_id}.log",
        server=server,
        startup_s=None if server is None else 2.5,
    )
    return TaskResult("team/s00", case_id, asdict(record), attempt, "w1", "host")


def open_ledger(run_dir: Path, split, digest: str = "sha256:aaa") -> Ledger:
    return Ledger.open(
        run_dir, image_ref="team/x:1", image_digest=digest, split=split, contract="grand-challenge"
    )


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
    # No temporary file is left beside what the ledger wrote.
    assert not [p for p in run_dir.rglob(".*") if p.is_file()]
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["counts"] == {"failed": 1, "ok": 2}

    reopened = open_ledger(run_dir, split)
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


def test_infrastructure_failures_stay_pending_and_another_image_is_refused(tmp_path, split):
    run_dir = tmp_path / "runs" / "team" / "s00"
    ledger = open_ledger(run_dir, split)
    case = split.case_ids[1]
    ledger.merge(finished(tmp_path, case, "infrastructure_error", run_id="x"))
    assert case in [c.case_id for c in open_ledger(run_dir, split).pending()]
    with pytest.raises(SubmissionError, match="refusing to mix two images"):
        open_ledger(run_dir, split, digest="sha256:bbb")


def test_invoke_cases_go_in_one_batch_per_slot_of_at_most_ceil_n_over_slots_cases():
    # Worked by hand: 4 cases on 2 slots are 2 batches of 2; 5 on 2 are 3 + 2; 5 on 4 are
    # 2 + 2 + 1 (a 4th batch would not end sooner: some slot runs 2 cases either way).
    assert batch_cases(list("abcd"), 2) == [["a", "b"], ["c", "d"]]
    assert batch_cases(list("abcde"), 2) == [["a", "b", "c"], ["d", "e"]]
    assert batch_cases(list("abcde"), 4) == [["a", "b"], ["c", "d"], ["e"]]
    assert batch_cases(list("abc"), 1) == [["a", "b", "c"]]
    assert batch_cases(list("ab"), 5) == [["a"], ["b"]]
    assert batch_cases([], 3) == []
    for n in range(0, 13):
        cases = list(range(n))
        for slots in range(1, 7):
            batches = batch_cases(cases, slots)
            # Every case once, in order; no more batches than slots; none empty; the longest
            # as short as any split over `slots` batches can make it.
            assert [c for b in batches for c in b] == cases
            assert len(batches) <= slots and all(batches)
            assert max(map(len, batches), default=0) == math.ceil(n / slots)
    with pytest.raises(ValueError, match="at least 1"):
        batch_cases(list("ab"), 0)


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
        return BatchResult("team/s00", results, entries, results[0].attempt_dir, "w2", "host")

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
    reopened = open_ledger(run_dir, split)
    assert reopened.pending() == []
    records = reopened.merge_batch(batch([third], "c1", servers=1))
    assert records[0].server == 3
    assert len(json.loads((run_dir / "run.json").read_text())["servers"]) == 3


def test_the_ledger_asks_for_one_determinism_run_and_keeps_what_stands(tmp_path, split):
    run_dir = tmp_path / "runs" / "team" / "s00"
    ledger = open_ledger(run_dir, split)
    first, second, third = split.case_ids
    assert ledger.determinism_case() is None  # no ok case to run again
    ledger.merge(finished(tmp_path, first, "failed", run_id="a1"))
    ledger.merge(finished(tmp_path, second, "ok", run_id="b1"))
    assert ledger.determinism_case().case_id == second  # the first ok case

    def outcome(det: dict, servers: tuple = ()) -> DeterminismResult:
        return DeterminismResult("team/s00", second, det, servers, tmp_path / "x", "w2", "host")

    # A second run lost to the engine does not stand: the next rerun asks again.
    infra = {"case_id": second, "status": "infrastructure_error", "identical": None, "reason": "x"}
    ledger.record_determinism(outcome(infra))
    assert open_ledger(run_dir, split).determinism_case().case_id == second
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
    reopened = open_ledger(run_dir, split)
    assert reopened.determinism == differs and reopened.determinism_case() is None
    # Later cases rewrite run.json and keep the outcome.
    reopened.merge(finished(tmp_path, third, "ok", run_id="c1"))
    assert json.loads((run_dir / "run.json").read_text())["determinism"] == differs
    # A second run that failed in a way charged to the team stands too (and flags nothing).
    timed_out = {"case_id": second, "status": "timeout", "identical": None, "reason": "y"}
    reopened.record_determinism(outcome(timed_out))
    assert open_ledger(run_dir, split).determinism_case() is None


def test_a_bad_scheduler_address_is_bad_input(tmp_path, split):
    from harness.cli import run

    config = tmp_path / "round.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "x",
                "output": str(tmp_path / "out"),
                "phases": {"final": {"split": str(split.root)}},
                "phase": "final",
                "teams": [{"name": "t", "image": "none:1"}],
                "cluster": {"scheduler": "not an address"},
            }
        )
    )
    assert run(["round", str(config)]) == 2
    assert run(["round", str(config), "--scheduler", "nowhere"]) == 2


# --- real containers and a real cluster -------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def selma3d(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


class Cluster:
    """A `dask scheduler` and `selma3d worker` processes on loopback, their output in files."""

    def __init__(self, logs: Path) -> None:
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.logs = logs
        self.procs: dict[str, subprocess.Popen] = {}

    def _spawn(self, name: str, argv: list[str]) -> None:
        # A file, not a pipe: nobody reads a worker's log while it runs, and a full pipe would
        # block its writes.
        with (self.logs / f"{name}.log").open("w") as log:
            self.procs[name] = subprocess.Popen(
                argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def start(self, names: tuple[str, ...] = ("w1", "w2")) -> None:
        port = self.address.rsplit(":", 1)[1]
        scheduler = ["dask", "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"]
        self._spawn("scheduler", [sys.executable, "-m", *scheduler])
        for name in names:
            self._spawn(
                name,
                [
                    sys.executable,
                    "-m",
                    "harness",
                    "worker",
                    self.address,
                    "--jobs",
                    "1",
                    "--name",
                    name,
                ],
            )
        self.wait_for(len(names))

    def wait_for(self, n: int) -> None:
        from distributed import Client
        from distributed.exceptions import WorkerStartTimeoutError

        with Client(self.address, timeout=120) as client:
            try:
                client.wait_for_workers(n, timeout=120)
            except WorkerStartTimeoutError:
                tails = {p.name: p.read_text()[-2000:] for p in self.logs.glob("*.log")}
                pytest.fail(f"{n} workers did not all start within 120 s: {tails}")

    def kill(self, name: str) -> None:
        stop(self.procs.pop(name))

    def stop(self) -> None:
        for name in list(self.procs):
            self.kill(name)


@contextlib.contextmanager
def cluster(logs: Path) -> Iterator[Cluster]:
    logs.mkdir(parents=True)
    running = Cluster(logs)
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    from harness.containers.images import build_folder

    quiet = {"log": lambda message: None}
    build_folder(MISBEHAVING / "_base", "selma3d-test/misbehaving-base:latest", **quiet)
    return {
        "template": build_folder(TEMPLATE, "selma3d-test/template:latest", **quiet).ref,
        "slow": build_folder(MISBEHAVING / "slow", "selma3d-test/slow:latest", **quiet).ref,
        "exit-3": build_folder(MISBEHAVING / "exit-3", "selma3d-test/exit-3:latest", **quiet).ref,
    }


@pytest.fixture(scope="module")
def tarballs(images, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The slow image saved once; rounds of it start with a link to it (a round saves an image
    only when its folder has no tarball of that digest)."""
    from harness.containers.engine import connect

    client = connect()
    digest = client.images.get(images["slow"]).id
    return save_image_tarball(client, images["slow"], digest, tmp_path_factory.mktemp("images"))


def seed_images(out: Path, tarball: Path) -> None:
    (out / "images").mkdir(parents=True)
    os.link(tarball, out / "images" / tarball.name)


def write_round(path: Path, split: Path, out: Path, teams: dict[str, str], jobs: int = 2) -> Path:
    config = {
        "name": "ctest",
        "output": str(out),
        "phases": {"final": {"split": str(split)}},
        "phase": "final",
        "limits": {"timeout_s": 120, "memory": "512m", "cpus": 1, "jobs": jobs},
        "canary": False,
        "teams": [{"name": name, "image": ref} for name, ref in teams.items()],
    }
    path.write_text(yaml.safe_dump(config))
    return path


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        stop(proc)
    return proc.returncode, out


def task_containers(out: Path) -> list:
    from harness.containers.engine import connect
    from harness.containers.runner import LABEL_OUT_DIR

    found = connect().containers.list(
        all=True, filters={"label": LABEL_OUT_DIR}, ignore_removed=True
    )
    return [c for c in found if c.labels[LABEL_OUT_DIR].startswith(f"{out}/tasks/")]


@pytest.mark.docker
@pytest.mark.slow
def test_a_round_through_two_workers_gives_the_local_table(tmp_path, split, images):
    teams = {"template": images["template"], "crashing": images["exit-3"]}
    local = write_round(tmp_path / "local.yaml", split.root, tmp_path / "local", teams)
    code, out = finish(selma3d("round", str(local), start_new_session=True))
    assert code == 0, out
    assert "local cluster" in out

    spread = write_round(tmp_path / "spread.yaml", split.root, tmp_path / "spread", teams)
    with cluster(tmp_path / "cluster-1") as running:
        proc = selma3d("round", str(spread), "--scheduler", running.address, start_new_session=True)
        code, out = finish(proc)
    assert code == 0, out
    assert f"scheduler {running.address}" in out
    # Progress names the worker of every case; both took some of the six.
    per_worker = out.split("cases per worker:")[1].splitlines()[0]
    assert "w1" in per_worker and "w2" in per_worker, out

    a = pd.read_csv(tmp_path / "local" / "results.csv").drop(columns=TIMING)
    b = pd.read_csv(tmp_path / "spread" / "results.csv").drop(columns=TIMING)
    assert len(a) == 2 * 3
    assert set(a.loc[a["team"] == "crashing", "status"]) == {"failed"}
    assert set(a.loc[a["team"] == "template", "status"]) == {"ok"}
    pd.testing.assert_frame_equal(a, b)

    def board(folder: str) -> pd.DataFrame:
        table = pd.read_csv(tmp_path / folder / "leaderboard" / "leaderboard.csv")
        return table[[c for c in table.columns if "time" not in c and "memory" not in c]]

    pd.testing.assert_frame_equal(board("local"), board("spread"))
    # The round kept each image as a tarball named by its digest, and no attempt folder.
    record = json.loads((tmp_path / "spread" / "round.json").read_text())
    for sub in record["submissions"]:
        tarball = tmp_path / "spread" / "images" / (sub["digest"].split(":")[1] + ".tar")
        assert tarball.is_file()
    assert not list((tmp_path / "spread" / "tasks").rglob("*.jsonl"))

    # The scores equal an evaluation of the round's folders in one process.
    from harness.scoring.evaluate import evaluate_predictions, write_results

    direct = evaluate_predictions(
        split, {t: tmp_path / "spread" / "runs" / t / "s00" for t in teams}, progress=False
    )
    write_results(direct, tmp_path / "direct.csv")
    direct = pd.read_csv(tmp_path / "direct.csv").drop(columns=TIMING)
    pd.testing.assert_frame_equal(b.drop(columns=["submission", "display_name", "tags"]), direct)

    # A rerun asks the cluster for nothing: every case and score is recorded.
    code, out = finish(selma3d("round", str(local), start_new_session=True))
    assert code == 0, out
    assert out.count("3 recorded, 0 to run") == 2
    assert "3 case(s) scored before, 0 to score" in out


@pytest.mark.docker
@pytest.mark.slow
def test_a_worker_killed_mid_round_loses_no_case_and_records_none_twice(tmp_path, images, tarballs):
    from distributed import Client

    root = tmp_path / "split"
    synthesize_split(root, cases=6, size=(24, 24, 24), seed=7)
    out = tmp_path / "out"
    seed_images(out, tarballs)
    config = write_round(tmp_path / "r.yaml", root, out, {"slow": images["slow"]})
    with cluster(tmp_path / "cluster-2") as running, Client(running.address, timeout=30) as client:
        proc = selma3d("round", str(config), "--scheduler", running.address, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            # w1 runs a container now: killing w1 leaves that container behind.
            workers = client.scheduler_info(n_workers=-1)["workers"]
            w1 = next(a for a, w in workers.items() if w["name"] == "w1")
            keys = " ".join(str(k) for k in client.processing().get(w1, ()))
            cases = [c.labels[LABEL_OUT_DIR].split("/")[-2] for c in task_containers(out)]
            if any(f"-{case}-" in keys for case in cases):
                break
            time.sleep(0.2)
        else:
            pytest.fail("w1 ran no container within 120 s")
        running.kill("w1")
        code, out = finish(proc)
    assert code == 0, out

    lines = (tmp_path / "out" / "runs" / "slow" / "s00" / "cases.jsonl").read_text().splitlines()
    cases = [json.loads(line)["case_id"] for line in lines]
    assert sorted(cases) == sorted(p.name.split(".")[0] for p in (root / "images").iterdir())
    assert {json.loads(line)["status"] for line in lines} == {"ok"}
    results = pd.read_csv(tmp_path / "out" / "results.csv")
    assert len(results) == 6 and set(results["status"]) == {"ok"}
    # The killed worker's container was removed (by label) before its case ran again.
    assert "removed 1 leftover container(s)" in out, out
    assert task_containers(tmp_path / "out") == []
    assert not any((tmp_path / "out" / "tasks").rglob("run.json"))


@pytest.mark.docker
def test_a_worker_lacking_the_image_loads_the_rounds_tarball_checked_by_digest(tmp_path):
    from docker.errors import ImageNotFound

    from harness.containers.engine import connect

    client = connect()
    context = tmp_path / "context"
    context.mkdir()
    (context / "payload").write_text(str(tmp_path))  # unique content: a unique image id
    # Labeled as an invoke server: the worker's runner must see it as one (it picks the contract).
    (context / "Dockerfile").write_text(
        "FROM scratch\nLABEL org.grand-challenge.api-method=invoke\nCOPY payload /payload\n"
    )
    tag = f"selma3d-test/tarball-{os.getpid()}:1"
    image, _ = client.images.build(path=str(context), tag=tag, rm=True, network_mode="none")
    other_context = tmp_path / "other"
    other_context.mkdir()
    (other_context / "payload").write_text("another image")
    (other_context / "Dockerfile").write_text("FROM scratch\nCOPY payload /payload\n")
    other, _ = client.images.build(path=str(other_context), rm=True, network_mode="none")
    try:
        tarball = save_image_tarball(client, tag, image.id, tmp_path / "images")
        assert tarball.name == image.id.split(":")[1] + ".tar"
        wrong = save_image_tarball(client, other.id, other.id, tmp_path / "images")
        client.images.remove(image.id, force=True)

        with pytest.raises(EngineError, match="round keeps no tarball"):
            ensure_image(client, tag, image.id, None)
        with pytest.raises(EngineError, match="does not match what was submitted"):
            ensure_image(client, tag, image.id, wrong)
        info = ensure_image(client, tag, image.id, tarball)
        assert info.digest == image.id and info.invoke
        assert client.images.get(tag).id == image.id
    finally:
        for ref in (image.id, other.id):
            with contextlib.suppress(ImageNotFound):
                client.images.remove(ref, force=True)


@pytest.mark.docker
@pytest.mark.slow
def test_losing_the_scheduler_exits_3_and_the_rerun_resumes(tmp_path, images, tarballs):
    root = tmp_path / "split"
    synthesize_split(root, cases=4, size=(24, 24, 24), seed=9)
    out = tmp_path / "out"
    seed_images(out, tarballs)
    config = write_round(tmp_path / "r.yaml", root, out, {"slow": images["slow"]})
    records = out / "runs" / "slow" / "s00" / "cases.jsonl"
    with cluster(tmp_path / "cluster-3") as running:
        proc = selma3d("round", str(config), "--scheduler", running.address, start_new_session=True)
        deadline = time.monotonic() + 120
        while not (records.is_file() and records.read_text().strip()):
            if time.monotonic() > deadline or proc.poll() is not None:
                stop(proc)
                pytest.fail("no case was recorded within 120 s")
            time.sleep(0.2)
        running.kill("scheduler")
        code, output = finish(proc)
    assert code == 3, output
    said = " ".join(output.split())
    assert "lost the Dask scheduler" in said and "rerun the same command to resume" in said
    before = {json.loads(line)["case_id"] for line in records.read_text().splitlines()}
    assert 1 <= len(before) < 4

    with cluster(tmp_path / "cluster-4") as running:
        code, output = finish(
            selma3d("round", str(config), "--scheduler", running.address, start_new_session=True)
        )
    assert code == 0, output
    assert f"{len(before)} recorded, {4 - len(before)} to run" in output
    lines = records.read_text().splitlines()
    assert sorted(json.loads(line)["case_id"] for line in lines) == sorted(
        p.name.split(".")[0] for p in (root / "images").iterdir()
    )
    assert task_containers(out) == []


def test_a_closed_scheduler_connection_is_a_cluster_failure():
    # A result being gathered when the scheduler dies fails with the connection, not a
    # cancelled future: both are the cluster's failure (exit 3), never selma3d's bug (exit 4).
    from distributed.comm.core import CommClosedError

    from harness.errors import ClusterError
    from harness.rounds.cluster import _cluster_failure

    failure = _cluster_failure(CommClosedError("in <TCP (closed)>: Stream is closed"), "scoring")
    assert isinstance(failure, ClusterError)
    assert "lost the Dask scheduler during the scoring stage" in str(failure)
    assert _cluster_failure(ValueError("a bug"), "scoring") is None


# --- invoke servers in a round ----------------------------------------------------------------


def real_split(root: Path, n: int) -> Path:
    """``n`` of the real patches with their masks (never copied: the manifest points at them)."""
    if not REAL_PATCHES.is_dir():
        pytest.fail(f"the real patches are missing: expected them at {REAL_PATCHES}")
    images = sorted(
        p for p in REAL_PATCHES.glob("*/*.nii.gz") if not p.name.endswith("_label.nii.gz")
    )[:n]
    rows = []
    for image in images:
        stem = image.name.removesuffix(".nii.gz")
        rows.append(
            {
                "case_id": stem,
                "track": "vessel" if stem.startswith("vessels") else "spot",
                "structure": stem.split("_patch")[0],
                "image": str(image),
                "label": str(image.with_name(f"{stem}_label.nii.gz")),
            }
        )
    write_manifest(root, rows)
    return root


def model_tarball(path: Path, behaviour: dict[str, object]) -> Path:
    """A model tarball holding the test server's ``behaviour.json``."""
    data = json.dumps(behaviour).encode()
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("behaviour.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.docker
def test_a_local_round_starts_one_invoke_server_per_slot_not_per_case(tmp_path):
    from harness.containers.images import build_folder
    from harness.scoring.evaluate import evaluate_predictions, write_results

    quiet = {"log": lambda message: None}
    build_folder(MISBEHAVING / "_base", "selma3d-test/misbehaving-base:latest", **quiet)
    image = build_folder(
        MISBEHAVING / "invoke" / "server", "selma3d-test/invoke-server:latest", **quiet
    )
    assert image.invoke
    root = real_split(tmp_path / "split", 4)
    # Loading the "model" takes 2 s: paid once per server, and so once per batch.
    model = model_tarball(tmp_path / "model.tar.gz", {"load_s": 2})
    config = tmp_path / "round.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "invoke",
                "output": str(tmp_path / "round"),
                "phases": {"final": {"split": str(root)}},
                "phase": "final",
                "limits": {"timeout_s": 120, "memory": "512m", "cpus": 1, "jobs": 2},
                "canary": False,
                "teams": [{"name": "inv", "image": image.ref, "model": str(model)}],
            }
        )
    )
    code, out = finish(selma3d("round", str(config), start_new_session=True))
    assert code == 0, out

    run_dir = tmp_path / "round" / "runs" / "inv" / "s00"
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["api_method"] == "invoke"
    # Two slots, four cases: two batches of two, so two start-ups (not four), each >= 2 s.
    servers = meta["servers"]
    assert [s["server"] for s in servers] == [1, 2], servers
    assert all(s["healthy"] and s["startup_s"] >= 2.0 and s["cases"] == 2 for s in servers)
    records = [json.loads(line) for line in (run_dir / "cases.jsonl").read_text().splitlines()]
    assert len(records) == 4 and {r["status"] for r in records} == {"ok"}
    assert sorted(r["server"] for r in records) == [1, 1, 2, 2]
    startups = {s["server"]: s["startup_s"] for s in servers}
    assert all(r["startup_s"] == startups[r["server"]] for r in records)
    assert out.count("inv/s00: invoke server") == 2, out
    assert all(f"inv/s00 {r['case_id']}: ok" in out for r in records), out
    # Each batch's attempt folder was removed once its cases were recorded.
    assert not list((tmp_path / "round" / "tasks").rglob("*.jsonl"))

    # `selma3d predict` of the same image and model gives the same masks and the same scores.
    predicted = tmp_path / "predict"
    argv = [
        *(sys.executable, "-m", "harness", "predict", image.ref, "--split", str(root)),
        *("--out", str(predicted), "--jobs", "2", "--memory", "512m", "--cpus", "1"),
        *("--model", str(model), "--no-progress"),
    ]
    done = subprocess.run(
        argv,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for record in records:
        name = f"{record['case_id']}.nii.gz"
        mask = read_volume(run_dir / "predictions" / name).array
        assert mask.any()
        np.testing.assert_array_equal(mask, read_volume(predicted / "predictions" / name).array)
    direct = evaluate_predictions(load_split(root), {"inv": predicted}, progress=False)
    write_results(direct, tmp_path / "direct.csv")
    direct = pd.read_csv(tmp_path / "direct.csv").drop(columns=TIMING)
    table = pd.read_csv(tmp_path / "round" / "results.csv").drop(columns=TIMING)
    pd.testing.assert_frame_equal(
        table.drop(columns=["submission", "display_name", "tags"]), direct
    )


@pytest.mark.docker
@pytest.mark.slow
def test_a_worker_killed_mid_batch_reruns_the_batch_elsewhere_and_records_each_case_once(
    tmp_path,
):
    from distributed import Client

    from harness.containers.engine import connect
    from harness.containers.images import build_folder

    quiet = {"log": lambda message: None}
    build_folder(MISBEHAVING / "_base", "selma3d-test/misbehaving-base:latest", **quiet)
    image = build_folder(
        MISBEHAVING / "invoke" / "server", "selma3d-test/invoke-server:latest", **quiet
    )
    root = real_split(tmp_path / "split", 4)
    model = model_tarball(tmp_path / "model.tar.gz", {"load_s": 3})
    out = tmp_path / "out"
    save_image_tarball(connect(), image.ref, image.digest, out / "images")
    config = tmp_path / "r.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "ctest",
                "output": str(out),
                "phases": {"final": {"split": str(root)}},
                "phase": "final",
                "limits": {"timeout_s": 120, "memory": "512m", "cpus": 1, "jobs": 2},
                "canary": False,
                "teams": [{"name": "inv", "image": image.ref, "model": str(model)}],
            }
        )
    )
    with cluster(tmp_path / "cluster-5") as running, Client(running.address, timeout=30) as client:
        proc = selma3d("round", str(config), "--scheduler", running.address, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            # w1 runs a batch and its server container exists: killing w1 leaves it behind.
            workers = client.scheduler_info(n_workers=-1)["workers"]
            w1 = next(a for a, w in workers.items() if w["name"] == "w1")
            keys = [str(k) for k in client.processing().get(w1, ())]
            firsts = {c.labels[LABEL_OUT_DIR].split("/")[-2] for c in task_containers(out)}
            if any(k.startswith("batch-") and f"-{case}+" in k for k in keys for case in firsts):
                break
            time.sleep(0.2)
        else:
            pytest.fail("w1 ran no batch within 120 s")
        running.kill("w1")
        code, output = finish(proc)
    assert code == 0, output

    run_dir = out / "runs" / "inv" / "s00"
    lines = [json.loads(line) for line in (run_dir / "cases.jsonl").read_text().splitlines()]
    assert sorted(r["case_id"] for r in lines) == sorted(load_split(root).case_ids)
    assert {r["status"] for r in lines} == {"ok"}
    # Only finished batches are recorded: w1's lost server is not; the rerun's is.
    servers = json.loads((run_dir / "run.json").read_text())["servers"]
    assert [s["server"] for s in servers] == [1, 2] and {s["worker"] for s in servers} == {"w2"}
    assert sorted(r["server"] for r in lines) == [1, 1, 2, 2]
    # The killed worker's containers were removed (by label) before its batch ran again.
    assert "leftover container(s)" in " ".join(output.split()), output
    assert task_containers(out) == []


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
        assert run_json["counts"] == {"ok": 2}
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
