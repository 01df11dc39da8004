"""Runner overhead: harness time per case beyond a bare ``docker run``, and ``--jobs 2`` speed-up.

A container that copies its input image to its output (a 0/1 mask, so the copy is a valid
prediction) runs on a synthetic split of 64^3 masks.

1. Overhead: the median time per case of ``run_submission`` (``jobs=1``; staging, the isolated
   container, validation, saving, records) minus the median time of a bare
   ``docker run --rm --network none -v in:/input:ro -v out:/output IMAGE`` on the same staged
   input. Target: < 0.5 s.
2. Parallelism: a 20-case split with ``jobs=2`` versus ``jobs=1``. Target: >= 1.7x. The same
   ratio for bare ``docker run`` (two at a time) is printed as the engine's own reference: with
   a container that does nothing, container start/stop inside the engine dominates and does not
   run fully in parallel. The fairer ceiling is printed too: the harness's own container call
   (``harness.containers.isolation.run_container``: the same isolation flags, watcher, wait, logs
   and removal) one and two at a time, without staging, validation or records, best of
   ``--repeats``. Below that, the engine's floor: the Docker SDK's shortest container life
   (create with the same input and output mounts and no network, start, wait, remove; no
   isolation flags, no logs), one and two at a time, in turn, best of ``--repeats``: no
   runner that starts one container per case can beat this ratio on the same machine.
   ``--work S`` adds S seconds of CPU work per case (a busy loop) to show the ratio for
   containers that compute something.

The harness's runs alternate (jobs 1, jobs 2) ``--repeats`` times and the best of each
counts; the share of the machine's CPU in use while jobs 2 runs is printed, since a machine
whose cores are all busy cannot run two cases any faster.

3. Invoke: the same copy, behind a model that takes ``--load`` seconds (4) to load, on
   ``--invoke-cases`` cases (6) with ``--jobs 1``, once as an exec image (the load in every
   container) and once as a grand-challenge invoke server (loaded once), in the same run.
   Target: invoke >= 3x faster. Its overhead per case: the harness's time per case (staging,
   emptying ``/output``, the call through the relay, validation, saving, records; the first case
   left out, it waits for the start) minus the bare HTTP call: ``POST /invoke`` timed by a
   client inside the server's own network namespace, on the same staged case. Target: < 0.15 s.

``--section overhead`` or ``--section invoke`` runs one part only.

Run: ``.venv/bin/python benchmarks/runner_overhead.py [--cases 20] [--bare 10] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from harness.containers.contracts import GrandChallengeContract
from harness.containers.engine import connect
from harness.containers.images import build_folder
from harness.containers.limits import Limits
from harness.containers.run_config import RunConfig
from harness.containers.runner import run_submission
from harness.split.manifest import load_split, write_manifest
from harness.split.volume import write_volume

DOCKERFILE = """\
FROM selma3d/python:3.11
RUN useradd --uid 1000 --no-create-home --home-dir /tmp app
COPY copy.py /opt/copy.py
USER app
ENTRYPOINT ["python3", "-S", "/opt/copy.py"]
ENV BENCH_WORK=__WORK__
"""
COPY = """\
import os, shutil, time
end = time.process_time() + float(os.environ.get("BENCH_WORK", "0"))
while time.process_time() < end:
    pass
src = "/input/images/light-sheet-3d-microscopy/"
name = os.listdir(src)[0]
dest = "/output/images/isolated-biological-structure/"
os.makedirs(dest)
shutil.copyfile(src + name, dest + name)
"""


LOADING_COPY = (
    """\
import time
time.sleep(float(__LOAD__))  # the model's loading
"""
    + COPY
)
SERVER = """\
import http.server, os, shutil, time
time.sleep(float(__LOAD__))  # the model's loading, once
class Handler(http.server.BaseHTTPRequestHandler):
    def reply(self, code):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def do_GET(self):
        self.reply(200)
    def do_POST(self):
        src = "/input/images/light-sheet-3d-microscopy/"
        name = os.listdir(src)[0]
        dest = "/output/images/isolated-biological-structure/"
        os.makedirs(dest, exist_ok=True)
        shutil.copyfile(src + name, dest + name)
        self.reply(201)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("0.0.0.0", 4743), Handler).serve_forever()
