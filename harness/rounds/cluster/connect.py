"""The organizer's Dask client: connecting, probing the workers' slots, gathering a task's result.

The cluster's own failures (a lost scheduler, a scheduler that cannot read selma3d's tasks)
become :class:`~harness.errors.ClusterError` (exit 3) here, for every stage alike.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeGuard

from rich.console import Console

from harness.errors import ClusterError
from harness.rounds.cluster.tasks import SLOTS, TASK_RETRIES

if TYPE_CHECKING:
    from distributed.client import FutureCancelledError

__all__ = [
    "cancel_on_exit",
    "cluster_failure",
    "connect_cluster",
    "is_scheduler_lost",
    "task_result",
    "total_slots",
]


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
                    dashboard_address=":0",  # never the fixed 8787 another program may hold
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
        slots = total_slots(client)
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


def is_scheduler_lost(exc: BaseException) -> TypeGuard[FutureCancelledError]:
    """Whether ``exc`` is a future cancelled because the scheduler went away."""
    from distributed.client import FutureCancelledError

    return isinstance(exc, FutureCancelledError) and "scheduler" in exc.reason


def cluster_failure(exc: BaseException, stage: str) -> ClusterError | None:
    """The cluster's own failures as a :class:`ClusterError` (exit 3), or None for the rest."""
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
) -> Any:
    """Send one task: a unique key after ``name``, Dask's retries, never deduplicated."""
    return client.submit(
        fn,
        *args,
        key=f"{name}-{uuid.uuid4().hex[:8]}",
        resources=resources,
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
    workers = client.scheduler_info(n_workers=-1).get("workers", {})
    return int(sum((w.get("resources") or {}).get(SLOTS, 0) for w in workers.values()))
