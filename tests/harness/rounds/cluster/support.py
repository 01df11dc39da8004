"""What the cluster tests share: processes of a real cluster, rounds, splits, task results."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml

from harness.containers.isolation import LABEL_OUT_DIR
from harness.containers.records import CaseRecord
from harness.rounds.cluster import (
    TaskResult,
)
from harness.split.manifest import write_manifest
from tests.conftest import REAL_PATCHES

REPO = Path(__file__).resolve().parents[4]
TEMPLATE = REPO / "submissions" / "template"
MISBEHAVING = REPO / "tests" / "integration" / "misbehaving"
TIMING = ["wall_time_s", "peak_memory_bytes", "prediction"]


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
    where = {"attempt_dir": attempt, "worker": "w1", "host": "host"}
    return TaskResult("team/s00", case_id, asdict(record), **where)


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
                    # The engine the tests run on, named as a worker's operator names it.
                    *(["--engine", engine] if (engine := os.environ.get("SELMA3D_ENGINE")) else []),
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
    from harness.containers.engine import engine_client

    with engine_client() as client:
        found = client.containers.list(
            all=True, filters={"label": LABEL_OUT_DIR}, ignore_removed=True
        )
    return [c for c in found if c.labels[LABEL_OUT_DIR].startswith(f"{out}/tasks/")]


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
