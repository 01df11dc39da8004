"""The worker side: its engine and GPU pool, ``selma3d worker``, and the container tasks it runs."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import re
import socket
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from common.errors import ConfigError
from harness.containers.engine import connect
from harness.containers.isolation import LABEL_OUT_DIR
from harness.containers.runner import run_submission
from harness.errors import ClusterError
from harness.rounds.cluster.connect import probe_scheduler
from harness.rounds.cluster.images import ensure_image
from harness.rounds.cluster.tasks import (
    CPU,
    GPUS,
    SLOTS,
    TASKS_DIR,
    BatchResult,
    BatchTask,
    CaseTask,
    TaskResult,
)
from harness.scoring.allocator import keep_freed_memory
from harness.split.manifest import Case, Split

__all__ = [
    "GpuPool",
    "gpu_devices",
    "ran_at",
    "remove_task_containers",
    "run_batch_task",
    "run_case_task",
    "run_on_worker",
    "serve_worker",
    "worker_name",
]


_ENGINE: Any = None
_ENGINE_LOCK = threading.Lock()
_WORKER_GPUS: GpuPool | None = None


def _engine() -> Any:
    """The Docker client of this process (one per worker, shared by its task threads)."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = connect()
        return _ENGINE


class GpuPool:
    """The GPU device ids a worker offers, handed to its container tasks without overlap.

    Parameters
    ----------
    devices : sequence of str
        Device ids (``["0", "1"]``).

    Examples
    --------
    >>> pool = GpuPool(["0", "1", "2"])
    >>> with pool.take(2) as ids:
    ...     ids, pool.free
    (('0', '1'), ('2',))
    >>> pool.free
    ('0', '1', '2')
    """

    def __init__(self, devices: Sequence[str]) -> None:
        self._free = list(devices)
        self._lock = threading.Lock()

    @property
    def free(self) -> tuple[str, ...]:
        """Device ids not handed out now."""
        with self._lock:
            return tuple(self._free)

    @contextlib.contextmanager
    def take(self, n: int) -> Iterator[tuple[str, ...]]:
        """Hand out ``n`` device ids until the block ends.

        Raises
        ------
        ClusterError
            Fewer than ``n`` are free: the scheduler gave this worker more GPU tasks than it
            advertised (``gpus`` resource), which it never does when every worker was started
            by ``selma3d worker``.
        """
        with self._lock:
            if n > len(self._free):
                raise ClusterError(
                    f"a task needs {n} GPU(s) but this worker has {len(self._free)} free "
                    f"({self._free}); start workers with `selma3d worker --gpus`."
                )
            ids, self._free = tuple(self._free[:n]), self._free[n:]
        try:
            yield ids
        finally:
            with self._lock:
                self._free = sorted([*self._free, *ids], key=lambda d: (len(d), d))


def gpu_devices(gpus: str | None) -> list[str]:
    """The device ids ``--gpus`` names: ``"0,1"`` -> ``["0", "1"]``, ``"all"`` -> every GPU.

    ``all`` asks ``nvidia-smi -L`` (one line per GPU).

    Raises
    ------
    ConfigError
        The value is neither ``all`` nor comma-separated ids, or ``all`` finds no GPU.

    Examples
    --------
    >>> gpu_devices("0,2"), gpu_devices(None)
    (['0', '2'], [])
    """
    if gpus is None:
        return []
    if re.fullmatch(r"\d+(,\d+)*", gpus):
        return gpus.split(",")
    if gpus != "all":
        raise ConfigError(f"--gpus must be 'all' or device ids such as 0,1; got {gpus!r}.")
    try:
        out = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise ConfigError(
            f"--gpus all: cannot list this machine's GPUs with nvidia-smi ({exc}); give the "
            "device ids instead (--gpus 0,1)."
        ) from exc
    ids = [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]
    if not ids:
        raise ConfigError("--gpus all: nvidia-smi lists no GPU on this machine.")
    return ids


def remove_task_containers(client: Any, under: Path) -> int:
    """Force-remove this engine's containers whose out-dir label lies under ``under``.

    The runner labels each container with its run folder; every attempt of a case runs in a
    folder under the case's task folder, so this finds what an earlier attempt left behind.
    """
    prefix = str(under).rstrip("/") + "/"
    found = client.containers.list(all=True, filters={"label": LABEL_OUT_DIR}, ignore_removed=True)
    removed = 0
    for container in found:
        out_dir = (container.labels or {}).get(LABEL_OUT_DIR, "")
        if out_dir.startswith(prefix):
            _remove_quietly(container)
            removed += 1
    return removed


