"""A round's container runs and scoring as Dask tasks, on a local cluster or an organizer's one.

Every (team, case) container run is one task needing one container slot (``slots``, and the
round's GPUs as ``gpus``); every case's scoring is one task any worker may run. An invoke image
(:func:`harness.containers.images.is_invoke`) is the exception: its cases go in batches
(:func:`batch_cases`, one per container slot), each run by one runner call that starts the
model server once and reuses it for the batch's cases. Without a
scheduler the same tasks run on a :class:`distributed.LocalCluster` of ``limits.jobs`` one-slot
worker processes on this machine, so a local round and a distributed one share one code path.

Data model (see ``docs/cluster.md``)
------------------------------------
Every machine sees the split and the round's output folder at the same paths (a shared file
system, the usual set-up on clusters). A container task reads its case's images from the split
(never its label: the case is sent without it) and runs the runner into a fresh attempt folder
``<round>/tasks/<team>/<submission>/<case>/<attempt>/`` (a batch's under its first case); it
returns the case's record (a batch: every case's, and its servers' start-ups). Only
scoring tasks read labels. A worker whose engine lacks a team's image loads it from the
``docker save`` tarball the round keeps under ``<round>/images/`` and checks its digest.

One ledger
----------
The organizer's process is the only writer of the round's record: as each task's result arrives
its prediction and log are copied into ``runs/<team>/<submission>/`` and the submission's
``cases.jsonl`` is rewritten atomically (:func:`common.files.write_atomic`), one record per
case. A rerun asks the cluster only for cases with no record (or an ``infrastructure_error``
one), and reuses each case's scores while the predictions and the scoring code are unchanged.

Faults
------
A worker killed mid-task: the scheduler runs the task elsewhere; the new attempt first removes,
by their out-dir label, the containers an earlier attempt of the same case (of any case of a
batch) left on its engine. A batch's records are merged only once the whole batch finished.
``selma3d worker`` removes every selma3d task container on its engine at start when no other
worker holds that engine. A lost scheduler stops the round with :class:`ClusterError` (exit 3).
Infrastructure failures are never recorded against a team: they stop the round before scoring,
and the rerun retries them.

Determinism
-----------
With ``determinism: true`` the case tasks rerun nothing; once every case is recorded, each
submission with an ``ok`` case and no determinism result yet gets one more task
(:func:`run_determinism_task`, one container slot): its first ``ok`` case runs again in a fresh
attempt folder (same image, model and limits) and the new mask is compared with the ledger's
(:func:`harness.containers.runner.compare_runs`). The ledger keeps the outcome as ``run.json``'s
``determinism``, so a rerun of the round does not send it again; a second run that failed is
kept as such (``identical`` null, never charged to the team), one that failed for
infrastructure reasons is sent again by the next rerun.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import math
import re
import shutil
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar

import pandas as pd
from rich.console import Console

from common.files import atomic_path, write_atomic
from common.status import STATUS
from harness.containers.images import is_invoke
from harness.containers.limits import Limits
from harness.errors import ClusterError, EngineError, SubmissionError
from harness.predictions.validate import GateOptions
from harness.split.manifest import Case, Split

if TYPE_CHECKING:
    from distributed.client import FutureCancelledError

__all__ = [
    "GPUS",
    "SLOTS",
    "BatchResult",
    "BatchTask",
    "CaseTask",
    "DeterminismResult",
    "DeterminismTask",
    "GpuPool",
    "Ledger",
    "SubmissionJob",
    "TaskResult",
    "batch_cases",
    "connect_cluster",
    "ensure_image",
    "gpu_devices",
    "remove_task_containers",
    "run_batch_task",
    "run_case_task",
    "run_containers",
    "run_determinism_task",
    "save_image_tarball",
    "score_case_task",
    "score_cases",
    "serve_worker",
]

SLOTS = "slots"
"""The worker resource a container task needs one of."""
GPUS = "gpus"
"""The worker resource counting the GPUs a worker offers."""
RECORDS_NAME = "cases.jsonl"
RUN_NAME = "run.json"
TASKS_DIR = "tasks"
SCORES_DIR = "scores"
IMAGES_DIR = "images"
# Dask's own retries of a task that raised (a worker's engine hiccup); a worker that died is
# handled by the scheduler itself (distributed.scheduler.allowed-failures).
_TASK_RETRIES = 2
_log = logging.getLogger(__name__)
_T = TypeVar("_T")


# ---------------------------------------------------------------------------------------------
# What the organizer sends, what a worker returns


@dataclass(frozen=True)
class SubmissionJob:
    """One submission of one team to run on every case: what the container stage needs.

    Attributes
    ----------
    key : str
        ``team/submission``.
    image_ref, image_digest : str
        The reference it was resolved by, and the image id every container is created from.
    run_dir : Path
        The round's folder of this submission (``runs/<team>/<submission>``): the ledger.
    tarball : Path or None
        The ``docker save`` tarball a worker lacking the image loads (distributed rounds).
    model : str or None
        The submission's model tarball or folder (``RunConfig.model``), on the shared file
        system; mounted read-only at ``/opt/ml/model``.
    api_method : str
        The image's ``org.grand-challenge.api-method`` label
        (:attr:`harness.containers.images.ImageInfo.api_method`).
    """

    key: str
    image_ref: str
    image_digest: str
    run_dir: Path
    tarball: Path | None = None
    model: str | None = None
    api_method: str = ""

    @property
    def invoke(self) -> bool:
        """Whether the image is an invoke server: its cases then go to the cluster in batches."""
        return is_invoke(self.api_method)


@dataclass(frozen=True)
class CaseTask:
    """One (team, case) container run, as sent to a worker.

    ``case`` carries no label; ``task_root`` is ``<round>/tasks/<team>/<submission>/<case>``.
    """

    key: str
    case: Case
    split_root: Path
    split_hash: str
    image_ref: str
    image_digest: str
    tarball: Path | None
    task_root: Path
    run_config: Any  # harness.containers.run_config.RunConfig
    gpus_needed: int = 0


@dataclass(frozen=True)
class BatchTask:
    """Cases of one invoke submission run by one runner call, as sent to a worker.

    One server is started for the batch and reused for its cases, so the model loads once.
    ``cases`` carry no label; ``tasks_dir`` is ``<round>/tasks/<team>/<submission>``, and the
    batch's attempts run under its first case's folder there.
    """

    key: str
    cases: tuple[Case, ...]
    split_root: Path
    split_hash: str
    image_ref: str
    image_digest: str
    tarball: Path | None
    tasks_dir: Path
    run_config: Any  # harness.containers.run_config.RunConfig
    gpus_needed: int = 0

    def __post_init__(self) -> None:
        if not self.cases:
            raise ValueError(f"{self.key}: a batch needs at least one case.")

    @property
    def task_root(self) -> Path:
        """The folder of the batch's attempts: its first case's task folder."""
        return self.tasks_dir / self.cases[0].case_id


@dataclass(frozen=True)
class DeterminismTask:
    """One submission's second run of one recorded ``ok`` case, as sent to a worker.

    ``run`` is the case's container task (``task_root`` its case folder under ``tasks/``);
    ``reference`` the ledger's saved prediction of the case, which the new mask is compared with.
    """

    run: CaseTask
    reference: Path


@dataclass(frozen=True)
class DeterminismResult:
    """What a determinism task returns: ``run.json``'s ``determinism`` and the run's servers.

    ``determinism`` is :func:`harness.containers.runner.compare_runs`'s record; ``servers`` the
    runner's entries of an invoke image's second run (numbered from 1).
    """

    key: str
    case_id: str
    determinism: dict[str, Any]
    servers: tuple[dict[str, Any], ...]
    attempt_dir: Path
    worker: str
    host: str
    leftovers_removed: int = 0


@dataclass(frozen=True)
class TaskResult:
    """What a container task returns: the case's record and where its files are."""

    key: str
    case_id: str
    record: dict[str, Any]
    attempt_dir: Path
    worker: str
    host: str
    leftovers_removed: int = 0


