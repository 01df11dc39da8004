"""Run a submission's container on every case of a split, safely, and keep every result.

Data flow: resolve the image -> check it (non-root user, same digest as an earlier run into the
same folder) -> clean orphans of an interrupted run -> for each batch of cases (one case with the
grand-challenge contract): stage inputs into a fresh folder, run the container under the
isolation flags below, validate ``/output`` -> append one record per case to ``cases.jsonl``.

Output folder
-------------
``run.json``
    The run: id, image (ref, digest, user), split hash, contract, limits, counts by status.
``cases.jsonl``
    One JSON record per finished case, appended (one ``write`` + ``fsync``) as each finishes:
    ``case_id, status, exit_code, wall_time_s, peak_memory_bytes, image_digest, reason, run_id,
    contract, attempt, finished_at, prediction, log``. The newest record of a case wins when read.
``predictions/<case_id>.nii.gz``
    uint8 0/1 on the case image's grid, for ``ok`` cases.
``logs/<case_id>.log``
    The container's output (the last ``log_bytes``) with the harness's verdict on top.

Resuming: a second run into the same folder skips finished cases; ``retry_failed`` reruns the
cases whose newest status is not ``ok``; ``infrastructure_error`` cases always rerun, since the
team is never charged for them. A harness killed mid-run leaves containers labeled with the run
id: the rerun removes them first.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.containers.contracts import CONTRACTS, Contract, StagedCase, make_contract
from harness.containers.images import ImageInfo, is_root_user, resolve_image
from harness.errors import ConfigError, Selma3dError, SubmissionError
from harness.predictions.validate import (
    BinarizeRule,
    GateOptions,
    OutputLimits,
    save_mask,
    scan_output_tree,
    validate_prediction,
)
from harness.split.manifest import Case, Split, load_split
from leaderboard.status import STATUSES

__all__ = [
    "LABEL_OUT_DIR",
    "LABEL_RUN_ID",
    "CaseRecord",
    "RunConfig",
    "RunSummary",
    "parse_memory",
    "read_case_records",
    "read_records",
    "remove_run_containers",
    "run_submission",
]

LABEL_RUN_ID = "org.selma3d.run-id"
LABEL_OUT_DIR = "org.selma3d.out-dir"
RECORDS_NAME = "cases.jsonl"
RUN_NAME = "run.json"
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def parse_memory(text: str | int) -> int:
    """Parse a memory size as Docker writes it (``512m``, ``8g``, ``1.5g``, bytes) into bytes.

    Examples
    --------
    >>> parse_memory("8g"), parse_memory("256m"), parse_memory(1024)
    (8589934592, 268435456, 1024)
    >>> parse_memory("lots")
    Traceback (most recent call last):
    ...
    ValueError: memory must look like 512m, 8g or a number of bytes. Got 'lots'.
    """
    if isinstance(text, int):
        return text
    m = _MEMORY.match(str(text))
    if not m:
        raise ValueError(f"memory must look like 512m, 8g or a number of bytes. Got {text!r}.")
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[m.group(2).lower()]
    return int(float(m.group(1)) * scale)


@dataclass(frozen=True)
class RunConfig:
    """How to run a submission. Validated on creation (:class:`~harness.errors.ConfigError`).

    Attributes
    ----------
    contract : {"grand-challenge", "folder"}
    timeout_s : float
        Wall-clock limit per case (a folder-contract run gets it times its number of cases).
    memory : str
        Memory limit (``8g``); swap is disabled by setting the swap limit equal.
    cpus : float
        CPU limit (``nano_cpus``).
    gpus : str or None
        ``"all"`` or device ids ``"0,1"``; None for none.
    jobs : int
        Containers run at once.
    retry_failed : bool
        Rerun cases whose newest status is not ``ok``.
    canary : bool
        Run the first pending case alone first and stop if it is not ``ok``.
    allow_root : bool
        Accept an image whose user is root (refused by default).
    expose_structure : bool
        Tell the container the structure name (see :mod:`harness.containers.contracts`).
    input_format : {"mha", "tif"}
        Format of the grand-challenge input image.
    input_slug, output_slug : str
        grand-challenge socket slugs.
    pids_limit : int
        Maximum number of processes and threads in the container.
    tmp_size : str
        Size of the writable ``/tmp`` (tmpfs, counted in the memory limit).
    max_output_bytes, max_output_files : int
        Caps on ``/output`` per container run.
    threshold : float or None
        The binarization rule: None for the official ``value > 0``, a number ``t`` for
        ``value >= t`` (see :class:`harness.predictions.validate.BinarizeRule`).
    geometry : {"voxel", "strict"}
        How a prediction's spacing, origin and direction are judged (see
        :class:`harness.predictions.validate.GateOptions`).
    retries : int
        Extra attempts when the Docker engine fails.
    log_bytes : int
        Bytes of container output kept per case (the tail).
    work_dir : str or None
        Where per-run staging folders are made; default ``<out>/.work``.
    progress : bool
        Show a progress bar.
    """

    contract: str = "grand-challenge"
    timeout_s: float = 600.0
    memory: str = "8g"
    cpus: float = 2.0
    gpus: str | None = None
    jobs: int = 1
    retry_failed: bool = False
    canary: bool = False
    allow_root: bool = False
    expose_structure: bool = False
    input_format: str = "mha"
    input_slug: str = "light-sheet-3d-microscopy"
    output_slug: str = "isolated-biological-structure"
    pids_limit: int = 256
    tmp_size: str = "1g"
    max_output_bytes: int = 1 << 30
    max_output_files: int = 1000
    threshold: float | None = None
    geometry: str = "voxel"
    retries: int = 2
    log_bytes: int = 1 << 20
    work_dir: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        problems = []
        if self.contract not in CONTRACTS:
            problems.append(f"contract must be one of {CONTRACTS}, got {self.contract!r}")
        if not self.timeout_s > 0:
            problems.append(f"timeout_s must be > 0, got {self.timeout_s}")
        for name in ("memory", "tmp_size"):
            try:
                if parse_memory(getattr(self, name)) < 6 << 20:
                    problems.append(f"{name} must be at least 6m, got {getattr(self, name)!r}")
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
        if not self.cpus > 0:
            problems.append(f"cpus must be > 0, got {self.cpus}")
        if self.gpus is not None and not re.fullmatch(r"all|\d+(,\d+)*", self.gpus):
            problems.append(f"gpus must be 'all' or device ids like '0,1', got {self.gpus!r}")
        for name in ("jobs", "pids_limit", "max_output_bytes", "max_output_files", "log_bytes"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.retries < 0:
            problems.append(f"retries must be >= 0, got {self.retries}")
        if self.threshold is not None and not math.isfinite(self.threshold):
            problems.append(f"threshold must be a finite number or None, got {self.threshold}")
        if self.geometry not in ("voxel", "strict"):
            problems.append(f"geometry must be 'voxel' or 'strict', got {self.geometry!r}")
        if self.input_format not in ("mha", "tif"):
            problems.append(f"input_format must be 'mha' or 'tif', got {self.input_format!r}")
        if problems:
            raise ConfigError("RunConfig: " + "; ".join(problems))

    @property
    def gate(self) -> GateOptions:
        """The prediction gate's options: the same model ``evaluate`` and ``check`` use."""
        return GateOptions(
            binarize=BinarizeRule(threshold=self.threshold),
            geometry=self.geometry,  # type: ignore[arg-type]
        )

    @property
    def memory_bytes(self) -> int:
        """The memory limit in bytes."""
        return parse_memory(self.memory)

    def make_contract(self) -> Contract:
        """The contract object these settings describe."""
        return make_contract(
            self.contract,
            expose_structure=self.expose_structure,
            input_format=self.input_format,
            input_slug=self.input_slug,
            output_slug=self.output_slug,
        )


