"""The determinism check of a round: one recorded ``ok`` case per submission run again, apart."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from distributed import as_completed
from rich.console import Console

from common.terminal import as_text
from harness.containers.determinism import judge_rerun, plan_rerun
from harness.rounds.cluster.connect import finished, submit_task
from harness.rounds.cluster.ledger import Ledger
from harness.rounds.cluster.tasks import (
    DeterminismResult,
    DeterminismTask,
    SubmissionJob,
    remove_task_folder,
)
from harness.rounds.cluster.worker import ran_at, run_on_worker
from harness.split.manifest import Case, Split

__all__ = ["check_determinism", "run_determinism_task"]


def run_determinism_task(task: DeterminismTask) -> DeterminismResult:
    """Run one recorded case of a submission again (on a worker) and compare the two masks.

    The case runs as :func:`run_case_task` runs it (a fresh attempt folder, one job slot, an
    invoke image's own server); its mask, if the run is ``ok``, is compared with the ledger's
    ``task.reference`` by :func:`harness.containers.determinism.judge_rerun`.

    Raises
    ------
    EngineError
        The engine is unreachable or lacks the image (infrastructure).
    """
    case = task.run.case
    summary, attempt, removed = run_on_worker(task.run, (case,), [task.run.task_root])
    determinism = judge_rerun(summary, case.case_id, task.reference)
    servers = tuple(summary.servers)
    return DeterminismResult(
        task.run.key, case.case_id, determinism, servers, **ran_at(attempt, removed)
    )


def check_determinism(
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
    ran: Collection[str],
    stopped: Collection[str],
) -> None:
    """Make each submission's determinism check as the runner makes it; record each outcome.

    :func:`harness.containers.determinism.plan_rerun` decides, per submission: nothing, a
    second run of its first ``ok`` case (one task each, recorded as it arrives), or
    ``NOTHING_OK`` recorded at once when no case is ``ok``. ``ran`` names the submissions
    that ran cases in this call, ``stopped`` those the canary stopped. A task lost with its
    worker is not recorded (the next rerun sends it again): a flag is not worth stopping the
    round for.
    """
    owner: dict[str, tuple[SubmissionJob, Case]] = {}
    futures = []
    for job in jobs:
        ledger = ledgers[job.key]
        plan = plan_rerun(
            split.cases,
            ledger.records,
            ledger.determinism,
            ran=job.key in ran,
            stopped=job.key in stopped,
        )
        if plan.outcome is not None:
            _print_outcome(job.key, ledger.keep_determinism(plan.outcome), console)
        if plan.case is None:
            continue
        case = plan.case
        task = DeterminismTask(
            run=job.case_task(case, split, out_dir=out_dir, base=run_config, gpus=gpus),
            reference=ledger.run_dir / ledger.records[case.case_id].prediction,
        )
        name = f"determinism-{job.key}-{case.case_id}"
        future = submit_task(client, run_determinism_task, task, name=name, resources=resources)
        owner[future.key] = (job, case)
        futures.append(future)
        console.print(f"{job.key}: determinism: running case {case.case_id} again")
    queue = as_completed(futures)
    for future, result, gone in finished(client, queue, "determinism"):
        job, case = owner.pop(future.key)
        if gone is not None:
            console.print(
                f"[yellow]{job.key}: determinism: the second run of {case.case_id} was lost "
                f"with its worker ({as_text(gone)}); a rerun of the round sends it "
                "again[/yellow]"
            )
            continue
        det = ledgers[job.key].record_determinism(result)
        remove_task_folder(result.attempt_dir.parent, console)
        _print_outcome(job.key, det, console)


def _print_outcome(key: str, det: Mapping[str, Any], console: Console) -> None:
    if det["identical"] is False:
        console.print(
            f"[yellow]{key}: not deterministic[/yellow]: case {det['case_id']} run "
            f"twice: {as_text(det['reason'])} (flagged, not failed)",
            highlight=False,
        )
    elif det["identical"]:
        console.print(f"{key}: deterministic: case {det['case_id']} gave the same mask twice")
    else:
        console.print(f"{key}: determinism not judged: {as_text(det['reason'])}")