@dataclass(frozen=True)
class BatchResult:
    """What a batch task returns: every case's result, in the batch's order, and its servers.

    ``servers`` are the runner's entries (``run.json``'s ``servers``), numbered from 1 within the
    batch; the records' ``server`` fields refer to those numbers.
    """

    key: str
    results: tuple[TaskResult, ...]
    servers: tuple[dict[str, Any], ...]
    attempt_dir: Path
    worker: str
    host: str
    leftovers_removed: int = 0


def batch_cases(cases: Sequence[_T], slots: int) -> list[list[_T]]:
    """Split an invoke submission's cases into batches, one per container slot at most.

    Batches hold ``ceil(len(cases) / slots)`` consecutive cases (the last may hold fewer), so
    every slot has a batch while there are cases enough and the longest batch is as short as
    with any split into ``slots`` batches, with as few servers (model loads) as that allows.

    Parameters
    ----------
    cases : sequence
        The pending cases, in the order they are to run.
    slots : int
        The cluster's container slots (at least 1).

    Returns
    -------
    list of list
        Non-empty batches whose concatenation is ``cases``.

    Examples
    --------
    >>> batch_cases(list("abcd"), 2)
    [['a', 'b'], ['c', 'd']]
    >>> batch_cases(list("abcde"), 4)
    [['a', 'b'], ['c', 'd'], ['e']]
    >>> batch_cases(list("ab"), 8), batch_cases([], 2)
    ([['a'], ['b']], [])
    """
    if slots < 1:
        raise ValueError(f"slots must be at least 1, got {slots}.")
    size = max(1, math.ceil(len(cases) / slots))
    return [list(cases[i : i + size]) for i in range(0, len(cases), size)]


# ---------------------------------------------------------------------------------------------
# Worker side


_ENGINE: Any = None
_ENGINE_LOCK = threading.Lock()
_WORKER_GPUS: GpuPool | None = None


def _engine() -> Any:
    """The Docker client of this process (one per worker, shared by its task threads)."""
    global _ENGINE
    from harness.containers.engine import connect

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
    import subprocess

    from harness.errors import ConfigError

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


def ensure_image(client: Any, ref: str, digest: str, tarball: Path | None) -> Any:
    """Make sure the engine has the image with id ``digest``; load it from ``tarball`` if not.

    Returns
    -------
    harness.containers.images.ImageInfo
        For ``digest`` (the id every container is created from), its configured user and its
        API-method label (which contract the runner uses).

    Raises
    ------
    EngineError
        The image is missing and there is no tarball, or the tarball holds another image
        (infrastructure: never charged to the team).
    """
    from docker.errors import ImageNotFound

    from harness.containers.images import image_info

    try:
        image = client.images.get(digest)
    except ImageNotFound:
        if tarball is None:
            raise EngineError(
                f"image {ref} ({digest}) is not on the engine of {socket.gethostname()} and the "
                "round keeps no tarball of it."
            ) from None
        with Path(tarball).open("rb") as fh:
            loaded = client.images.load(fh)
        ids = [img.id for img in loaded]
        if digest not in ids:
            raise EngineError(
                f"{tarball}: holds image(s) {ids}, not {digest} of {ref}; the round's copy does "
                "not match what was submitted."
            ) from None
        image = client.images.get(digest)
    # Its labels too: an invoke image must reach the runner as one (it picks the contract).
    return image_info(image, ref)