@dataclass(frozen=True)
class CaseRecord:
    """One line of ``cases.jsonl``: the outcome of one case."""

    case_id: str
    status: str
    exit_code: int | None
    wall_time_s: float
    peak_memory_bytes: int | None
    image_digest: str
    reason: str
    run_id: str = ""
    contract: str = ""
    attempt: int = 1
    finished_at: str = ""
    prediction: str = ""
    log: str = ""

    def to_json(self) -> str:
        """One line of JSON with sorted keys."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseRecord:
        """Build from a parsed line, ignoring keys this version does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class RunSummary:
    """What :func:`run_submission` returns.

    Attributes
    ----------
    out_dir : Path
    run_id : str
    image : ImageInfo
    records : dict of str to CaseRecord
        Newest record per case id, for every case of the split that has one.
    ran : int
        Cases run by this call (the others were already finished).
    stopped_early : bool
        The canary failed and the other cases were not run.
    wall_time_s : float
    """

    out_dir: Path
    run_id: str
    image: ImageInfo
    records: dict[str, CaseRecord]
    n_cases: int
    ran: int
    stopped_early: bool
    wall_time_s: float

    @property
    def counts(self) -> dict[str, int]:
        """Number of cases per status (every status listed, zeros included)."""
        c = Counter(r.status for r in self.records.values())
        return {s: c.get(s, 0) for s in STATUSES}

    @property
    def passed(self) -> bool:
        """True when every case of the split ended ``ok``."""
        return (
            not self.stopped_early
            and len(self.records) == self.n_cases
            and all(r.status == "ok" for r in self.records.values())
        )


