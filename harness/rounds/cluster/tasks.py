"""What the organizer sends a worker and what a worker returns: the cluster's task types.

Also the round's task folders' names and the batching of an invoke submission's cases.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console

from common.terminal import as_text
from harness.containers.cleanup import remove_tree
from harness.containers.limits import Limits
from harness.containers.run_config import RunConfig
from harness.containers.run_folder import RunIdentity
from harness.split.manifest import Case, Split

if TYPE_CHECKING:
    from harness.rounds.plan import Submission

__all__ = [
    "CPU",
    "GPUS",
    "IMAGES_DIR",
    "RELAY_KEY",
    "SCORES_DIR",
    "SLOTS",
    "TASKS_DIR",
    "TASK_RETRIES",
    "BatchResult",
    "BatchTask",
    "CaseTask",
    "ContainerTask",
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
RELAY_KEY = ":relay"
"""The key of the invoke relay's tarball among a distributed round's image tarballs."""
# Dask's own retries of a task that raised (a worker's engine hiccup); a worker that died is
# handled by the scheduler itself (distributed.scheduler.allowed-failures).
TASK_RETRIES = 2
_T = TypeVar("_T")


@dataclass(frozen=True)
class SubmissionJob:
    """One submission of one team to run on every case: what the container stage needs.

    Attributes
    ----------
    submission : Submission
        The round plan's submission (:class:`harness.rounds.plan.Submission`): its key, image,
        model, run folder and run identity.
    tarball : Path or None
        The ``docker save`` tarball a worker lacking the image loads (distributed rounds).
    relay_tarball : Path or None
        The ``docker save`` tarball of the invoke relay's pinned image (distributed rounds).
    """

    submission: Submission
    tarball: Path | None = None
    relay_tarball: Path | None = None

    @property
    def key(self) -> str:
        """``team/submission``."""
        return self.submission.key

    @property
    def image_ref(self) -> str:
        """The reference its image was resolved by."""
        return self.submission.image.ref

    @property
    def run_dir(self) -> Path:
        """The round's folder of this submission (``runs/<team>/<submission>``): the ledger."""
        return self.submission.run_dir

    @property
    def identity(self) -> RunIdentity:
        """What its run folder's results depend on: a different one is refused on resuming."""
        return self.submission.identity

    def config(self, base: RunConfig) -> RunConfig:
        """The round's run configuration with this submission's model."""
        model = self.submission.model
        return replace(base, model=None if model is None else str(model["source"]))

    def tasks_dir(self, out_dir: Path) -> Path:
        """Its task folders' parent: ``<round>/tasks/<team>/<submission>``."""
        return out_dir / TASKS_DIR / self.submission.team / self.submission.submission

    def case_task(
        self, case: Case, split: Split, *, out_dir: Path, base: RunConfig, gpus: int
    ) -> CaseTask:
        """The container task of one of its cases (``case`` without its label's use)."""
        task_root = self.tasks_dir(out_dir) / case.case_id
        return CaseTask(case=case, task_root=task_root, **self._sent(split, base, gpus))

    def batch_task(
        self, cases: Sequence[Case], split: Split, *, out_dir: Path, base: RunConfig, gpus: int
    ) -> BatchTask:
        """The container task of a batch of its cases (an invoke image's)."""
        tasks_dir = self.tasks_dir(out_dir)
        return BatchTask(cases=tuple(cases), tasks_dir=tasks_dir, **self._sent(split, base, gpus))

    def _sent(self, split: Split, base: RunConfig, gpus: int) -> dict[str, Any]:
        """The :class:`ContainerTask` fields of its tasks."""
        return {
            "key": self.key,
            "split_root": split.root,
            "split_hash": split.content_hash,
            "image_ref": self.submission.image.ref,
            "image_digest": self.submission.image.digest,
            "tarball": self.tarball,
            "relay_tarball": self.relay_tarball,
            "run_config": self.config(base),
            "gpus_needed": gpus,
        }

    @property
    def invoke(self) -> bool:
        """Whether the image is an invoke server: its cases then go to the cluster in batches."""
        return self.submission.image.invoke


@dataclass(frozen=True, kw_only=True)
class ContainerTask:
    """What every container task carries: its submission's image and settings, and the split.

    The split is named by its folder and content hash; cases are sent without their labels.
    """

    key: str
    split_root: Path
    split_hash: str
    image_ref: str
    image_digest: str
    tarball: Path | None
    run_config: Any  # harness.containers.run_config.RunConfig
    gpus_needed: int = 0
    relay_tarball: Path | None = None


@dataclass(frozen=True, kw_only=True)
class CaseTask(ContainerTask):
    """One (team, case) container run, as sent to a worker.

    ``case`` carries no label; ``task_root`` is ``<round>/tasks/<team>/<submission>/<case>``.
    """

    case: Case
    task_root: Path


@dataclass(frozen=True, kw_only=True)
class BatchTask(ContainerTask):
    """Cases of one invoke submission run by one runner call, as sent to a worker.

    One server is started for the batch and reused for its cases, so the model loads once.
    ``cases`` carry no label; ``tasks_dir`` is ``<round>/tasks/<team>/<submission>``, and the
    batch's attempts run under its first case's folder there.
    """

    cases: tuple[Case, ...]
    tasks_dir: Path

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


@dataclass(frozen=True, kw_only=True)
class Returned:
    """Where a task ran: its attempt folder, worker and host, and what it cleaned first.

    ``leftovers_removed`` counts the containers of earlier attempts it removed from its engine.
    """

    attempt_dir: Path
    worker: str
    host: str
    leftovers_removed: int = 0


@dataclass(frozen=True)
class DeterminismResult(Returned):
    """What a determinism task returns: ``run.json``'s ``determinism`` and the run's servers.

    ``determinism`` is :func:`harness.containers.determinism.compare_runs`'s record; ``servers`` the
    runner's entries of an invoke image's second run (numbered from 1).
    """

    key: str
    case_id: str
    determinism: dict[str, Any]
    servers: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class TaskResult(Returned):
    """What a container task returns: the case's record (its files are in ``attempt_dir``)."""

    key: str
    case_id: str
    record: dict[str, Any]


@dataclass(frozen=True)
class BatchResult(Returned):
    """What a batch task returns: every case's result, in the batch's order, and its servers.

    ``servers`` are the runner's entries (``run.json``'s ``servers``), numbered from 1 within the
    batch; the records' ``server`` fields refer to those numbers.
    """

    key: str
    results: tuple[TaskResult, ...]
    servers: tuple[dict[str, Any], ...]


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
        remove_tree(folder)  # a container's output of any depth, closed folders included
    except OSError as exc:
        # Scratch only: the case is recorded; say what is left instead of stopping the round.
        console.print(
            f"[yellow]could not remove the task folder {as_text(folder)}: {as_text(exc)}[/yellow]"
        )