def remove_task_containers(client: Any, under: Path) -> int:
    """Force-remove this engine's containers whose out-dir label lies under ``under``.

    The runner labels each container with its run folder; every attempt of a case runs in a
    folder under the case's task folder, so this finds what an earlier attempt left behind.
    """
    from harness.containers.isolation import LABEL_OUT_DIR

    prefix = str(under).rstrip("/") + "/"
    found = client.containers.list(all=True, filters={"label": LABEL_OUT_DIR}, ignore_removed=True)
    removed = 0
    for container in found:
        out_dir = (container.labels or {}).get(LABEL_OUT_DIR, "")
        if out_dir.startswith(prefix):
            _remove_quietly(container)
            removed += 1
    return removed


def _worker_name() -> tuple[str, str]:
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
    summary, attempt, removed = _run_on_worker(task, (task.case,), [task.task_root])
    worker, host = _worker_name()
    return TaskResult(
        key=task.key,
        case_id=task.case.case_id,
        record=_record_of(summary, task.case, attempt),
        attempt_dir=attempt,
        worker=worker,
        host=host,
        leftovers_removed=removed,
    )


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
    summary, attempt, removed = _run_on_worker(task, task.cases, roots)
    worker, host = _worker_name()
    results = tuple(
        TaskResult(
            key=task.key,
            case_id=case.case_id,
            record=_record_of(summary, case, attempt),
            attempt_dir=attempt,
            worker=worker,
            host=host,
        )
        for case in task.cases
    )
    return BatchResult(
        key=task.key,
        results=results,
        servers=tuple(summary.servers),
        attempt_dir=attempt,
        worker=worker,
        host=host,
        leftovers_removed=removed,
    )


def run_determinism_task(task: DeterminismTask) -> DeterminismResult:
    """Run one recorded case of a submission again (on a worker) and compare the two masks.

    The case runs as :func:`run_case_task` runs it (a fresh attempt folder, one job slot, an
    invoke image's own server); its mask, if the run is ``ok``, is compared with the ledger's
    ``task.reference`` by :func:`harness.containers.runner.compare_runs`.

    Raises
    ------
    EngineError
        The engine is unreachable or lacks the image (infrastructure).
    """
    from harness.containers.runner import compare_runs
    from harness.split.volume import read_volume

    case = task.run.case
    summary, attempt, removed = _run_on_worker(task.run, (case,), [task.run.task_root])
    record = summary.records.get(case.case_id)
    if record is None:
        raise ClusterError(f"{attempt}: the runner wrote no record for {case.case_id}.")
    second = read_volume(attempt / record.prediction).array if record.status == "ok" else None
    determinism = compare_runs(
        case.case_id,
        read_volume(task.reference).array,
        second,
        status=record.status,
        reason=record.reason,
    )
    worker, host = _worker_name()
    return DeterminismResult(
        key=task.run.key,
        case_id=case.case_id,
        determinism=determinism,
        servers=tuple(summary.servers),
        attempt_dir=attempt,
        worker=worker,
        host=host,
        leftovers_removed=removed,
    )


def _run_on_worker(
    task: CaseTask | BatchTask, cases: Sequence[Case], earlier: Sequence[Path]
) -> tuple[Any, Path, int]:
    """Run the runner on ``cases`` in a fresh attempt folder with one job slot.

    Returns the runner's summary, the attempt folder and how many containers of earlier
    attempts (under the folders ``earlier``) were removed first.
    """
    from harness.containers.runner import run_submission

    client = _engine()
    _mark_engine_in_use(client)
    info = ensure_image(client, task.image_ref, task.image_digest, task.tarball)
    removed = sum(remove_task_containers(client, root) for root in earlier)
    attempt = task.task_root / f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    # Labels are read only by scoring tasks: the container side never sees their paths.
    split = Split(
        root=task.split_root,
        cases=tuple(replace(case, label=None) for case in cases),
        content_hash=task.split_hash,
    )
    limits = task.run_config.limits
    config = replace(
        task.run_config,
        limits=type(limits).model_validate({**limits.model_dump(), "jobs": 1}),
        canary=False,
        progress=False,
        work_dir=None,
        # The organizer sends the determinism check as a task of its own, once per submission.
        determinism=False,
    )
    with contextlib.ExitStack() as stack:
        if task.gpus_needed and _WORKER_GPUS is not None:
            ids = stack.enter_context(_WORKER_GPUS.take(task.gpus_needed))
            # Device ids, never a bare number (which Limits reads as a count).
            devices = "device=" + ",".join(ids)
            config = replace(
                config,
                limits=type(limits).model_validate({**config.limits.model_dump(), "gpus": devices}),
            )
        summary = run_submission(info, split, attempt, config=config, client=client)
    return summary, attempt, removed


def _record_of(summary: Any, case: Case, attempt: Path) -> dict[str, Any]:
    record = summary.records.get(case.case_id)
    if record is None:
        raise ClusterError(f"{attempt}: the runner wrote no record for {case.case_id}.")
    return asdict(record)


