"""The organizer's Dask client: connecting, probing the workers' slots, gathering a task's result.

The cluster's own failures (a lost scheduler, a scheduler that cannot read selma3d's tasks)
become :class:`~harness.errors.ClusterError` (exit 3) here, for every stage alike. An address
where no Dask scheduler answers within the connect timeout is the user's input, and a
:class:`~common.errors.ConfigError` (exit 2) saying what was tried.

Resources
---------
A container task needs one ``slots``, a scoring task one ``cpu``: the two never compete for
one Dask thread, so scoring cannot delay a container run. A local cluster has ``jobs`` worker
processes of one ``slots`` thread each and :func:`local_scoring_workers` processes of one
``cpu`` thread each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeGuard

from rich.console import Console

from common.errors import ConfigError
from harness.errors import ClusterError
from harness.rounds.cluster.tasks import CPU, SLOTS, TASK_RETRIES

if TYPE_CHECKING:
    from distributed.client import FutureCancelledError

__all__ = [
    "cancel_on_exit",
    "cluster_failure",
    "connect_cluster",
    "is_scheduler_lost",
    "local_scoring_workers",
    "probe_scheduler",
    "task_result",
    "total_resource",
    "total_slots",
]


def local_scoring_workers() -> int:
    """Scoring workers of a local cluster: one per core but one, at least one.

    The core left over serves the container tasks' own host work (starting containers, the
    gate reading each prediction) and the organizer's process; on a 2-core machine this is one
    scoring task at a time beside every container slot.
    """
    # Dask (0.3 s to import) is loaded by the calls that use it, not by importing the module.
    from dask.system import CPU_COUNT

    return max(1, CPU_COUNT - 1)


async def _identity(address: str, timeout: float, reached: list[str]) -> dict[str, Any]:
    # Dask (0.3 s to import) is loaded by the calls that use it, not by importing the module.
    from distributed.comm import connect
    from distributed.comm.addressing import parse_address, parse_host_port

    scheme, location = parse_address(address)
    if scheme == "tcp":
        # A bare connection first, to tell "nothing listens" from "something not Dask listens".
        with contextlib.suppress(OSError, TimeoutError):
            host, port = parse_host_port(location)
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout / 3)
            writer.close()
            reached.append("accepted")
    # A little under the whole wait, so that Dask's own error (the last refusal) is the one told.
    comm = await connect(address, timeout=timeout * 0.9)
    try:
        await comm.write({"op": "identity", "reply": True})
        reply = await comm.read()
    finally:
        comm.abort()
    if not isinstance(reply, dict):
        raise ValueError(f"answered {type(reply).__name__}, not a Dask identity")
    return reply


async def probe_scheduler(address: str, *, timeout: float) -> None:
    """Wait at most ``timeout`` seconds for a Dask scheduler to answer at ``address``.

    Tried: connections by the address's protocol, repeated until the timeout (Dask's own
    ``connect``), then Dask's ``identity`` request, whose answer must name a scheduler. An HTTP
    server or another service that accepts the connection but never answers in Dask's framing
    is bounded by the same timeout.

    Raises
    ------
    ConfigError
        Nothing answered as a Dask scheduler in time (exit 2), saying what was tried.
    """
    start = time.monotonic()
    reached: list[str] = []
    try:
        reply = await asyncio.wait_for(_identity(address, timeout, reached), timeout)
        problem = "" if reply.get("type") == "Scheduler" else f"it is a {reply.get('type')!r}"
    except TimeoutError:
        problem = "no answer"
    # Whatever a service that is not a Dask scheduler sends back (a refused connection, an HTTP
    # reply read as Dask frames, an unknown protocol) means the same to the user: not here.
    except Exception as exc:
        problem = f"{type(exc).__name__}: {exc}"
    if problem:
        waited = time.monotonic() - start
        tried = (
            "a service accepts connections there, but did not answer Dask's handshake and "
            "identity request"
            if reached
            else "connecting by its protocol, again and again until the timeout"
        )
        raise ConfigError(
            f"no Dask scheduler answered at {address} within {timeout:g} s ({problem}; after "
            f"{waited:.1f} s; tried: {tried}). Check the address (`dask scheduler` prints it), "
            "or wait longer with --connect-timeout-s (round.yaml: cluster: {connect_timeout_s: "
            "...})."
        )


@contextlib.contextmanager
def connect_cluster(
    scheduler: str | None, *, jobs: int, console: Console, connect_timeout: float = 30.0
) -> Iterator[Any]:
    """A Dask client: of the scheduler at ``scheduler``, or of a local cluster of ``jobs`` workers.

    The local cluster's container workers are processes with one container slot each, on this
    machine's engine, beside :func:`local_scoring_workers` scoring processes. The scheduler's
    dashboard address and its workers are printed.

    Raises
    ------
    ConfigError
        No Dask scheduler answers at ``scheduler`` within ``connect_timeout`` seconds.
    ClusterError
        The scheduler has no worker with a container slot, or none with a scoring one.
    """
    # Dask (0.3 s to import) is loaded by the calls that use it, not by importing the module.
    from distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        if scheduler is None:
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=jobs,
                    threads_per_worker=1,
                    processes=True,
                    resources={SLOTS: 1},
                    dashboard_address=":0",  # never the fixed 8787 another program may hold
                    silence_logs=logging.ERROR,
                    # Ctrl-C stops the round, which ends its workers: they ignore it themselves.
                    preload=["harness.rounds.cluster.local_worker"],
                )
            )
            # Scoring workers of their own: a LocalCluster gives every worker one spec.
            spec = cluster.new_spec
            for i in range(local_scoring_workers()):
                options = {**spec["options"], "resources": {CPU: 1}}
                cluster.worker_spec[f"scoring-{i}"] = {**spec, "options": options}
            cluster.scale(len(cluster.worker_spec))
        log = logging.getLogger("distributed.client")
        stack.callback(log.setLevel, log.level)
        if scheduler is None:
            client = stack.enter_context(Client(cluster))
            client.wait_for_workers(len(cluster.worker_spec))
        else:
            asyncio.run(probe_scheduler(scheduler, timeout=connect_timeout))
            try:
                client = stack.enter_context(Client(scheduler, timeout=connect_timeout))
            except (OSError, TimeoutError) as exc:
                raise ConfigError(
                    f"no Dask scheduler answers at {scheduler} within {connect_timeout:g} s "
                    f"({exc}); start one with `dask scheduler` and workers with "
                    "`selma3d worker ADDRESS`."
                ) from exc

        def quiet_if_lost() -> None:
            # Closing a client whose scheduler is gone logs its cancelled reconnection as a
            # traceback; the round has already said what happened (ClusterError).
            if client.status != "running":
                log.setLevel(logging.CRITICAL)

        stack.callback(quiet_if_lost)
        workers = client.scheduler_info(n_workers=-1).get("workers", {})
        slots = total_slots(client)
        scoring = total_resource(client, CPU)
        dashboard = ""
        # A local cluster's dashboard is of no use to anyone; a scheduler's is the progress view.
        if scheduler is not None and _serves(client.dashboard_link):
            dashboard = f" · dashboard {client.dashboard_link}"
        where = "local cluster" if scheduler is None else f"scheduler {scheduler}"
        console.print(
            f"{where}{dashboard} · {len(workers)} worker(s), {slots} container slot(s), "
            f"{scoring} scoring slot(s)"
        )
        if scheduler is not None and not slots:
            raise ClusterError(
                f"the scheduler at {scheduler} has no worker with container slots; start "
                f"`selma3d worker {scheduler}` on each machine with a Docker engine."
            )
        if scheduler is not None and not scoring:
            raise ClusterError(
                f"the scheduler at {scheduler} has no worker with a scoring slot (the `{CPU}` "
                f"resource); start `selma3d worker {scheduler}` (it offers one) or "
                f"`dask worker {scheduler} --resources {CPU}=1`."
            )
        yield client


def _serves(url: str) -> bool:
    """True if ``url`` answers 200.

    The scheduler names its dashboard even when it serves none (``--no-dashboard``, or no bokeh
    installed), so the address is shown only once it answers.
    """
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def is_scheduler_lost(exc: BaseException) -> TypeGuard[FutureCancelledError]:
    """Whether ``exc`` is a future cancelled because the scheduler went away."""
    # Dask (0.3 s to import) is loaded by the calls that use it, not by importing the module.
    from distributed.client import FutureCancelledError

    return isinstance(exc, FutureCancelledError) and "scheduler" in exc.reason


def cluster_failure(exc: BaseException, stage: str) -> ClusterError | None:
    """The cluster's own failures as a :class:`ClusterError` (exit 3), or None for the rest."""
    # Dask (0.3 s to import) is loaded by the calls that use it, not by importing the module.
    from distributed.comm.core import CommClosedError

    # The scheduler's death shows as cancelled futures, or, when a result was being gathered
    # at that moment, as the closed connection of that request.
    if is_scheduler_lost(exc) or isinstance(exc, CommClosedError):
        reason = exc.reason if is_scheduler_lost(exc) else f"connection closed: {exc}"
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


