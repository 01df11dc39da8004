"""What the organizer sends a worker and what a worker returns: the cluster's task types.

Also the round's task folders' names and the batching of an invoke submission's cases.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console

from harness.containers.images import is_invoke
from harness.containers.limits import Limits
from harness.split.manifest import Case

__all__ = [
    "CPU",
    "GPUS",
    "IMAGES_DIR",
    "SCORES_DIR",
    "SLOTS",
    "TASKS_DIR",
    "TASK_RETRIES",
    "BatchResult",
    "BatchTask",
    "CaseTask",
    "DeterminismResult",
    "DeterminismTask",
    "SubmissionJob",
    "TaskResult",
    "batch_cases",
    "gpus_needed",
    "remove_task_folder",
]

SLOTS = "slots"
"""The worker resource a container task needs one of."""
GPUS = "gpus"
"""The worker resource counting the GPUs a worker offers."""
CPU = "cpu"
"""The worker resource a scoring task needs one of: scoring never takes a container slot."""
TASKS_DIR = "tasks"
SCORES_DIR = "scores"
IMAGES_DIR = "images"
# Dask's own retries of a task that raised (a worker's engine hiccup); a worker that died is
# handled by the scheduler itself (distributed.scheduler.allowed-failures).
TASK_RETRIES = 2
_T = TypeVar("_T")


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

    ``determinism`` is :func:`harness.containers.determinism.compare_runs`'s record; ``servers`` the
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


def gpus_needed(limits: Limits) -> int:
    """GPUs a container task asks the scheduler for: the count, one per listed id, one for all."""
    request = limits.gpu_request()
    if request is None:
        return 0
    count, ids = request
    if ids is not None:
        return len(ids)
    return 1 if count < 0 else count


def remove_task_folder(folder: Path, console: Console) -> None:
    """Remove a finished task's scratch folder; a failure is said, never raised."""
    try:
        shutil.rmtree(folder)
    except OSError as exc:
        # Scratch only: the case is recorded; say what is left instead of stopping the round.
        console.print(f"[yellow]could not remove the task folder {folder}: {exc}[/yellow]")