def score_case_task(
    case: Case,
    split_root: Path,
    split_hash: str,
    folders: Mapping[str, Path],
    options: Any,
    gate: GateOptions,
    profile: str,
) -> pd.DataFrame:
    """Score every submission's prediction of one case (on a worker): the evaluation's rows.

    The case's reference is read and prepared once for all submissions, as in
    :func:`harness.scoring.evaluate.evaluate_predictions`, which this calls on a one-case split.
    """
    from harness.scoring.evaluate import evaluate_predictions

    one = Split(root=split_root, cases=(case,), content_hash=split_hash)
    return evaluate_predictions(
        one, dict(folders), jobs=1, options=options, gate=gate, progress=False, profile=profile
    )


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
    gpus: str | None = None,
    name: str | None = None,
    console: Console | None = None,
) -> None:
    """Run a Dask worker for selma3d rounds in this process until the scheduler goes away.

    Checks the Docker engine first, removes the selma3d task containers a killed worker left
    on it (only when no other worker uses the same engine), then advertises ``slots`` container
    slots and the GPUs of ``gpus`` as the resources ``slots`` and ``gpus``.

    Raises
    ------
    EngineError
        No engine answers.
    ClusterError
        The scheduler cannot be reached.
    """
    import asyncio

    from distributed import Worker

    from harness.containers.isolation import LABEL_OUT_DIR
    from harness.errors import ConfigError
    from harness.scoring.allocator import keep_freed_memory

    global _WORKER_GPUS
    console = console or Console(stderr=True)
    if slots < 1:
        raise ConfigError(f"--slots must be at least 1, got {slots}.")
    devices = gpu_devices(gpus)
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
    if devices:
        resources[GPUS] = float(len(devices))
    worker_name = name or f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}"

    async def serve() -> None:
        try:
            worker = await Worker(scheduler, nthreads=slots, resources=resources, name=worker_name)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"cannot reach the scheduler at {scheduler}: {exc}") from exc
        console.print(
            f"worker {worker_name} ({worker.address}) · engine ok ({ncpu} CPUs) · "
            f"{slots} slot(s) · GPUs {','.join(devices) or 'none'} -> scheduler {scheduler}"
        )
        await worker.finished()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        # Containers still running are removed when a worker next starts on this engine.
        console.print(f"worker {worker_name}: stopped")
        return
    console.print(f"worker {worker_name}: the scheduler at {scheduler} closed the connection")


# ---------------------------------------------------------------------------------------------
# Organizer side: the cluster, the ledger, the two stages


@contextlib.contextmanager
def connect_cluster(scheduler: str | None, *, jobs: int, console: Console) -> Iterator[Any]:
    """A Dask client: of the scheduler at ``scheduler``, or of a local cluster of ``jobs`` workers.

    The local cluster's workers are processes with one container slot each, on this machine's
    engine. The scheduler's dashboard address and its workers are printed.

    Raises
    ------
    ClusterError
        The scheduler does not answer, or has no worker with a container slot.
    """
    from distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        if scheduler is None:
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=jobs,
                    threads_per_worker=1,
                    processes=True,
                    resources={SLOTS: 1},
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            )
        log = logging.getLogger("distributed.client")
        stack.callback(log.setLevel, log.level)
        if scheduler is None:
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(scheduler, timeout=30))
            except (OSError, TimeoutError) as exc:
                raise ClusterError(
                    f"no Dask scheduler answers at {scheduler} ({exc}); start one with "
                    "`dask scheduler` and workers with `selma3d worker ADDRESS`."
                ) from exc

        def quiet_if_lost() -> None:
            # Closing a client whose scheduler is gone logs its cancelled reconnection as a
            # traceback; the round has already said what happened (ClusterError).
            if client.status != "running":
                log.setLevel(logging.CRITICAL)

        stack.callback(quiet_if_lost)
        workers = client.scheduler_info(n_workers=-1).get("workers", {})
        slots = _total_slots(client)
        dashboard = ""
        # A local cluster's dashboard is of no use to anyone; a scheduler's is the progress view.
        if scheduler is not None and _serves(client.dashboard_link):
            dashboard = f" · dashboard {client.dashboard_link}"
        where = "local cluster" if scheduler is None else f"scheduler {scheduler}"
        console.print(f"{where}{dashboard} · {len(workers)} worker(s), {slots} container slot(s)")
        if scheduler is not None and not slots:
            raise ClusterError(
                f"the scheduler at {scheduler} has no worker with container slots; start "
                f"`selma3d worker {scheduler}` on each machine with a Docker engine."
            )
        yield client


