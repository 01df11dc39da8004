"""The container stage: each submission's pending cases as cluster tasks, recorded on arrival."""

from __future__ import annotations

import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.containers.run_config import RunConfig
from harness.containers.run_folder import canary_split, stands
from harness.errors import ClusterError
from harness.rounds.cluster.connect import finished, submit_task, total_slots
from harness.rounds.cluster.determinism import check_determinism
from harness.rounds.cluster.ledger import Ledger
from harness.rounds.cluster.tasks import (
    GPUS,
    SLOTS,
    BatchResult,
    SubmissionJob,
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
        The round's limits; each task runs its case(s) with it. With its ``canary``, per
        submission, the first pending case runs alone first and the rest only if it is ok.
        With its ``determinism``, once every case is recorded, one more task per submission
        runs a recorded case again (see the module docstring).
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
        from distributed import as_completed

        gpus = gpus_needed(run_config.limits) if distributed else 0
        resources = {SLOTS: 1, **({GPUS: gpus} if gpus else {})}

        def specs_for(job: SubmissionJob, cases: Sequence[Case]) -> list[_Spec]:
            """One task per case of an exec image; batches of an invoke image's cases."""
            made = {"out_dir": out_dir, "base": run_config, "gpus": gpus}
            specs: list[_Spec] = []
            if job.invoke:
                for batch in batch_cases(cases, max(1, total_slots(client))):
                    name = f"batch-{job.key}-{batch[0].case_id}+{len(batch) - 1}"
                    specs.append(
                        (job, run_batch_task, job.batch_task(batch, split, **made), name, batch)
                    )
            else:
                for case in cases:
                    name = f"run-{job.key}-{case.case_id}"
                    task = job.case_task(case, split, **made)
                    specs.append((job, run_case_task, task, name, [case]))
            return specs

        def send(specs: Sequence[_Spec]) -> list[Any]:
            submitted = []
            for job, fn, task, name, its_cases in specs:
                future = submit_task(
                    client,
                    fn,
                    task,
                    name=name,
                    resources=resources,
                    # Tasks start in the order sent: Dask orders equal priorities by other means.
                    priority=-next(order),
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

        def settle(case_ids: Sequence[str], *, standing: bool = True) -> None:
            ready = []
            for case_id in case_ids:
                outstanding[case_id] -= 1
                if not standing:
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
            split_off = canary_split(pending, canary=run_config.canary)
            if split_off is not None:
                pending, held[job.key] = split_off
            first.append(specs_for(job, pending))
        if on_settled is not None:
            on_settled([c for c in split.case_ids if outstanding[c] == 0])
        # Case by case across the submissions (not submission after submission): each case's
        # runs finish close together, so its scoring can start while later cases run.
        futures = send(
            [spec for row in itertools.zip_longest(*first) for spec in row if spec is not None]
        )

        stopped: set[str] = set()  # submissions whose canary case was not ok
        per_worker: Counter[str] = Counter()
        lost: list[str] = []
        t0 = time.perf_counter()
        queue = as_completed(futures)
        for future, result, gone in finished(client, queue, "containers"):
            job, cases = owner.pop(future.key)
            if gone is not None:
                for case in cases:
                    lost.append(f"{job.key} {case.case_id}: {gone}")
                    console.print(f"[red]{job.key} {case.case_id}: lost ({gone})[/red]")
                settle([case.case_id for case in cases], standing=False)
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
                settle([record.case_id], standing=stands(record.status))
            if job.key in held:
                rest = held.pop(job.key)
                canary_record = records[0]
                if canary_record.status == "ok":
                    for other in send(specs_for(job, rest)):
                        queue.add(other)
                else:
                    stopped.add(job.key)
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
            if not stands(record.status)
        ]
        if lost or infra:
            problems = "\n".join(f"  - {line}" for line in [*lost, *infra])
            raise ClusterError(
                f"{len(lost) + len(infra)} case(s) failed for infrastructure reasons (never "
                f"charged to a team); rerun the same command to retry them:\n{problems}"
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
        for key, ledger in ledgers.items():
            ledger.folder.write(state="stopped_by_canary" if key in stopped else "finished")
        return ledgers


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