"""
# Run in the server's network namespace: health first, then n timed POST /invoke.
BARE_CLIENT = """\
import http.client, sys, time
def call(method, path):
    c = http.client.HTTPConnection("127.0.0.1", 4743, timeout=30)
    c.request(method, path, headers={"Content-Length": "0"})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status
while True:
    try:
        if call("GET", "/health") == 200:
            break
    except OSError:
        pass
    time.sleep(0.05)
times = []
for _ in range(int(sys.argv[1])):
    t = time.perf_counter()
    assert call("POST", "/invoke") == 201
    times.append(time.perf_counter() - t)
print(" ".join(f"{x:.6f}" for x in times))
"""


def cpu_busy() -> float:
    """CPU seconds spent by the whole machine (all cores, all processes) so far."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def make_split(root: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        path = root / f"img_{i:03d}.nii.gz"
        write_volume(path, (rng.random((64, 64, 64)) > 0.9).astype(np.uint8))
        rows.append(
            {
                "case_id": f"spot_{i:03d}",
                "track": "spot",
                "structure": "cfos",
                "image": path.name,
                "label": "",
            }
        )
    write_manifest(root, rows)
    return root


def staged_input(split_root: Path, prefix: str) -> Path:
    """A temporary folder whose ``in/`` holds the first case staged as the harness stages it."""
    split = load_split(split_root)
    work = Path(tempfile.mkdtemp(prefix=prefix))
    GrandChallengeContract().stage([split.cases[0]], work / "in")
    for p in (work / "in").rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    (work / "in").chmod(0o755)
    return work


def bare_runs(image: str, split_root: Path, n: int, *, parallel: int = 1) -> list[float]:
    work = staged_input(split_root, "bare-")

    def one(i: int) -> float:
        out = work / f"out-{i}"
        out.mkdir()
        out.chmod(0o777)
        t0 = time.perf_counter()
        cmd = ["docker", "run", "--rm", "--network", "none", "-v", f"{work / 'in'}:/input:ro"]
        subprocess.run([*cmd, "-v", f"{out}:/output", image], check=True, capture_output=True)
        return time.perf_counter() - t0

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        times = list(pool.map(one, range(n)))
    shutil.rmtree(work)
    return times


def engine_runs(client, image: str, split_root: Path, n: int, *, parallel: int) -> float:
    """Wall time of n runs of the harness's container call alone, ``parallel`` at a time."""
    from harness.containers.images import resolve_image
    from harness.containers.isolation import LABEL_OUT_DIR, LABEL_RUN_ID, run_container

    limits = Limits(timeout_s=120, memory="512m", cpus=1, jobs=parallel)
    work = staged_input(split_root, "engine-")
    info = resolve_image(image, client=client)
    labels = {LABEL_RUN_ID: f"bench-{os.getpid()}", LABEL_OUT_DIR: str(work)}

    def one(out: Path) -> None:
        result = run_container(
            client,
            info,
            work / "in",
            out,
            limits=limits,
            timeout_s=120.0,
            labels=labels,
            log_bytes=RunConfig().log_bytes,
        )
        if result.exit_code != 0:
            raise SystemExit(f"the copy container failed: {result}")

    return _timed(one, work, n, parallel=parallel)


def _timed(one, work: Path, n: int, *, parallel: int) -> float:  # type: ignore[no-untyped-def]
    """Wall time of ``one(out)`` for n fresh output folders in ``work``, ``parallel`` at a time;
    ``work`` is removed afterwards."""

    def fresh(i: int) -> None:
        out = work / f"out-{i}"
        out.mkdir()
        out.chmod(0o777)
        one(out)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        list(pool.map(fresh, range(n)))
    elapsed = time.perf_counter() - t0
    shutil.rmtree(work)
    return elapsed