def _serves(url: str) -> bool:
    """True if ``url`` answers 200.

    The scheduler names its dashboard even when it serves none (``--no-dashboard``, or no bokeh
    installed), so the address is shown only once it answers.
    """
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Ledger:
    """The round's record of one submission: ``run.json`` and ``cases.jsonl`` in its run folder.

    Only the organizer's process writes it; every write replaces the whole file atomically.
    Reads the runner's format (:func:`harness.containers.records.read_records`), so a folder a
    local runner wrote resumes too. ``run.json`` lists the invoke servers started so far under
    ``servers`` (as the runner's does), numbered across the round's batches, and the
    determinism check's outcome under ``determinism`` (as the runner's does).
    """

    run_dir: Path
    image_ref: str
    image_digest: str
    split: Split
    contract: str
    records: dict[str, Any] = field(default_factory=dict)
    servers: list[dict[str, Any]] = field(default_factory=list)
    api_method: str = ""
    determinism: dict[str, Any] | None = None

    @classmethod
    def open(
        cls,
        run_dir: Path,
        *,
        image_ref: str,
        image_digest: str,
        split: Split,
        contract: str,
        api_method: str = "",
    ) -> Ledger:
        """Open (or start) the ledger, refusing a folder of another image, split or contract.

        Raises
        ------
        SubmissionError
            The folder holds results of another image.
        Selma3dError
            The folder holds results on another split or with another contract.
        """
        from harness.containers.records import read_records
        from harness.errors import Selma3dError

        run_json = run_dir / RUN_NAME
        previous: dict[str, Any] = {}
        if run_json.is_file():
            previous = json.loads(run_json.read_text(encoding="utf-8"))
            before = (previous.get("image") or {}).get("digest")
            if before and before != image_digest:
                raise SubmissionError(
                    f"{run_dir}: this folder holds results of image {before}, but {image_ref} "
                    f"is now {image_digest}; refusing to mix two images in one run."
                )
            split_before = (previous.get("split") or {}).get("content_hash")
            if split_before and split_before != split.content_hash:
                raise Selma3dError(
                    f"{run_dir}: this folder holds results on split {split_before}, but "
                    f"{split.root} is now {split.content_hash}."
                )
            if previous.get("contract") and previous["contract"] != contract:
                raise Selma3dError(
                    f"{run_dir}: this folder holds a {previous['contract']!r} run; the round "
                    f"now uses {contract!r}."
                )
        ledger = cls(
            run_dir,
            image_ref,
            image_digest,
            split,
            contract,
            read_records(run_dir),
            servers=list(previous.get("servers") or []),
            api_method=api_method,
            determinism=previous.get("determinism"),
        )
        ledger._write_meta()
        return ledger

    def pending(self) -> list[Case]:
        """Cases with no record, or whose record is an infrastructure failure, in split order."""
        return [
            c
            for c in self.split.cases
            if c.case_id not in self.records
            or not _charged_or_ok(self.records[c.case_id].status)
        ]

    def determinism_case(self) -> Case | None:
        """The case to run again for the determinism check, or None when none is needed.

        The first ``ok`` case in split order, unless a result stands: one that compared two
        masks, or whose second run failed in a way charged to the team. A second run that
        failed for infrastructure reasons does not stand.
        """
        det = self.determinism
        if det is not None and det.get("case_id") is not None:
            if _charged_or_ok(str(det.get("status", "ok"))):
                return None
        return next(
            (
                c
                for c in self.split.cases
                if c.case_id in self.records and self.records[c.case_id].status == "ok"
            ),
            None,
        )

    def record_determinism(self, result: DeterminismResult) -> dict[str, Any]:
        """Keep a determinism task's outcome (and its servers, slot -1) in ``run.json``."""
        first = len(self.servers)
        for server in result.servers:
            self.servers.append(
                {
                    **server,
                    "server": first + int(server["server"]),
                    "slot": -1,
                    "worker": result.worker,
                }
            )
        self.determinism = dict(result.determinism)
        self._write_meta()
        return self.determinism

    def merge(self, result: TaskResult) -> Any:
        """Take a finished task's files and record into the round's folder; return the record.

        The prediction and log are in place before the record that names them is written, so
        a crash in between leaves the case unrecorded (it reruns), never half recorded.
        """
        from harness.containers.records import CaseRecord

        record = CaseRecord.from_dict(result.record)
        case_id = record.case_id
        for rel in (record.prediction, record.log):
            if rel:
                with atomic_path(self.run_dir / rel) as tmp:
                    shutil.copyfile(result.attempt_dir / rel, tmp)
        stale = self.run_dir / "predictions" / f"{case_id}.nii.gz"
        if not record.prediction and stale.exists():
            stale.unlink()  # an earlier attempt's mask must not be scored
        self.records[case_id] = record
        lines = "".join(self.records[c].to_json() + "\n" for c in sorted(self.records))
        write_atomic(self.run_dir / RECORDS_NAME, lines)
        self._write_meta()
        return record

    def merge_batch(self, batch: BatchResult) -> list[Any]:
        """Take a finished batch: its servers, then each case as :meth:`merge` does.

        The batch's servers are numbered on from those recorded, and each record's ``server``
        with them. Returns the records in the batch's order.
        """
        first = len(self.servers)
        for server in batch.servers:
            self.servers.append(
                {**server, "server": first + int(server["server"]), "worker": batch.worker}
            )
        records = []
        for result in batch.results:
            number = result.record.get("server")
            record = {**result.record, "server": None if number is None else first + number}
            records.append(self.merge(replace(result, record=record)))
        return records

    def _write_meta(self) -> None:
        counts = Counter(r.status for r in self.records.values())
        meta = {
            "image": {"ref": self.image_ref, "digest": self.image_digest},
            "split": {
                "root": str(self.split.root),
                "content_hash": self.split.content_hash,
                "n_cases": len(self.split.cases),
            },
            "contract": self.contract,
            "api_method": "invoke" if is_invoke(self.api_method) else "exec",
            "servers": self.servers,
            "updated_at": _now(),
            "counts": dict(sorted(counts.items())),
        }
        if self.determinism is not None:
            meta["determinism"] = self.determinism
        write_atomic(self.run_dir / RUN_NAME, json.dumps(meta, indent=2, sort_keys=True) + "\n")


def save_image_tarball(client: Any, ref: str, digest: str, folder: Path) -> Path:
    """``docker save`` the image ``digest`` into ``folder`` once; return the tarball's path.

    Named after the digest, so an existing file is that image and is kept.
    """
    path = folder / f"{digest.removeprefix('sha256:')}.tar"
    if path.is_file():
        return path
    image = client.images.get(digest)
    named = ref if ref != digest and ref in (image.tags or []) else False
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        for chunk in image.save(named=named):
            fh.write(chunk)
    return path


