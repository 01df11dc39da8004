"""The container stage: each submission's pending cases as cluster tasks, recorded on arrival."""

from __future__ import annotations

import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from distributed import as_completed
from rich.console import Console

from common.terminal import as_text
from harness.containers.canary import FINISHED, STOPPED_BY_CANARY, after_canary, canary_split
from harness.containers.records import CaseRecord
from harness.containers.run_config import RunConfig
from harness.containers.run_folder import stands
from harness.errors import ClusterError
from harness.rounds.cluster.connect import finished, submit_task, total_slots
from harness.rounds.cluster.determinism import check_determinism
from harness.rounds.cluster.ledger import Ledger
from harness.rounds.cluster.tasks import (
    GPUS,
    SLOTS,
    BatchResult,
    SubmissionJob,
    TaskResult,
    batch_cases,
    gpus_needed,
    remove_task_folder,
)
from harness.rounds.cluster.worker import run_batch_task, run_case_task
from harness.split.manifest import Case, Split

__all__ = ["run_containers"]

# A task to send: its submission, function, argument, name and cases.
_Spec = tuple[SubmissionJob, Callable[..., Any], Any, str, list[Case]]


def run_containers(
    jobs: Sequence[SubmissionJob],
    split: Split,
    run_config: RunConfig,
    client: Any,
    *,
    out_dir: Path,
    distributed: bool,
    console: Console,
    on_settled: Callable[[list[str]], None] | None = None,
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
        The round's limits and switches; each task runs its case(s) with it. With
        ``run_config.canary``, per submission, the first pending case runs alone first and the
        rest only if it is ok (:func:`harness.containers.canary.after_canary`). With
        ``run_config.determinism``, once every case is recorded, one more task per submission
        runs a recorded case again (:mod:`harness.rounds.cluster.determinism`).
    client : distributed.Client
    out_dir : Path, keyword-only
        The round's folder (attempt folders go under ``tasks/``).
    distributed : bool, keyword-only
        Tasks ask for the round's GPUs as the ``gpus`` resource (workers of ``selma3d worker``
        advertise them); a local cluster's tasks use the configured devices directly.
    console : rich.console.Console, keyword-only
    on_settled : callable, keyword-only, optional
        Called with the ids of cases that became *settled*: every submission's run of the
        case is recorded with a status that stands (``ok`` or charged to the team), or will not
        run in this round (a failed canary). Cases settled before any task are passed first.
        A case with a lost task or an infrastructure failure never settles. Tasks are sent
        case by case across the submissions, so cases settle one after another.

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
    with _opened_ledgers(jobs, split, run_config) as ledgers:
        stage = _ContainerStage(
            ledgers,
            split,
            run_config,
            client,
            out_dir=out_dir,
            distributed=distributed,
            console=console,
            on_settled=on_settled,
        )
        queue = as_completed(stage.start(jobs))
        for future, result, gone in finished(client, queue, "containers"):
            for other in stage.take(future.key, result, gone):
                queue.add(other)
        stage.report_workers()
        _refuse_infrastructure_failures(ledgers, stage.lost)
        if run_config.determinism:
            check_determinism(
                jobs,
                ledgers,
                split,
                run_config,
                client,
                out_dir=out_dir,
                resources=stage.resources,
                gpus=stage.gpus,
                console=console,
                ran=stage.ran,
                stopped=stage.stopped,
            )
        for key, ledger in ledgers.items():
            ledger.folder.write(state=STOPPED_BY_CANARY if key in stage.stopped else FINISHED)
        return ledgers


