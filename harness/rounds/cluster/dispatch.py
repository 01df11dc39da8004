"""The container stage: each submission's pending cases as cluster tasks, recorded on arrival."""

from __future__ import annotations

import itertools
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.errors import ClusterError
from harness.rounds.cluster.connect import cancel_on_exit, task_result, total_slots
from harness.rounds.cluster.determinism import check_determinism
from harness.rounds.cluster.ledger import Ledger, charged_or_ok
from harness.rounds.cluster.tasks import (
    GPUS,
    SLOTS,
    TASK_RETRIES,
    TASKS_DIR,
    BatchResult,
    BatchTask,
    CaseTask,
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
    run_config: Any,
    client: Any,
    *,
    out_dir: Path,
    canary: bool,
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
    gpus = gpus_needed(run_config.limits) if distributed else 0
    resources = {SLOTS: 1, **({GPUS: gpus} if gpus else {})}

    def specs_for(job: SubmissionJob, cases: Sequence[Case]) -> list[_Spec]:
        """One task per case of an exec image; batches of an invoke image's cases."""
        team, submission = job.key.split("/", 1)
        tasks_dir = out_dir / TASKS_DIR / team / submission
        config = replace(run_config, model=job.model)
        specs: list[tuple[Callable[..., Any], CaseTask | BatchTask, str, list[Case]]] = []
        if job.invoke:
            for batch in batch_cases(cases, max(1, total_slots(client))):
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
        return [(job, fn, task, name, its_cases) for fn, task, name, its_cases in specs]

    def send(specs: Sequence[_Spec]) -> list[Any]:
        submitted = []
        for job, fn, task, name, its_cases in specs:
            future = client.submit(
                fn,
                task,
                key=f"{name}-{uuid.uuid4().hex[:8]}",
                # Tasks start in the order sent: Dask orders equal priorities by other means.
                priority=-next(order),
                resources=resources,
                retries=TASK_RETRIES,
                pure=False,
            )
            owner[future.key] = (job, its_cases)
            submitted.append(future)
        return submitted

    order = itertools.count()
    owner: dict[str, tuple[SubmissionJob, list[Case]]] = {}
    held: dict[str, list[Case]] = {}
    # Per case, the submissions whose run of it is still to come; a case is settled at zero.
    outstanding: Counter[str] = Counter()
    unsettled: set[str] = set()

    def settle(case_ids: Sequence[str], *, stands: bool = True) -> None:
        ready = []
        for case_id in case_ids:
            outstanding[case_id] -= 1
            if not stands:
                unsettled.add(case_id)
            if outstanding[case_id] == 0 and case_id not in unsettled:
                ready.append(case_id)
        if ready and on_settled is not None:
            on_settled(ready)

    first: list[list[_Spec]] = []
    for job in jobs:
        pending = ledgers[job.key].pending()
        done = len(split.cases) - len(pending)
        console.print(
            f"[bold]{job.key}[/bold]: {job.image_ref} · {done} recorded, {len(pending)} to run"
        )
        for case in pending:
            outstanding[case.case_id] += 1
        if canary and pending:
            held[job.key] = pending[1:]
            pending = pending[:1]
        first.append(specs_for(job, pending))
    if on_settled is not None:
        on_settled([c for c in split.case_ids if outstanding[c] == 0])
    # Case by case across the submissions (not submission after submission): each case's runs
    # finish close together, so its scoring can start while later cases run.
    futures = send(
        [spec for row in itertools.zip_longest(*first) for spec in row if spec is not None]
    )

    per_worker: Counter[str] = Counter()
    lost: list[str] = []
    t0 = time.perf_counter()
    queue = as_completed(futures)
    with cancel_on_exit(client, queue):
        for future in queue:
            job, cases = owner.pop(future.key)
            try:
                result: TaskResult | BatchResult = task_result(future, "containers")
            except KilledWorker as exc:
                for case in cases:
                    lost.append(f"{job.key} {case.case_id}: {exc}")
                    console.print(f"[red]{job.key} {case.case_id}: lost ({exc})[/red]")
                settle([case.case_id for case in cases], stands=False)
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
            remove_task_folder(result.attempt_dir.parent, console)
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
            for record in records:
                settle([record.case_id], stands=charged_or_ok(record.status))
            if job.key in held:
                rest = held.pop(job.key)
                canary_record = records[0]
                if canary_record.status == "ok":
                    for other in send(specs_for(job, rest)):
                        queue.add(other)
                else:
                    if rest:
                        console.print(
                            f"[yellow]{job.key}: the canary case {canary_record.case_id} is "
                            f"{canary_record.status}; its other {len(rest)} case(s) are not "
                            "run[/yellow]"
                        )
                    settle([case.case_id for case in rest])
    if per_worker:
        activity = ", ".join(f"{w}: {n}" for w, n in sorted(per_worker.items()))
        console.print(f"cases per worker: {activity}")
    infra = [
        f"{key} {case_id}: {record.reason.splitlines()[0] if record.reason else ''}"
        for key, ledger in ledgers.items()
        for case_id, record in sorted(ledger.records.items())
        if not charged_or_ok(record.status)
    ]
    if lost or infra:
        problems = "\n".join(f"  - {line}" for line in [*lost, *infra])
        raise ClusterError(
            f"{len(lost) + len(infra)} case(s) failed for infrastructure reasons (never charged "
            f"to a team); rerun the same command to retry them:\n{problems}"
        )
    if run_config.determinism:
        check_determinism(
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