def _gpus_needed(limits: Limits) -> int:
    """GPUs a container task asks the scheduler for: the count, one per listed id, one for all."""
    request = limits.gpu_request()
    if request is None:
        return 0
    count, ids = request
    if ids is not None:
        return len(ids)
    return 1 if count < 0 else count


def _charged_or_ok(status: str) -> bool:
    """Whether a recorded status stands: ``ok``, or a failure charged to the team."""
    return status == "ok" or STATUS[status].charged


def _is_scheduler_lost(exc: BaseException) -> TypeGuard[FutureCancelledError]:
    from distributed.client import FutureCancelledError

    return isinstance(exc, FutureCancelledError) and "scheduler" in exc.reason


def _cluster_failure(exc: BaseException, stage: str) -> ClusterError | None:
    """The cluster's own failures as a :class:`ClusterError` (exit 3), or None for the rest."""
    from distributed.comm.core import CommClosedError

    # The scheduler's death shows as cancelled futures, or, when a result was being gathered
    # at that moment, as the closed connection of that request.
    if _is_scheduler_lost(exc) or isinstance(exc, CommClosedError):
        reason = exc.reason if _is_scheduler_lost(exc) else f"connection closed: {exc}"
        return ClusterError(
            f"lost the Dask scheduler during the {stage} stage ({reason}); every case "
            "finished so far is recorded: rerun the same command to resume."
        )
    if isinstance(exc, RuntimeError) and "deserialization of the task graph" in str(exc):
        return ClusterError(
            f"the Dask scheduler cannot read selma3d's tasks ({exc.__class__.__name__}): install "
            "the same selma3d version on the scheduler's machine as on this one and the workers."
        )
    return None


def _task_result(future: Any, stage: str) -> Any:
    """A finished task's result; the cluster's own failures raise :class:`ClusterError`.

    A task lost with its worker raises ``KilledWorker`` for the caller to handle.
    """
    try:
        return future.result()
    except Exception as exc:
        failure = _cluster_failure(exc, stage)
        if failure is not None:
            raise failure from exc
        raise


@contextlib.contextmanager
def _cancel_on_exit(client: Any, queue: Any) -> Iterator[None]:
    """Cancel the tasks still queued when the caller stops early (an error, Ctrl-C)."""
    try:
        yield
    except BaseException:
        if client.status == "running":
            client.cancel(list(queue.futures))
        raise


