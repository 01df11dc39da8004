"""Round scaling on a Dask cluster: one ``selma3d worker`` against two; the scheduler's overhead.

A container that sleeps ``--sleep`` seconds (2 by default) and then writes a valid mask runs on
``--cases`` cases (12) of a generated 24^3 split, as a round's container stage does
(:func:`harness.rounds.cluster.run_containers`: one task per case, each result recorded as it
arrives), first with one worker of one slot, then with two, against a real ``dask scheduler`` on
loopback, alternating ``--repeats`` times in the same run (best of each counts; the load average
is printed, since a machine whose cores are busy cannot run two containers any faster). Target:
speed-up >= 1.8x.

The scheduler's per-task overhead is printed two ways: the round trip of a task that does
nothing (submitted with the same ``slots`` resource, one at a time on one slot), and the
one-worker stage's wall time minus the time its tasks spent running, per case (scheduling,
transfer of the task and its result, and the organizer's ledger writes).

Run: ``.venv/bin/python benchmarks/round_scaling.py [--cases 12] [--sleep 2]``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from harness.containers.images import build_folder
from harness.containers.limits import Limits
from harness.containers.run_config import RunConfig
from harness.containers.run_folder import run_identity
from harness.rounds.cluster import SLOTS, SubmissionJob, run_containers
from harness.rounds.plan import Submission
from harness.split.manifest import load_split
from harness.split.synth import synthesize_split

DOCKERFILE = """\
FROM selma3d/python:3.11
RUN useradd --uid 1000 --no-create-home --home-dir /tmp app
COPY predict.py /opt/predict.py
USER app
ENTRYPOINT ["python3", "/opt/predict.py"]
"""
PREDICT = """\
import time
from pathlib import Path

import SimpleITK as sitk

time.sleep(float(__SLEEP__))
src = next(Path("/input/images/light-sheet-3d-microscopy").iterdir())
image = sitk.ReadImage(str(src))
mask = sitk.Cast(image > 0, sitk.sitkUInt8)
out = Path("/output/images/isolated-biological-structure") / (src.stem + ".mha")
out.parent.mkdir(parents=True, exist_ok=True)
sitk.WriteImage(mask, str(out))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def _fmt(runs: list[tuple[float, float]]) -> str:
    return ", ".join(f"{wall:.1f}" for wall, _ in runs)


def noop() -> None:
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=12)
    parser.add_argument("--sleep", type=float, default=2.0)
    parser.add_argument("--noops", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=2, help="Alternations; best of each.")
    args = parser.parse_args()

    from distributed import Client, get_task_stream

    console = Console(stderr=True, quiet=True)
    with tempfile.TemporaryDirectory(prefix="round-scaling-") as tmp_name:
        tmp = Path(tmp_name)
        synthesize_split(tmp / "split", cases=args.cases, size=(24, 24, 24), seed=3)
        split = load_split(tmp / "split")
        folder = tmp / "image"
        folder.mkdir()
        (folder / "Dockerfile").write_text(DOCKERFILE)
        (folder / "predict.py").write_text(PREDICT.replace("__SLEEP__", repr(args.sleep)))
        info = build_folder(folder, "selma3d-bench/sleeper:latest", log=lambda m: None)
        config = RunConfig(limits=Limits(timeout_s=120, memory="512m", cpus=1), progress=False)

        port = free_port()
        address = f"tcp://127.0.0.1:{port}"
        procs = [
            start(
                "-m",
                "dask",
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-dashboard",
            )
        ]
        try:
            procs.append(start("-m", "harness", "worker", address, "--jobs", "1", "--name", "w1"))
            with Client(address, timeout=60) as client:
                client.wait_for_workers(1, timeout=60)

                t0 = time.perf_counter()
                for _ in range(args.noops):
                    client.submit(noop, resources={SLOTS: 1}, pure=False).result()
                roundtrip = (time.perf_counter() - t0) / args.noops

                def stage(name: str) -> tuple[float, float]:
                    submission = Submission(
                        team="bench",
                        submission="s00",
                        source=info.ref,
                        image=info,
                        run_dir=tmp / name / "runs" / "bench" / "s00",
                        identity=run_identity(info, split, config, None),
                        limits=config.limits,
                    )
                    job = SubmissionJob(submission)
                    with get_task_stream(client) as stream:
                        t = time.perf_counter()
                        run_containers(
                            [job],
                            split,
                            config,
                            client,
                            out_dir=tmp / name,
                            distributed=True,
                            console=console,
                        )
                        wall = time.perf_counter() - t
                    busy = sum(
                        s["stop"] - s["start"]
                        for task in stream.data
                        if str(task["key"]).startswith("run-")
                        for s in task["startstops"]
                        if s["action"] == "compute"
                    )
                    return wall, busy

                ones, twos = [], []
                for repeat in range(args.repeats):
                    ones.append(stage(f"one-{repeat}"))
                    second = start(
                        "-m", "harness", "worker", address, "--jobs", "1", "--name", "w2"
                    )
                    try:
                        client.wait_for_workers(2, timeout=60)
                        twos.append(stage(f"two-{repeat}"))
                    finally:
                        stop(second)
                    while len(client.scheduler_info()["workers"]) > 1:
                        time.sleep(0.1)
        finally:
            for proc in reversed(procs):
                stop(proc)

    one, one_busy = min(ones)
    two = min(w for w, _ in twos)
    overhead = (one - one_busy) / args.cases
    speedup = one / two
    print(f"{args.cases} cases of a {args.sleep:g} s container, one slot per worker")
    print(f"  load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPU(s)")
    print(f"  one worker:  {one:6.1f} s ({one / args.cases:.2f} s per case; all {_fmt(ones)})")
    print(f"  two workers: {two:6.1f} s (all {_fmt(twos)})")
    print(
        f"  speed-up:    {speedup:6.2f}x  (target >= 1.8x) {'PASS' if speedup >= 1.8 else 'FAIL'}"
    )
    print(f"  scheduler round trip of a no-op task (slots=1): {roundtrip * 1000:.1f} ms")
    print(f"  per-case overhead beyond the task's run (one worker): {overhead * 1000:.0f} ms")
    return 0 if speedup >= 1.8 else 1


if __name__ == "__main__":
    sys.exit(main())