def worker_name() -> tuple[str, str]:
    """The name and host of the worker running this (``("local", host)`` elsewhere)."""
    # Dask (0.3 s to import) is loaded by the calls that use it, not by importing the module.
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:  # called outside a worker (a direct call in a test)
        return "local", socket.gethostname()
    name = worker.address if worker.name is None else str(worker.name)
    return name, socket.gethostname()


def run_case_task(task: CaseTask) -> TaskResult:
    """Run one team's container on one case (on a worker) and return the case's record.

    Idempotent: each call runs in a fresh attempt folder under ``task.task_root`` after removing
    the containers of earlier attempts of the same case from this engine.

    Raises
    ------
    EngineError
        The engine is unreachable or lacks the image (infrastructure).
    """
    summary, attempt, removed = run_on_worker(task, (task.case,), [task.task_root])
    record = _record_of(summary, task.case, attempt)
    return TaskResult(task.key, task.case.case_id, record, **ran_at(attempt, removed))


def run_batch_task(task: BatchTask) -> BatchResult:
    """Run an invoke submission on a batch of cases (on a worker): one server, loaded once.

    One runner call on a split of the batch's cases with one job slot, so one server serves
    them all (a fresh one only after a server timed out or died). Idempotent like
    :func:`run_case_task`: a fresh attempt folder, after removing the containers earlier attempts
    of any of its cases left on this engine.

    Raises
    ------
    EngineError
        The engine is unreachable or lacks the image (infrastructure).
    """
    roots = [task.tasks_dir / case.case_id for case in task.cases]
    summary, attempt, removed = run_on_worker(task, task.cases, roots)
    results = tuple(
        TaskResult(task.key, case.case_id, _record_of(summary, case, attempt), **ran_at(attempt, 0))
        for case in task.cases
    )
    return BatchResult(task.key, results, tuple(summary.servers), **ran_at(attempt, removed))


def ran_at(attempt: Path, removed: int) -> dict[str, Any]:
    """A result's :class:`~harness.rounds.cluster.tasks.Returned` fields, on this worker."""
    worker, host = worker_name()
    return {"attempt_dir": attempt, "worker": worker, "host": host, "leftovers_removed": removed}


def run_on_worker(
    task: CaseTask | BatchTask, cases: Sequence[Case], earlier: Sequence[Path]
) -> tuple[Any, Path, int]:
    """Run the runner on ``cases`` in a fresh attempt folder with one job slot.

    Returns the runner's summary, the attempt folder and how many containers of earlier
    attempts (under the folders ``earlier``) were removed first.
    """
    client = _engine()
    _mark_engine_in_use(client)
    info = ensure_image(client, task.image_ref, task.image_digest, task.tarball)
    relay = task.run_config.relay_image
    if relay is not None and info.invoke:
        # The organizer's pinned relay: loaded from its tarball on an engine lacking that id.
        ensure_image(client, "invoke relay", relay, task.relay_tarball)
    removed = sum(remove_task_containers(client, root) for root in earlier)
    attempt = task.task_root / f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    # Labels are read only by scoring tasks: the container side never sees their paths.
    split = Split(
        root=task.split_root,
        cases=tuple(replace(case, label=None) for case in cases),
        content_hash=task.split_hash,
    )
    # The organizer sends the determinism check as a task of its own, once per submission.
    config = task.run_config.for_part()
    with contextlib.ExitStack() as stack:
        if task.gpus_needed and _WORKER_GPUS is not None:
            ids = stack.enter_context(_WORKER_GPUS.take(task.gpus_needed))
            # Device ids, never a bare number (which Limits reads as a count).
            devices = "device=" + ",".join(ids)
            config = replace(
                config,
                limits=type(config.limits).model_validate(
                    {**config.limits.model_dump(), "gpus": devices}
                ),
            )
        summary = run_submission(info, split, attempt, config=config, client=client)
    return summary, attempt, removed


def _record_of(summary: Any, case: Case, attempt: Path) -> dict[str, Any]:
    record = summary.records.get(case.case_id)
    if record is None:
        raise ClusterError(f"{attempt}: the runner wrote no record for {case.case_id}.")
    return asdict(record)


def _engine_id(client: Any) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", str(client.info().get("ID") or "default"))[:64]


def _engine_lock_path(client: Any) -> Path:
    return Path("/tmp") / f"selma3d-worker-{_engine_id(client)}.lock"


_IN_USE: Any = None