def task_result(future: Any, stage: str) -> Any:
    """A finished task's result; the cluster's own failures raise :class:`ClusterError`.

    A task lost with its worker raises ``KilledWorker`` for the caller to handle.
    """
    try:
        return future.result()
    except Exception as exc:
        failure = cluster_failure(exc, stage)
        if failure is not None:
            raise failure from exc
        raise


def submit_task(
    client: Any,
    fn: Callable[..., Any],
    *args: Any,
    name: str,
    resources: dict[str, int] | None = None,
    priority: int = 0,
) -> Any:
    """Send one task: a unique key after ``name``, Dask's retries, never deduplicated.

    Of the tasks ready to start, those with the higher ``priority`` start first.
    """
    return client.submit(
        fn,
        *args,
        key=f"{name}-{uuid.uuid4().hex[:8]}",
        resources=resources,
        priority=priority,
        retries=TASK_RETRIES,
        pure=False,
    )


def finished(
    client: Any, queue: Any, stage: str
) -> Iterator[tuple[Any, Any, BaseException | None]]:
    """Each task of ``queue`` (``distributed.as_completed``) as it finishes: the one gather.

    Yields ``(future, result, None)``, or ``(future, None, exc)`` for a task lost with its
    worker (``KilledWorker``); the cluster's own failures raise :class:`ClusterError`
    (:func:`task_result`). Tasks may be added to ``queue`` meanwhile. When the caller's loop
    stops early (an error, Ctrl-C: the generator is closed), the tasks still queued are
    cancelled (:func:`cancel_on_exit`).
    """
    # Dask (0.3 s to import) is loaded by the calls that use it, not by importing the module.
    from distributed.scheduler import KilledWorker

    with cancel_on_exit(client, queue):
        for future in queue:
            try:
                result = task_result(future, stage)
            except KilledWorker as exc:
                yield future, None, exc
                continue
            yield future, result, None


@contextlib.contextmanager
def cancel_on_exit(client: Any, queue: Any) -> Iterator[None]:
    """Cancel the tasks still queued when the caller stops early (an error, Ctrl-C)."""
    try:
        yield
    except BaseException:
        if client.status == "running":
            client.cancel(list(queue.futures))
        raise


def total_slots(client: Any) -> int:
    """The container slots the cluster's workers advertise now (the ``slots`` resource)."""
    return total_resource(client, SLOTS)


def total_resource(client: Any, name: str) -> int:
    """How much of the resource ``name`` the cluster's workers advertise now, summed."""
    workers = client.scheduler_info(n_workers=-1).get("workers", {})
    return int(sum((w.get("resources") or {}).get(name, 0) for w in workers.values()))