def run_containers(
    jobs: Sequence[SubmissionJob],
    split: Split,
    run_config: Any,
    client: Any,
    *,
    out_dir: Path,
    canary: bool,
    distributed: bool,
    console: Console,
) -> dict[str, Ledger]:
    """Run every submission on every unrecorded case as cluster tasks; record each as it arrives.

    An exec image's cases are one task each; an invoke image's go in batches
    (:func:`batch_cases` over the cluster's container slots at submit time), each one runner
    call with one server, so its model loads once per batch rather than once per case.

    Parameters
    ----------
    jobs : sequence of SubmissionJob
    split : Split
    run_config : harness.containers.run_config.RunConfig
        The round's limits; each task runs its case(s) with it.
    client : distributed.Client
    out_dir : Path, keyword-only
        The round's folder (attempt folders go under ``tasks/``).
    canary : bool, keyword-only
        Per submission, run the first pending case alone first and the rest only if it is ok.
        With ``run_config.determinism``, once every case is recorded, one more task per
        submission runs a recorded case again (see the module docstring).
    distributed : bool, keyword-only
        Tasks ask for the round's GPUs as the ``gpus`` resource (workers of ``selma3d worker``
        advertise them); a local cluster's tasks use the configured devices directly.
    console : rich.console.Console, keyword-only

    Returns
    -------
    dict of str to Ledger
        Per submission key, every record of the round so far.

    Raises
    ------
    ClusterError
        The scheduler was lost, or some cases failed for infrastructure reasons (nothing was
        charged to a team; rerunning retries them).
    """
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    ledgers = {
        job.key: Ledger.open(
            job.run_dir,
            image_ref=job.image_ref,
            image_digest=job.image_digest,
            split=split,
            contract=run_config.contract,
            api_method=job.api_method,
        )
        for job in jobs
    }
    gpus = _gpus_needed(run_config.limits) if distributed else 0
    resources = {SLOTS: 1, **({GPUS: gpus} if gpus else {})}

    def submit(job: SubmissionJob, cases: Sequence[Case]) -> list[Any]:
        """One task per case of an exec image; batches of an invoke image's cases."""
        team, submission = job.key.split("/", 1)
        tasks_dir = out_dir / TASKS_DIR / team / submission
        config = replace(run_config, model=job.model)
        specs: list[tuple[Callable[..., Any], CaseTask | BatchTask, str, list[Case]]] = []
        if job.invoke:
            for batch in batch_cases(cases, max(1, _total_slots(client))):
                batch_task = BatchTask(
                    key=job.key,
                    cases=tuple(batch),
                    split_root=split.root,
                    split_hash=split.content_hash,
                    image_ref=job.image_ref,
                    image_digest=job.image_digest,
                    tarball=job.tarball,
                    tasks_dir=tasks_dir,
                    run_config=config,
                    gpus_needed=gpus,
                )
                name = f"batch-{job.key}-{batch[0].case_id}+{len(batch) - 1}"
                specs.append((run_batch_task, batch_task, name, batch))
        else:
            for case in cases:
                case_task = CaseTask(
                    key=job.key,
                    case=case,
                    split_root=split.root,
                    split_hash=split.content_hash,
                    image_ref=job.image_ref,
                    image_digest=job.image_digest,
                    tarball=job.tarball,
                    task_root=tasks_dir / case.case_id,
                    run_config=config,
                    gpus_needed=gpus,
                )
                specs.append((run_case_task, case_task, f"run-{job.key}-{case.case_id}", [case]))
        submitted = []
        for fn, task, name, its_cases in specs:
            future = client.submit(
                fn,
                task,
                key=f"{name}-{uuid.uuid4().hex[:8]}",
                resources=resources,
                retries=_TASK_RETRIES,
                pure=False,
            )
            owner[future.key] = (job, its_cases)
            submitted.append(future)
        return submitted

    owner: dict[str, tuple[SubmissionJob, list[Case]]] = {}
    held: dict[str, list[Case]] = {}
    futures = []
    for job in jobs:
        pending = ledgers[job.key].pending()
        done = len(split.cases) - len(pending)
        console.print(
            f"[bold]{job.key}[/bold]: {job.image_ref} · {done} recorded, {len(pending)} to run"
        )
        if canary and pending:
            held[job.key] = pending[1:]
            pending = pending[:1]
        futures.extend(submit(job, pending))

    per_worker: Counter[str] = Counter()
    lost: list[str] = []
    t0 = time.perf_counter()
    queue = as_completed(futures)
    with _cancel_on_exit(client, queue):
        for future in queue:
            job, cases = owner.pop(future.key)
            try:
                result: TaskResult | BatchResult = _task_result(future, "containers")
            except KilledWorker as exc:
                for case in cases:
                    lost.append(f"{job.key} {case.case_id}: {exc}")
                    console.print(f"[red]{job.key} {case.case_id}: lost ({exc})[/red]")
                continue
            ledger = ledgers[job.key]
            if isinstance(result, BatchResult):
                records = ledger.merge_batch(result)
                for server in ledger.servers[len(ledger.servers) - len(result.servers) :]:
                    startup = server.get("startup_s")
                    console.print(
                        f"{job.key}: invoke server {server['server']} on {result.worker}: "
                        + (f"start-up {startup:.1f} s" if startup is not None else "did not start")
                        + f", {server.get('cases', 0)} case(s)",
                        highlight=False,
                    )
            else:
                records = [ledger.merge(result)]
            _remove_task_folder(result.attempt_dir.parent, console)
            per_worker[result.worker] += len(records)
            removed = result.leftovers_removed
            for record in records:
                note = f" · removed {removed} leftover container(s)" if removed else ""
                removed = 0
                style = "green" if record.status == "ok" else "yellow"
                console.print(
                    f"{job.key} {record.case_id}: [{style}]{record.status}[/{style}] "
                    f"{record.wall_time_s:.1f} s · {result.worker}{note} "
                    f"[dim]({time.perf_counter() - t0:.0f} s)[/dim]"
                )
            if job.key in held:
                rest = held.pop(job.key)
                first = records[0]
                if first.status == "ok":
                    for other in submit(job, rest):
                        queue.add(other)
                elif rest:
                    console.print(
                        f"[yellow]{job.key}: the canary case {first.case_id} is "
                        f"{first.status}; its other {len(rest)} case(s) are not run[/yellow]"
                    )
    if per_worker:
        activity = ", ".join(f"{w}: {n}" for w, n in sorted(per_worker.items()))
        console.print(f"cases per worker: {activity}")
    infra = [
        f"{key} {case_id}: {record.reason.splitlines()[0] if record.reason else ''}"
        for key, ledger in ledgers.items()
        for case_id, record in sorted(ledger.records.items())
        if not _charged_or_ok(record.status)
    ]
    if lost or infra:
        problems = "\n".join(f"  - {line}" for line in [*lost, *infra])
        raise ClusterError(
            f"{len(lost) + len(infra)} case(s) failed for infrastructure reasons (never charged "
            f"to a team); rerun the same command to retry them:\n{problems}"
        )
    if run_config.determinism:
        _check_determinism(
            jobs,
            ledgers,
            split,
            run_config,
            client,
            out_dir=out_dir,
            resources=resources,
            gpus=gpus,
            console=console,
        )
    return ledgers