def read_records(out_dir: str | Path) -> dict[str, CaseRecord]:
    """Read ``cases.jsonl``; the newest record of each case wins.

    A last line without its newline (a write cut by a crash) is ignored; any other unparsable
    line raises :class:`~harness.errors.Selma3dError` naming the line.
    """
    path = Path(out_dir) / RECORDS_NAME
    if not path.is_file():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise Selma3dError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); expected one JSON "
            "case record per line"
        ) from exc
    lines = text.split("\n")
    complete, partial = lines[:-1], lines[-1]
    out: dict[str, CaseRecord] = {}
    for n, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise TypeError(f"a JSON {type(data).__name__}, not an object")
            rec = CaseRecord.from_dict(data)
        except (json.JSONDecodeError, TypeError) as exc:
            raise Selma3dError(
                f"{path}: line {n} is not a case record ({exc}): {line[:200]!r}"
            ) from exc
        if rec.status not in STATUSES:
            raise Selma3dError(
                f"{path}: line {n}: status must be one of {', '.join(STATUSES)}; "
                f"got {rec.status!r}."
            )
        out[rec.case_id] = rec
    del partial  # cut by a crash before its newline: that case simply reruns
    return out


def read_case_records(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read a ``cases.jsonl`` file into plain dicts, the newest record of each case winning.

    Parameters
    ----------
    path : str or Path
        The ``cases.jsonl`` file (or the run folder holding it).
    """
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    return {k: asdict(v) for k, v in read_records(folder).items()}


def _append_record(path: Path, record: CaseRecord, lock: threading.Lock) -> None:
    line = (record.to_json() + "\n").encode()
    with lock:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            # One write of one line: a crash leaves at most a partial last line, never a mix.
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True, default=str)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def remove_run_containers(client: Any, run_id: str) -> int:
    """Force-remove every container labeled with ``run_id`` (running or not); return how many."""
    from docker.errors import NotFound

    # ignore_removed: listing inspects each container, and a worker may remove its own
    # container between the engine's list and that inspection.
    containers = client.containers.list(
        all=True, filters={"label": f"{LABEL_RUN_ID}={run_id}"}, ignore_removed=True
    )
    for c in containers:
        with contextlib.suppress(NotFound):  # removed meanwhile by its own worker: the goal
            c.remove(force=True, v=True)
    return len(containers)


@dataclass
class _ContainerResult:
    exit_code: int | None
    timed_out: bool
    oom: bool
    wall_time_s: float
    peak_memory_bytes: int | None
    log: str
    output_problem: str | None = None
    stderr: str = ""


@dataclass
class _Run:
    client: Any
    image: ImageInfo
    config: RunConfig
    contract: Contract
    out_dir: Path
    run_id: str
    work_root: Path
    lock: threading.Lock = field(default_factory=threading.Lock)
    on_record: Callable[[CaseRecord], None] = lambda r: None


def _cgroup_memory_files(container_id: str) -> list[Path]:
    root = Path("/sys/fs/cgroup")
    return [
        root / "memory" / "docker" / container_id / "memory.max_usage_in_bytes",
        root
        / "memory"
        / "system.slice"
        / f"docker-{container_id}.scope"
        / "memory.max_usage_in_bytes",
        root / "system.slice" / f"docker-{container_id}.scope" / "memory.peak",
        root / "docker" / container_id / "memory.peak",
    ]


class _Watcher(threading.Thread):
    """Samples peak memory and the size of ``/output`` while a container runs.

    Peak memory comes from the cgroup's high-water mark when the engine is local (cgroup v1
    ``memory.max_usage_in_bytes``, v2 ``memory.peak``), else from the stats API. The output
    folder is watched so a container filling the disk is killed early, not after the fact.
    """

    def __init__(self, container: Any, output_dir: Path, limits: OutputLimits) -> None:
        super().__init__(daemon=True)
        self.container = container
        self.output_dir = output_dir
        self.limits = limits
        self.peak: int | None = None
        self.output_problem: str | None = None
        self.stop = threading.Event()
        self.files: list[Path] = []

    def sample_memory(self) -> None:
        for p in self.files:
            with contextlib.suppress(OSError, ValueError):  # the cgroup vanishes at exit
                value = int(p.read_text())
                self.peak = max(self.peak or 0, value)
                return
        if not self.files:
            from docker.errors import APIError

            with contextlib.suppress(APIError):
                stats = self.container.stats(stream=False, one_shot=True)
                mem = stats.get("memory_stats") or {}
                value = mem.get("max_usage") or mem.get("usage")
                if value:
                    self.peak = max(self.peak or 0, int(value))

    def run(self) -> None:
        # The cgroup exists from the container's start until shortly after its exit.
        self.files = [p for p in _cgroup_memory_files(self.container.id) if p.parent.is_dir()]
        self.sample_memory()
        tick = 0
        while not self.stop.wait(0.05 if self.files else 1.0):
            self.sample_memory()
            tick += 1
            if tick % 10 == 0 and self.output_problem is None:
                with contextlib.suppress(OSError):  # files come and go while it writes
                    scan = scan_output_tree(self.output_dir, limits=self.limits)
                    if scan.problem and "cap" in scan.problem:
                        self.output_problem = scan.problem
                        with contextlib.suppress(Exception):  # already exited: nothing to kill
                            self.container.kill()


def _is_engine_failure(exc: BaseException) -> bool:
    import requests
    from docker.errors import APIError

    if isinstance(exc, APIError):
        return exc.is_server_error()
    return isinstance(exc, requests.exceptions.ConnectionError | ConnectionError)


def _run_container(
    run: _Run, input_dir: Path, output_dir: Path, timeout_s: float
) -> _ContainerResult:
    import requests
    from docker.errors import NotFound
    from docker.types import DeviceRequest, Ulimit

    cfg = run.config
    mem = cfg.memory_bytes
    threads = str(max(1, math.floor(cfg.cpus)))
    device_requests = None
    if cfg.gpus:
        # GPUs only when asked: a device request exposes the host's driver to the container.
        ids = None if cfg.gpus == "all" else cfg.gpus.split(",")
        device_requests = [
            DeviceRequest(count=-1 if ids is None else 0, device_ids=ids, capabilities=[["gpu"]])
        ]
    container = run.client.containers.create(
        run.image.digest,  # the exact image checked at start, even if its tag moves meanwhile
        detach=True,
        # No network interface but loopback: nothing can leave (data) or come in (downloads).
        network_mode="none",
        # The same, without the engine's own network sandbox: the runtime gives the container
        # an empty network namespace (loopback only) directly. Halves the container's start.
        network_disabled=True,
        # Read-only root file system: the image cannot be altered or used as scratch space.
        read_only=True,
        # The only writable scratch space, size-limited (and counted in the memory cgroup).
        tmpfs={"/tmp": f"size={parse_memory(cfg.tmp_size)},mode=1777"},
        volumes={
            # The staged inputs of this run only, read-only: never the organizer's data folder.
            str(input_dir): {"bind": "/input", "mode": "ro"},
            # A fresh, empty folder per run; its content is validated before it is used.
            str(output_dir): {"bind": "/output", "mode": "rw"},
        },
        # No capabilities: no raw sockets, mounts, ownership changes, ptrace, etc.
        cap_drop=["ALL"],
        # setuid binaries cannot raise privileges.
        security_opt=["no-new-privileges"],
        # The image's own non-root user (root images were refused unless allowed).
        user=run.image.user or "0",
        # A fork bomb stops at this many processes and threads instead of exhausting the host.
        pids_limit=cfg.pids_limit,
        # Memory limit; swap limit equal to it means no swap, so the limit is real.
        mem_limit=mem,
        memswap_limit=mem,
        # CPU limit in billionths of a CPU.
        nano_cpus=int(cfg.cpus * 1e9),
        device_requests=device_requests,
        # Private IPC namespace; no core dumps (they could be huge and hold data).
        ipc_mode="private",
        ulimits=[Ulimit(name="core", soft=0, hard=0)],
        # A tiny init reaps zombies and forwards the kill signal to every process.
        init=True,
        # Docker's own copy of the output is capped too, so a chatty container cannot fill the disk.
        log_config={"type": "json-file", "config": {"max-size": "1m", "max-file": "2"}},
        labels={LABEL_RUN_ID: run.run_id, LABEL_OUT_DIR: str(run.out_dir)},
        hostname="selma3d",
        environment={
            "OMP_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
        },
    )
    watcher = _Watcher(
        container, output_dir, OutputLimits(cfg.max_output_bytes, cfg.max_output_files)
    )
    try:
        t0 = time.perf_counter()
        container.start()
        watcher.start()
        timed_out = False
        exit_code: int | None = None
        while True:
            remaining = timeout_s - (time.perf_counter() - t0)
            if remaining <= 0:
                timed_out = True
                break
            try:
                exit_code = int(container.wait(timeout=max(1.0, remaining))["StatusCode"])
                break
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                # Either the timeout or a lost engine; asking the engine tells them apart (a
                # second failure propagates as an engine failure).
                container.reload()
                if container.status != "running":
                    continue
        wall = time.perf_counter() - t0
        if timed_out:
            with contextlib.suppress(NotFound):
                container.kill()
            container.wait(timeout=30)
        watcher.stop.set()
        watcher.join(timeout=5)
        watcher.sample_memory()
        container.reload()
        state = container.attrs.get("State") or {}
        oom = bool(state.get("OOMKilled")) or (
            exit_code == 137
            and not timed_out
            and watcher.output_problem is None
            and (watcher.peak or 0) >= 0.95 * mem
        )
        log_bytes = container.logs(stdout=True, stderr=True, timestamps=False)
        log = log_bytes[-cfg.log_bytes :].decode("utf-8", errors="replace")
        # stderr on its own too: the two streams interleave unreliably, and errors go there.
        # No `tail=`: the engine counts it over both streams before filtering, so later stdout
        # lines could hide the only stderr line.
        err = b""
        if exit_code not in (0, None):
            err = container.logs(stdout=False, stderr=True)[-8192:]
        peak = watcher.peak
        if oom:
            peak = max(peak or 0, mem)
        return _ContainerResult(
            exit_code=None if timed_out else exit_code,
            timed_out=timed_out,
            oom=oom,
            wall_time_s=wall,
            peak_memory_bytes=peak,
            log=log,
            output_problem=watcher.output_problem,
            stderr=err.decode("utf-8", errors="replace"),
        )
    finally:
        watcher.stop.set()
        with contextlib.suppress(NotFound):
            container.remove(force=True, v=True)


def _log_tail(log: str, *, lines: int = 8, chars: int = 600) -> str:
    tail = "\n".join(line for line in log.strip().splitlines()[-lines:])
    return tail[-chars:]


def _chmod_tree(root: Path, *, dirs: int, files: int) -> None:
    for dirpath, _dirnames, filenames in os.walk(root):
        os.chmod(dirpath, dirs)
        for f in filenames:
            os.chmod(os.path.join(dirpath, f), files)


def _run_batch(run: _Run, cases: Sequence[Case], attempt_of: dict[str, int]) -> list[CaseRecord]:
    cfg = run.config
    contract = run.contract
    work = Path(tempfile.mkdtemp(prefix="run-", dir=run.work_root))
    input_dir, output_dir = work / "input", work / "output"
    try:
        input_dir.mkdir()
        staged = contract.stage(cases, input_dir)
        # The container's user is not the harness's: inputs world-readable, output writable.
        _chmod_tree(input_dir, dirs=0o755, files=0o644)
        timeout = cfg.timeout_s * len(cases)
        result: _ContainerResult | None = None
        engine_error = ""
        for attempt in range(cfg.retries + 1):
            if output_dir.exists():
                shutil.rmtree(output_dir)
            output_dir.mkdir()
            os.chmod(output_dir, 0o777)
            try:
                result = _run_container(run, input_dir, output_dir, timeout)
                break
            except Exception as exc:
                if not _is_engine_failure(exc):
                    raise
                engine_error = f"the Docker engine failed (attempt {attempt + 1}): {exc}"
                if attempt < cfg.retries:
                    time.sleep(min(5.0, 0.5 * 2**attempt))
        return [
            _finish_case(run, s, result, output_dir, engine_error, attempt_of, len(staged))
            for s in staged
        ]
    finally:
        shutil.rmtree(work, ignore_errors=False)


def _finish_case(
    run: _Run,
    staged: StagedCase,
    result: _ContainerResult | None,
    output_dir: Path,
    engine_error: str,
    attempt_of: dict[str, int],
    cases_in_run: int,
) -> CaseRecord:
    cfg = run.config
    pred_path = run.out_dir / "predictions" / f"{staged.case_id}.nii.gz"
    log_path = run.out_dir / "logs" / f"{staged.case_id}.log"
    prediction = ""
    if result is None:
        status, reason, exit_code, wall, peak, log = (
            "infrastructure_error",
            engine_error,
            None,
            0.0,
            None,
            "",
        )
    else:
        exit_code, wall, peak, log = (
            result.exit_code,
            result.wall_time_s,
            result.peak_memory_bytes,
            result.log,
        )
        verdict = _judge(run, staged, result, output_dir, cases_in_run=cases_in_run)
        status, reason = verdict.status, verdict.reason
        if status == "ok":
            located = run.contract.locate(output_dir, staged)
            check = validate_prediction(located.path, staged.grid, options=cfg.gate)  # type: ignore[arg-type]
            if check.status != "ok" and verdict.run_failure is not None:
                # Most likely cut short by the kill: the run's failure explains it.
                failed_as, why = verdict.run_failure
                status, reason = failed_as, f"{why}\nits output for this case: {check.reason}"
            elif check.status != "ok":
                status, reason = check.status, check.reason
            elif check.warnings:
                reason = check.message
            if check.mask is not None:
                save_mask(check.mask, staged.grid, pred_path)
                prediction = f"predictions/{staged.case_id}.nii.gz"
    if status != "ok" and pred_path.exists():
        pred_path.unlink()  # a stale mask from an earlier attempt must not be scored
    header = (
        f"# selma3d case {staged.case_id}: {status}"
        f"{' - ' + reason if reason else ''}\n# exit code {exit_code}, wall {wall:.2f} s, "
        f"peak memory {peak} bytes, image {run.image.digest}\n"
    )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_log = log_path.with_name(f".{log_path.name}.tmp")
    tmp_log.write_text(header + log, encoding="utf-8")
    os.replace(tmp_log, log_path)
    record = CaseRecord(
        case_id=staged.case_id,
        status=status,
        exit_code=exit_code,
        wall_time_s=round(wall, 3),
        peak_memory_bytes=peak,
        image_digest=run.image.digest,
        reason=reason,
        run_id=run.run_id,
        contract=run.contract.name,
        attempt=attempt_of.get(staged.case_id, 1),
        finished_at=_now(),
        prediction=prediction,
        log=f"logs/{staged.case_id}.log",
    )
    _append_record(run.out_dir / RECORDS_NAME, record, run.lock)
    run.on_record(record)
    return record


@dataclass(frozen=True)
class _Verdict:
    status: str
    reason: str = ""
    # Set for an output kept from a multi-case run that then failed: the run's failure
    # (status, reason), which the case gets instead if that output does not validate.
    run_failure: tuple[str, str] | None = None


def _run_failure(run: _Run, result: _ContainerResult) -> tuple[str, str] | None:
    """How the container run itself failed (timeout, OOM, non-zero exit); None if it exited 0."""
    cfg = run.config
    if result.timed_out:
        return (
            "timeout",
            f"still running after {cfg.timeout_s:g} s per case; the container was killed",
        )
    if result.oom:
        return "oom", f"killed for exceeding the memory limit of {cfg.memory} (no swap)"
    if result.exit_code != 0:
        tail = _log_tail(result.stderr if result.stderr.strip() else result.log)
        return "failed", f"exited with code {result.exit_code}" + (
            f"; log tail:\n{tail}" if tail else ""
        )
    return None


def _judge(
    run: _Run,
    staged: StagedCase,
    result: _ContainerResult,
    output_dir: Path,
    *,
    cases_in_run: int,
) -> _Verdict:
    """The status of one case from its container run and its output, before validation.

    With one run per case (grand-challenge), a failed run fails its case. A folder-contract run
    that times out, runs out of memory or exits non-zero keeps what it wrote before: each case
    with an output is judged on that output, the others take the run's failure. Output found
    unsafe anywhere (links, devices, over a cap) discards the whole run's output.
    """
    cfg = run.config
    if result.output_problem:
        return _Verdict("invalid_output", result.output_problem + "; the container was stopped")
    failure = _run_failure(run, result)
    if failure is not None and run.contract.per_case:
        return _Verdict(*failure)
    scan = scan_output_tree(
        output_dir, limits=OutputLimits(cfg.max_output_bytes, cfg.max_output_files)
    )
    if scan.problem:
        if failure is not None:
            return _Verdict(failure[0], f"{failure[1]}\nits output was not used: {scan.problem}")
        return _Verdict("invalid_output", scan.problem)
    located = run.contract.locate(output_dir, staged)
    run_size = f"{cases_in_run} case{'' if cases_in_run == 1 else 's'}"
    if located.status != "ok":
        if failure is not None:
            return _Verdict(
                failure[0], f"{failure[1]}\nthis case had no output yet (run of {run_size})"
            )
        return _Verdict(located.status, located.reason)
    if failure is not None:
        headline = re.split(r"[;\n]", failure[1])[0]
        note = (
            f"kept: written before the container run ({run_size}) ended as "
            f"{failure[0]} ({headline})"
        )
        return _Verdict("ok", note, run_failure=failure)
    return _Verdict("ok")


@contextlib.contextmanager
def _exclusive(out_dir: Path) -> Iterator[None]:
    fh = (out_dir / ".lock").open("w")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise Selma3dError(
                f"{out_dir}: another selma3d run is writing into this folder."
            ) from exc
        yield
    finally:
        fh.close()


def _batches(cases: Sequence[Case], contract: Contract, jobs: int) -> list[list[Case]]:
    if contract.per_case:
        return [[c] for c in cases]
    n = max(1, min(jobs, len(cases)))
    return [list(cases[i::n]) for i in range(n) if cases[i::n]]


def run_submission(
    image: str | Path | ImageInfo,
    split: str | Path | Split,
    out_dir: str | Path,
    *,
    config: RunConfig = RunConfig(),
    client: Any | None = None,
    on_record: Callable[[CaseRecord], None] | None = None,
) -> RunSummary:
    """Run a submission on every case of a split (resuming an earlier run into ``out_dir``).

    Parameters
    ----------
    image : str, Path or ImageInfo
        Image reference, ``docker save`` tarball or folder with a Dockerfile
        (:func:`harness.containers.images.resolve_image`).
    split : str, Path or Split
        The split (its labels are never staged).
    out_dir : str or Path
        Output folder (see the module docstring for its layout).
    config : RunConfig, keyword-only
    client : docker.DockerClient, keyword-only
        Defaults to :func:`harness.containers.engine.connect`.
    on_record : callable, keyword-only
        Called with each record as it is written.

    Returns
    -------
    RunSummary

    Raises
    ------
    SubmissionError
        The image is missing, runs as root (without ``allow_root``), or differs from the image
        of an earlier run into the same folder.
    Selma3dError
        The split changed since the earlier run, or another run holds the folder.
    EngineError
        The engine is unreachable.
    """
    from harness.containers.engine import connect

    t_start = time.perf_counter()
    client = client if client is not None else connect()
    split = split if isinstance(split, Split) else load_split(split)
    info = image if isinstance(image, ImageInfo) else resolve_image(image, client=client)
    if is_root_user(info.user) and not config.allow_root:
        raise SubmissionError(
            f"image {info.ref} runs as root (configured user {info.user or 'empty'!r}); add a "
            "non-root user and `USER` to its Dockerfile (see submissions/template), or pass "
            "--allow-root if the organizers accept it."
        )
    ncpu = int(client.info().get("NCPU") or 0)
    if ncpu and config.cpus > ncpu:
        raise ConfigError(
            f"RunConfig: cpus is {config.cpus}, but the engine has only {ncpu} CPU(s)."
        )
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    with _exclusive(out):
        return _run_locked(client, info, split, out, config, on_record, t_start)


def _run_locked(
    client: Any,
    info: ImageInfo,
    split: Split,
    out: Path,
    config: RunConfig,
    on_record: Callable[[CaseRecord], None] | None,
    t_start: float,
) -> RunSummary:
    run_json = out / RUN_NAME
    previous: dict[str, Any] = {}
    if run_json.is_file():
        previous = json.loads(run_json.read_text(encoding="utf-8"))
        before = (previous.get("image") or {}).get("digest")
        if before and before != info.digest:
            raise SubmissionError(
                f"{out}: this folder holds results of image {before}, but {info.ref} is now "
                f"{info.digest}; refusing to mix two images in one run. Use a new --out folder."
            )
        split_before = (previous.get("split") or {}).get("content_hash")
        if split_before and split_before != split.content_hash:
            raise Selma3dError(
                f"{out}: this folder holds results on split {split_before}, but {split.root} is "
                f"now {split.content_hash}; use a new --out folder."
            )
        if previous.get("contract") and previous["contract"] != config.contract:
            raise Selma3dError(
                f"{out}: this folder holds a {previous['contract']!r} run; got --contract "
                f"{config.contract!r}. Use a new --out folder."
            )
    run_id = str(previous.get("run_id") or uuid.uuid4().hex[:12])
    orphans = remove_run_containers(client, run_id)
    work_root = Path(config.work_dir) if config.work_dir else out / ".work"
    if not config.work_dir and work_root.exists():
        shutil.rmtree(work_root)  # staging folders of an interrupted run
    work_root.mkdir(parents=True, exist_ok=True)

    records = read_records(out)
    known = set(split.case_ids)
    pending = [
        c
        for c in split.cases
        if c.case_id not in records
        or records[c.case_id].status == "infrastructure_error"
        or (config.retry_failed and records[c.case_id].status != "ok")
    ]
    attempt_of = {
        c.case_id: (records[c.case_id].attempt + 1 if c.case_id in records else 1) for c in pending
    }
    meta = {
        "run_id": run_id,
        "image": asdict(info),
        "split": {
            "root": str(split.root),
            "content_hash": split.content_hash,
            "n_cases": len(split.cases),
        },
        "contract": config.contract,
        "config": asdict(config),
        "started_at": previous.get("started_at") or _now(),
        "updated_at": _now(),
        "state": "running",
        "orphans_removed": orphans,
    }
    _write_json_atomic(out / RUN_NAME, meta)

    contract = config.make_contract()
    run = _Run(
        client=client,
        image=info,
        config=config,
        contract=contract,
        out_dir=out,
        run_id=run_id,
        work_root=work_root,
    )
    stopped_early = False
    try:
        stopped_early = _execute(run, pending, attempt_of, on_record)
    except BaseException:
        # Interrupted (Ctrl-C) or a harness bug: leave no container behind.
        remove_run_containers(client, run_id)
        raise
    finally:
        if work_root.exists() and not any(work_root.iterdir()) and not config.work_dir:
            work_root.rmdir()
    final = {k: v for k, v in read_records(out).items() if k in known}
    summary = RunSummary(
        out_dir=out,
        run_id=run_id,
        image=info,
        records=final,
        n_cases=len(split.cases),
        ran=len(pending),
        stopped_early=stopped_early,
        wall_time_s=time.perf_counter() - t_start,
    )
    meta.update(
        updated_at=_now(),
        finished_at=_now(),
        state="stopped_by_canary" if stopped_early else "finished",
        counts=summary.counts,
        passed=summary.passed,
    )
    _write_json_atomic(out / RUN_NAME, meta)
    return summary


def _execute(
    run: _Run,
    pending: list[Case],
    attempt_of: dict[str, int],
    on_record: Callable[[CaseRecord], None] | None,
) -> bool:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    cfg = run.config
    statuses: Counter[str] = Counter()
    progress = Progress(
        TextColumn("[bold]predict[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[counts]}"),
        disable=not cfg.progress,
        transient=False,
    )
    task = progress.add_task("cases", total=len(pending), counts="")

    def record_done(rec: CaseRecord) -> None:
        statuses[rec.status] += 1
        counts = " ".join(f"{k}={v}" for k, v in sorted(statuses.items()))
        progress.update(task, advance=1, counts=counts)
        if on_record is not None:
            on_record(rec)

    run.on_record = record_done
    batches = _batches(pending, run.contract, cfg.jobs)
    with progress:
        if cfg.canary and batches:
            first = [batches[0][0]]
            rest = [b for b in [batches[0][1:], *batches[1:]] if b]
            recs = _run_batch(run, first, attempt_of)
            if any(r.status != "ok" for r in recs):
                return True
            batches = _batches([c for b in rest for c in b], run.contract, cfg.jobs)
        if not batches:
            return False
        with ThreadPoolExecutor(max_workers=cfg.jobs, thread_name_prefix="selma3d-case") as pool:
            futures: set[Future[list[CaseRecord]]] = {
                pool.submit(_run_batch, run, b, attempt_of) for b in batches
            }
            try:
                while futures:
                    done, futures = wait(futures, return_when=FIRST_COMPLETED)
                    for f in done:
                        f.result()  # a harness bug in a worker surfaces here, not silently
            except BaseException:
                for f in futures:
                    f.cancel()
                # Kill what runs now so the pool's workers return at once, then re-raise.
                remove_run_containers(run.client, run.run_id)
                raise
    return False