class _ContainerStage:
    """The container stage while its tasks run: what was sent, for whom, and what settled."""

    def __init__(
        self,
        ledgers: dict[str, Ledger],
        split: Split,
        run_config: RunConfig,
        client: Any,
        *,
        out_dir: Path,
        distributed: bool,
        console: Console,
        on_settled: Callable[[list[str]], None] | None,
    ) -> None:
        self.ledgers, self.split, self.run_config, self.client = ledgers, split, run_config, client
        self.out_dir, self.console, self.on_settled = out_dir, console, on_settled
        self.gpus = gpus_needed(run_config.limits) if distributed else 0
        self.resources = {SLOTS: 1, **({GPUS: self.gpus} if self.gpus else {})}
        self.order = itertools.count()
        self.owner: dict[str, tuple[SubmissionJob, list[Case]]] = {}
        self.held: dict[str, list[Case]] = {}  # per submission, the cases behind its canary
        # Per case, the submissions whose run of it is still to come; a case is settled at zero.
        self.outstanding: Counter[str] = Counter()
        self.unsettled: set[str] = set()
        self.ran: set[str] = set()  # submissions with cases to run in this call
        self.stopped: set[str] = set()  # submissions whose canary case was not ok
        self.per_worker: Counter[str] = Counter()
        self.lost: list[str] = []
        self.t0 = 0.0  # when the first tasks were sent: the console's clock

    def start(self, jobs: Sequence[SubmissionJob]) -> list[Any]:
        """Send each submission's first tasks (its canary alone, with a canary); the futures."""
        first: list[list[_Spec]] = []
        for job in jobs:
            pending = self.ledgers[job.key].pending()
            done = len(self.split.cases) - len(pending)
            self.console.print(
                f"[bold]{job.key}[/bold]: {job.image_ref} · {done} recorded, {len(pending)} to run"
            )
            if pending:
                self.ran.add(job.key)
            for case in pending:
                self.outstanding[case.case_id] += 1
            split_off = canary_split(pending, canary=self.run_config.canary)
            if split_off is not None:
                pending, self.held[job.key] = split_off
            first.append(self.specs_for(job, pending))
        if self.on_settled is not None:
            self.on_settled([c for c in self.split.case_ids if self.outstanding[c] == 0])
        # Case by case across the submissions (not submission after submission): each case's
        # runs finish close together, so its scoring can start while later cases run.
        futures = self.send(
            [spec for row in itertools.zip_longest(*first) for spec in row if spec is not None]
        )
        self.t0 = time.perf_counter()
        return futures

    def specs_for(self, job: SubmissionJob, cases: Sequence[Case]) -> list[_Spec]:
        """One task per case of an exec image; batches of an invoke image's cases."""
        made = {"out_dir": self.out_dir, "base": self.run_config, "gpus": self.gpus}
        specs: list[_Spec] = []
        if job.invoke:
            for batch in batch_cases(cases, max(1, total_slots(self.client))):
                name = f"batch-{job.key}-{batch[0].case_id}+{len(batch) - 1}"
                task = job.batch_task(batch, self.split, **made)
                specs.append((job, run_batch_task, task, name, batch))
        else:
            for case in cases:
                name = f"run-{job.key}-{case.case_id}"
                task = job.case_task(case, self.split, **made)
                specs.append((job, run_case_task, task, name, [case]))
        return specs

    def send(self, specs: Sequence[_Spec]) -> list[Any]:
        """Submit ``specs`` in order; the futures."""
        submitted = []
        for job, fn, task, name, its_cases in specs:
            future = submit_task(
                self.client,
                fn,
                task,
                name=name,
                resources=self.resources,
                # Tasks start in the order sent: Dask orders equal priorities by other means.
                priority=-next(self.order),
            )
            self.owner[future.key] = (job, its_cases)
            submitted.append(future)
        return submitted

    def settle(self, case_ids: Sequence[str], *, standing: bool = True) -> None:
        """Count these runs as done; pass the cases every submission has settled on."""
        ready = []
        for case_id in case_ids:
            self.outstanding[case_id] -= 1
            if not standing:
                self.unsettled.add(case_id)
            if self.outstanding[case_id] == 0 and case_id not in self.unsettled:
                ready.append(case_id)
        if ready and self.on_settled is not None:
            self.on_settled(ready)

    def take(self, key: str, result: Any, gone: BaseException | None) -> list[Any]:
        """Record a finished task (or note it lost); the futures of any tasks it releases.

        ``result`` is the task's :class:`TaskResult` or :class:`BatchResult`; None when
        ``gone`` (the exception that lost it with its worker) is not.
        """
        job, cases = self.owner.pop(key)
        if gone is not None:
            for case in cases:
                self.lost.append(f"{job.key} {case.case_id}: {gone}")
                self.console.print(f"[red]{job.key} {case.case_id}: lost ({as_text(gone)})[/red]")
            self.settle([case.case_id for case in cases], standing=False)
            return []
        records = self.merge(job, result)
        for record in records:
            self.settle([record.case_id], standing=stands(record.status))
        if job.key not in self.held:
            return []
        return self.after_canary(job, records[0])

    def merge(self, job: SubmissionJob, result: TaskResult | BatchResult) -> list[CaseRecord]:
        """Take a task's files and records into the submission's ledger, and say so."""
        ledger = self.ledgers[job.key]
        if isinstance(result, BatchResult):
            records = ledger.merge_batch(result)
            for server in ledger.servers[len(ledger.servers) - len(result.servers) :]:
                startup = server.get("startup_s")
                self.console.print(
                    f"{job.key}: invoke server {server['server']} on {result.worker}: "
                    + (f"start-up {startup:.1f} s" if startup is not None else "did not start")
                    + f", {server.get('cases', 0)} case(s)",
                    highlight=False,
                )
        else:
            records = [ledger.merge(result)]
        remove_task_folder(result.attempt_dir.parent, self.console)
        self.per_worker[result.worker] += len(records)
        removed = result.leftovers_removed
        for record in records:
            note = f" · removed {removed} leftover container(s)" if removed else ""
            removed = 0
            style = "green" if record.status == "ok" else "yellow"
            self.console.print(
                f"{job.key} {record.case_id}: [{style}]{record.status}[/{style}] "
                f"{record.wall_time_s:.1f} s · {result.worker}{note} "
                f"[dim]({time.perf_counter() - self.t0:.0f} s)[/dim]"
            )
        return records

    def after_canary(self, job: SubmissionJob, record: CaseRecord) -> list[Any]:
        """Send the cases held behind ``job``'s canary ``record``, or settle them unsent."""
        rest = self.held.pop(job.key)
        decision = after_canary(record, held=len(rest))
        if decision.send_rest:
            return self.send(self.specs_for(job, rest))
        self.stopped.add(job.key)
        if decision.reason:
            self.console.print(f"[yellow]{job.key}: {decision.reason}[/yellow]")
        self.settle([case.case_id for case in rest])
        return []

    def report_workers(self) -> None:
        """Print how many cases each worker ran."""
        if self.per_worker:
            activity = ", ".join(f"{w}: {n}" for w, n in sorted(self.per_worker.items()))
            self.console.print(f"cases per worker: {activity}")