def _check_determinism(
    jobs: Sequence[SubmissionJob],
    ledgers: Mapping[str, Ledger],
    split: Split,
    run_config: Any,
    client: Any,
    *,
    out_dir: Path,
    resources: dict[str, int],
    gpus: int,
    console: Console,
) -> None:
    """Send one determinism task per submission that needs one; record each as it arrives.

    A task lost with its worker is not recorded (the next rerun sends it again): a flag is not
    worth stopping the round for.
    """
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    owner: dict[str, tuple[SubmissionJob, Case]] = {}
    futures = []
    for job in jobs:
        ledger = ledgers[job.key]
        case = ledger.determinism_case()
        if case is None:
            continue
        team, submission = job.key.split("/", 1)
        task = DeterminismTask(
            run=CaseTask(
                key=job.key,
                case=case,
                split_root=split.root,
                split_hash=split.content_hash,
                image_ref=job.image_ref,
                image_digest=job.image_digest,
                tarball=job.tarball,
                task_root=out_dir / TASKS_DIR / team / submission / case.case_id,
                run_config=replace(run_config, model=job.model, determinism=False),
                gpus_needed=gpus,
            ),
            reference=ledger.run_dir / ledger.records[case.case_id].prediction,
        )
        future = client.submit(
            run_determinism_task,
            task,
            key=f"determinism-{job.key}-{case.case_id}-{uuid.uuid4().hex[:8]}",
            resources=resources,
            retries=_TASK_RETRIES,
            pure=False,
        )
        owner[future.key] = (job, case)
        futures.append(future)
        console.print(f"{job.key}: determinism: running case {case.case_id} again")
    queue = as_completed(futures)
    with _cancel_on_exit(client, queue):
        for future in queue:
            job, case = owner.pop(future.key)
            try:
                result: DeterminismResult = _task_result(future, "determinism")
            except KilledWorker as exc:
                console.print(
                    f"[yellow]{job.key}: determinism: the second run of {case.case_id} was lost "
                    f"with its worker ({exc}); a rerun of the round sends it again[/yellow]"
                )
                continue
            det = ledgers[job.key].record_determinism(result)
            _remove_task_folder(result.attempt_dir.parent, console)
            if det["identical"] is False:
                console.print(
                    f"[yellow]{job.key}: not deterministic[/yellow]: case {det['case_id']} run "
                    f"twice: {det['reason']} (flagged, not failed)",
                    highlight=False,
                )
            elif det["identical"]:
                console.print(
                    f"{job.key}: deterministic: case {det['case_id']} gave the same mask twice"
                )
            else:
                console.print(f"{job.key}: determinism not judged: {det['reason']}")


def _total_slots(client: Any) -> int:
    """The container slots the cluster's workers advertise now (the ``slots`` resource)."""
    workers = client.scheduler_info(n_workers=-1).get("workers", {})
    return int(sum((w.get("resources") or {}).get(SLOTS, 0) for w in workers.values()))


def _remove_task_folder(folder: Path, console: Console) -> None:
    try:
        shutil.rmtree(folder)
    except OSError as exc:
        # Scratch only: the case is recorded; say what is left instead of stopping the round.
        console.print(f"[yellow]could not remove the task folder {folder}: {exc}[/yellow]")


def _code_fingerprint() -> str:
    """Hash of the code that turns predictions into scores: a change invalidates saved scores."""
    import harness.predictions.validate
    import harness.scoring.evaluate
    import harness.split.volume
    import metrics

    digest = hashlib.sha256()
    files = sorted(Path(metrics.__file__).parent.rglob("*.py"))
    files += [
        Path(m.__file__)  # type: ignore[arg-type]
        for m in (harness.scoring.evaluate, harness.predictions.validate, harness.split.volume)
    ]
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _score_fingerprint(
    case: Case,
    split: Split,
    folders: Mapping[str, Path],
    records: Mapping[str, Mapping[str, Any]],
    options: Any,
    gate: GateOptions,
    profile: str,
    code: str,
) -> str:
    """What a case's rows depend on: split, options, gate, profile, code, each record."""
    parts: dict[str, Any] = {
        "case": case.case_id,
        "split": split.content_hash,
        "options": repr(options),
        "gate": gate.model_dump(mode="json"),
        "profile": profile,
        "code": code,
    }
    for key, run_dir in sorted(folders.items()):
        record = records[key].get(case.case_id)
        parts[key] = [str(run_dir), record.to_json() if record else None]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def score_cases(
    split: Split,
    folders: Mapping[str, Path],
    client: Any,
    *,
    options: Any,
    gate: GateOptions,
    profile: str,
    out_dir: Path,
    console: Console,
    on_case: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Score every case as one cluster task each; keep each case's rows under ``scores/``.

    A case whose predictions, records and scoring code are unchanged since its rows were saved
    is not sent again. The table equals
    :func:`harness.scoring.evaluate.evaluate_predictions` on the whole split.

    Raises
    ------
    ClusterError
        The scheduler was lost (the cases scored so far are kept).
    """
    from distributed import as_completed

    from harness.containers.records import read_records

    code = _code_fingerprint()
    records = {key: read_records(run_dir) for key, run_dir in folders.items()}
    frames: dict[str, pd.DataFrame] = {}
    owner: dict[str, tuple[Case, Path]] = {}
    futures = []
    for case in split.cases:
        saved = (
            out_dir
            / SCORES_DIR
            / case.case_id
            / (
                _score_fingerprint(case, split, folders, records, options, gate, profile, code)
                + ".parquet"
            )
        )
        if saved.is_file():
            frames[case.case_id] = pd.read_parquet(saved)
            continue
        future = client.submit(
            score_case_task,
            case,
            split.root,
            split.content_hash,
            dict(folders),
            options,
            gate,
            profile,
            key=f"score-{case.case_id}-{uuid.uuid4().hex[:8]}",
            retries=_TASK_RETRIES,
            pure=False,
        )
        owner[future.key] = (case, saved)
        futures.append(future)
    console.print(f"{len(frames)} case(s) scored before, {len(futures)} to score")
    queue = as_completed(futures)
    with _cancel_on_exit(client, queue):
        for future in queue:
            case, saved = owner.pop(future.key)
            frame = _task_result(future, "scoring")
            for old in saved.parent.glob("*.parquet") if saved.parent.is_dir() else ():
                old.unlink()
            with atomic_path(saved) as tmp:
                frame.to_parquet(tmp, index=False)
            frames[case.case_id] = frame
            if on_case is not None:
                on_case(case.case_id)
    table = pd.concat([frames[c] for c in split.case_ids], ignore_index=True)
    return table.sort_values(["team", "case_id"], kind="stable").reset_index(drop=True)