def _mark_engine_in_use(client: Any, *, clean: Callable[[], None] | None = None) -> None:
    """Hold a shared lock naming this engine for the life of the process.

    A worker starting later on the same engine then knows it is not alone, and leaves the
    containers it finds there to their owners. With ``clean``, a process that finds no other
    holder runs it while holding the lock exclusively, so two workers starting at once never
    both clean.
    """
    global _IN_USE
    with _ENGINE_LOCK:
        if _IN_USE is not None:
            return
        fh = _engine_lock_path(client).open("a")
        if clean is not None:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pass  # another worker holds the engine: its containers are its own
            else:
                clean()
        # Taken, or converted from the exclusive lock: later workers see this one alive.
        fcntl.flock(fh, fcntl.LOCK_SH)
        _IN_USE = fh


def _remove_quietly(container: Any) -> None:
    """Force-remove a container; one that is gone or being removed already is the goal."""
    # Docker's SDK is loaded only where an engine is called, as connect() loads it.
    from docker.errors import APIError, NotFound

    try:
        container.remove(force=True, v=True)
    except NotFound:
        return
    except APIError as exc:
        if exc.status_code != 409:  # 409: "removal ... is already in progress"
            raise


def serve_worker(
    scheduler: str,
    *,
    slots: int = 1,
    scoring: int = 1,
    gpus: str | None = None,
    name: str | None = None,
    connect_timeout: float = 30.0,
    console: Console | None = None,
) -> None:
    """Run a Dask worker for selma3d rounds in this process until the scheduler goes away.

    Waits at most ``connect_timeout`` seconds for a Dask scheduler to answer at ``scheduler``
    (:func:`~harness.rounds.cluster.connect.probe_scheduler`), checks the Docker engine, removes
    the selma3d task containers a killed worker left on it (only when no other worker uses the
    same engine), then advertises ``slots`` container slots, ``scoring`` scoring slots and the
    GPUs of ``gpus`` as the resources ``slots``, ``cpu`` and ``gpus``: one thread each.

    Raises
    ------
    ConfigError
        No Dask scheduler answers at ``scheduler`` in time (exit 2), or a bad count.
    EngineError
        No engine answers.
    """
    # Dask (0.3 s to import) is loaded by the calls that use it, not by importing the module.
    from distributed import Worker

    global _WORKER_GPUS
    console = console or Console(stderr=True)
    if slots < 1:
        raise ConfigError(f"--slots must be at least 1, got {slots}.")
    if scoring < 0:
        raise ConfigError(f"--scoring must be at least 0, got {scoring}.")
    devices = gpu_devices(gpus)
    # Before the engine is touched: a wrong address costs nothing but the stated wait.
    asyncio.run(probe_scheduler(scheduler, timeout=connect_timeout))
    client = _engine()
    ncpu = client.info().get("NCPU")

    def clean() -> None:
        left = [
            c
            for c in client.containers.list(
                all=True, filters={"label": LABEL_OUT_DIR}, ignore_removed=True
            )
            if f"/{TASKS_DIR}/" in (c.labels or {}).get(LABEL_OUT_DIR, "")
        ]
        for container in left:
            _remove_quietly(container)
        if left:
            console.print(f"removed {len(left)} container(s) an earlier worker left on this engine")

    _mark_engine_in_use(client, clean=clean)
    _WORKER_GPUS = GpuPool(devices) if devices else None
    keep_freed_memory()
    resources = {SLOTS: float(slots)}
    if scoring:
        resources[CPU] = float(scoring)
    if devices:
        resources[GPUS] = float(len(devices))
    worker_name = name or f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}"

    async def serve() -> None:
        try:
            worker = await asyncio.wait_for(
                Worker(scheduler, nthreads=slots + scoring, resources=resources, name=worker_name),
                connect_timeout,
            )
        except (OSError, TimeoutError) as exc:
            raise ConfigError(
                f"the scheduler at {scheduler} did not take this worker within "
                f"{connect_timeout:g} s ({type(exc).__name__}: {exc}); wait longer with "
                "--connect-timeout-s."
            ) from exc
        console.print(
            f"worker {worker_name} ({worker.address}) · engine ok ({ncpu} CPUs) · "
            f"{slots} slot(s), {scoring} scoring slot(s) · GPUs {','.join(devices) or 'none'} "
            f"-> scheduler {scheduler}"
        )
        await worker.finished()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        # Containers still running are removed when a worker next starts on this engine.
        console.print(f"worker {worker_name}: stopped")
        return
    console.print(f"worker {worker_name}: the scheduler at {scheduler} closed the connection")