def _refuse_infrastructure_failures(ledgers: dict[str, Ledger], lost: list[str]) -> None:
    """Raise if a task was lost or a case failed for infrastructure reasons.

    Raises
    ------
    ClusterError
        Naming each such case (none is charged to a team; a rerun retries them).
    """
    infra = [
        f"{key} {case_id}: {record.reason.splitlines()[0] if record.reason else ''}"
        for key, ledger in ledgers.items()
        for case_id, record in sorted(ledger.records.items())
        if not stands(record.status)
    ]
    if lost or infra:
        problems = "\n".join(f"  - {line}" for line in [*lost, *infra])
        raise ClusterError(
            f"{len(lost) + len(infra)} case(s) failed for infrastructure reasons (never "
            f"charged to a team); rerun the same command to retry them:\n{problems}"
        )


@contextlib.contextmanager
def _opened_ledgers(
    jobs: Sequence[SubmissionJob], split: Split, run_config: RunConfig
) -> Iterator[dict[str, Ledger]]:
    """Every submission's ledger, opened (and locked) until the block ends."""
    with contextlib.ExitStack() as stack:
        yield {
            job.key: stack.enter_context(
                Ledger.open(
                    job.run_dir,
                    job.identity,
                    config=job.config(run_config).as_record(),
                )
            )
            for job in jobs
        }