def floor_runs(client, image: str, split_root: Path, n: int, *, parallel: int) -> float:
    """Wall time of n of the engine's shortest container lives, ``parallel`` at a time."""
    work = staged_input(split_root, "floor-")

    def one(out: Path) -> None:
        binds = {
            str(work / "in"): {"bind": "/input", "mode": "ro"},
            str(out): {"bind": "/output", "mode": "rw"},
        }
        container = client.api.create_container(
            image,
            network_disabled=True,
            host_config=client.api.create_host_config(binds=binds, network_mode="none"),
        )
        try:
            client.api.start(container)
            code = client.api.wait(container)["StatusCode"]
        finally:
            client.api.remove_container(container, force=True)
        if code != 0:
            raise SystemExit(f"the copy container failed with exit code {code}")

    return _timed(one, work, n, parallel=parallel)


def harness_run(image: str, split_root: Path, out: Path, jobs: int) -> tuple[float, list[float]]:
    stamps: list[float] = []
    limits = Limits(timeout_s=120, memory="512m", cpus=1, jobs=jobs)
    config = RunConfig(limits=limits, progress=False)
    t0 = time.perf_counter()
    summary = run_submission(
        image,
        split_root,
        out,
        config=config,
        on_record=lambda r: stamps.append(time.perf_counter()),
    )
    total = time.perf_counter() - t0
    if not summary.passed:
        raise SystemExit(f"the copy container did not pass: {summary.counts}")
    per_case = [b - a for a, b in zip([t0, *stamps[:-1]], stamps, strict=True)]
    return total, per_case


def build(client, folder: Path, tag: str, files: dict[str, str], dockerfile: str) -> str:
    folder.mkdir()
    (folder / "Dockerfile").write_text(dockerfile)
    for name, text in files.items():
        (folder / name).write_text(text)
    return build_folder(folder, tag, client=client, log=lambda m: None).ref


def bare_invoke(client, image: str, split_root: Path, n: int) -> list[float]:
    """``POST /invoke`` timed inside the server's network namespace, ``n`` times, one case."""
    work = staged_input(split_root, "bare-invoke-")
    out = work / "out"
    out.mkdir()
    out.chmod(0o777)
    binds = {str(work / "in"): {"bind": "/input", "mode": "ro"}, str(out): {"bind": "/output"}}
    server = client.containers.run(image, detach=True, network_mode="none", volumes=binds)
    try:
        text = client.containers.run(
            "selma3d/python:3.11",
            ["python3", "-S", "-c", BARE_CLIENT, str(n)],
            network_mode=f"container:{server.id}",
            remove=True,
        )
    finally:
        server.remove(force=True)
        shutil.rmtree(work)
    return [float(x) for x in text.decode().split()]


def invoke_section(client, tmp_path: Path, *, cases: int, load_s: float) -> bool:
    """Exec versus invoke on a model that loads in ``load_s`` seconds; True if targets met."""
    split_root = make_split(tmp_path / "invoke-split", cases)
    header = "FROM selma3d/python:3.11\nRUN useradd --uid 1000 --no-create-home app\n"
    exec_image = build(
        client,
        tmp_path / "loading-copy",
        f"selma3d-bench/loading-copy:{load_s:g}",
        {"copy.py": LOADING_COPY.replace("__LOAD__", repr(load_s))},
        header
        + 'COPY copy.py /opt/copy.py\nUSER app\nENTRYPOINT ["python3", "-S", "/opt/copy.py"]\n',
    )
    invoke_image = build(
        client,
        tmp_path / "loading-server",
        f"selma3d-bench/loading-server:{load_s:g}",
        {"server.py": SERVER.replace("__LOAD__", repr(load_s))},
        header
        + "LABEL org.grand-challenge.api-method=invoke\nCOPY server.py /opt/server.py\n"
        + 'USER app\nENTRYPOINT ["python3", "-S", "/opt/server.py"]\n',
    )
    exec_total, _ = harness_run(exec_image, split_root, tmp_path / "exec-run", jobs=1)
    stamps: list[float] = []
    limits = Limits(timeout_s=120, memory="512m", cpus=1, jobs=1)
    t0 = time.perf_counter()
    summary = run_submission(
        invoke_image,
        split_root,
        tmp_path / "invoke-run",
        config=RunConfig(limits=limits, progress=False),
        on_record=lambda r: stamps.append(time.perf_counter()),
    )
    invoke_total = time.perf_counter() - t0
    if not summary.passed or len(summary.servers) != 1:
        raise SystemExit(f"the invoke server did not pass: {summary.counts} {summary.servers}")
    per_case = [b - a for a, b in itertools.pairwise(stamps)]
    bare = bare_invoke(client, invoke_image, split_root, max(cases, 5))
    startup = summary.servers[0]["startup_s"]
    speedup = exec_total / invoke_total
    overhead = statistics.median(per_case) - statistics.median(bare)
    invoke_walls = [r.wall_time_s for r in summary.records.values()]
    print(f"invoke section: {cases} cases, a model loading in {load_s:g} s, jobs 1")
    print(f"exec (the load in every container): {exec_total:.1f} s")
    print(
        f"invoke (one server, started in {startup:.2f} s): {invoke_total:.1f} s; "
        f"speed-up {speedup:.2f}x (target >= 3x)"
    )
    print(
        f"invoke per case, cases 2..{cases}, median: {statistics.median(per_case):.3f} s "
        f"(recorded POST /invoke through the relay, median {statistics.median(invoke_walls):.3f} s)"
    )
    print(
        f"bare POST /invoke inside the server's namespace, median of {len(bare)}: "
        f"{statistics.median(bare):.3f} s"
    )
    print(f"invoke overhead per case: {overhead:.3f} s (target < 0.15 s)")
    return speedup >= 3.0 and overhead < 0.15


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--bare", type=int, default=10)
    parser.add_argument("--work", type=float, default=0.0, help="CPU seconds of work per case")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of jobs 1 and jobs 2")
    parser.add_argument("--section", choices=("all", "overhead", "invoke"), default="all")
    parser.add_argument("--invoke-cases", type=int, default=6)
    parser.add_argument("--load", type=float, default=4.0, help="seconds the model takes to load")
    args = parser.parse_args()
    client = connect()
    invoke_ok = True
    if args.section in ("all", "invoke"):
        with tempfile.TemporaryDirectory(prefix="selma3d-bench-") as tmp:
            invoke_ok = invoke_section(client, Path(tmp), cases=args.invoke_cases, load_s=args.load)
        if args.section == "invoke":
            print("targets met" if invoke_ok else "TARGETS MISSED")
            return
    with tempfile.TemporaryDirectory(prefix="selma3d-bench-") as tmp:
        tmp_path = Path(tmp)
        folder = tmp_path / "copy"
        folder.mkdir()
        (folder / "Dockerfile").write_text(DOCKERFILE.replace("__WORK__", str(args.work)))
        (folder / "copy.py").write_text(COPY)
        tag = f"selma3d-bench/copy:work-{args.work:g}"
        image = build_folder(folder, tag, client=client, log=lambda m: None).ref
        split_root = make_split(tmp_path / "split", args.cases)
        bare_runs(image, split_root, 2)  # warm the engine and page cache
        bare = bare_runs(image, split_root, args.bare)
        t0 = time.perf_counter()
        bare_runs(image, split_root, args.cases, parallel=1)
        bare_seq = time.perf_counter() - t0
        t0 = time.perf_counter()
        bare_runs(image, split_root, args.cases, parallel=2)
        bare_par = time.perf_counter() - t0
        # In turn, best of --repeats: the machine's speed drifts between runs.
        seq_runs, par_runs, busy_seq, busy_par = [], [], [], []
        per_case: list[float] = []
        cores = os.cpu_count() or 1
        for i in range(args.repeats):
            before = cpu_busy()
            total, times = harness_run(image, split_root, tmp_path / f"seq-{i}", jobs=1)
            busy_seq.append((cpu_busy() - before) / (total * cores))
            seq_runs.append(total)
            per_case += times
            before = cpu_busy()
            total, _ = harness_run(image, split_root, tmp_path / f"par-{i}", jobs=2)
            busy_par.append((cpu_busy() - before) / (total * cores))
            par_runs.append(total)
        seq_total, par_total = min(seq_runs), min(par_runs)
        engine_seq = min(
            engine_runs(client, image, split_root, args.cases, parallel=1)
            for _ in range(args.repeats)
        )
        engine_par = min(
            engine_runs(client, image, split_root, args.cases, parallel=2)
            for _ in range(args.repeats)
        )
        floor_seq, floor_par = [], []
        for _ in range(args.repeats):
            floor_seq.append(floor_runs(client, image, split_root, args.cases, parallel=1))
            floor_par.append(floor_runs(client, image, split_root, args.cases, parallel=2))
    bare_med = statistics.median(bare)
    harness_med = statistics.median(per_case)
    overhead = harness_med - bare_med
    speedup = seq_total / par_total
    print(f"bare docker run, median of {len(bare)}: {bare_med:.3f} s")
    print(f"harness per case (jobs 1), median of {len(per_case)}: {harness_med:.3f} s")
    ratio = harness_med / bare_med
    print(f"overhead per case: {overhead:.3f} s (target < 0.5 s); harness/bare ratio {ratio:.2f}")
    rounds = " ".join(f"{a:.1f}/{b:.1f}" for a, b in zip(seq_runs, par_runs, strict=True))
    print(
        f"{args.cases} cases, best of {args.repeats}: jobs 1 {seq_total:.1f} s, jobs 2 "
        f"{par_total:.1f} s (each round, jobs 1/jobs 2: {rounds})"
    )
    print(f"jobs 2 speed-up: {speedup:.2f}x (target >= 1.7x)")
    print(
        f"CPU busy (engine, runtime, containers and harness together), share of {cores} cores: "
        f"jobs 1 {' '.join(f'{b:.0%}' for b in busy_seq)}, "
        f"jobs 2 {' '.join(f'{b:.0%}' for b in busy_par)}"
    )
    # CPU seconds per case stay about the same with two at a time, so two busy cores cannot
    # run cases faster than this.
    print(
        f"CPU bound on the speed-up: {cores} cores / {statistics.median(busy_seq) * cores:.2f} "
        f"cores in use at jobs 1 (median) = {1 / statistics.median(busy_seq):.2f}x"
    )
    print(
        f"reference, bare docker run two at a time: {bare_seq:.1f} s vs {bare_par:.1f} s, "
        f"{bare_seq / bare_par:.2f}x"
    )
    print(
        f"ceiling, the harness's container call alone (same flags, no staging or validation), "
        f"best of {args.repeats}: {engine_seq:.1f} s vs {engine_par:.1f} s, "
        f"{engine_seq / engine_par:.2f}x"
    )
    rounds = " ".join(f"{a:.1f}/{b:.1f}" for a, b in zip(floor_seq, floor_par, strict=True))
    print(
        f"engine floor, the SDK's shortest container life (create, start, wait, remove), best of "
        f"{args.repeats}: {min(floor_seq):.1f} s vs {min(floor_par):.1f} s, "
        f"{min(floor_seq) / min(floor_par):.2f}x (each round: {rounds})"
    )
    ok = overhead < 0.5 and speedup >= 1.7 and invoke_ok
    print("targets met" if ok else "TARGETS MISSED")


if __name__ == "__main__":
    main()
