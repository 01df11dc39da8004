"""The round's record of one submission: its run folder, fed with what cluster tasks computed.

The folder is a :class:`~harness.containers.run_folder.RunFolder` like the runner's: the same
lock, the same check that a resumed round runs the same image, split, contract, model and gate,
the same ``run.json``. The ledger adds what a round needs: taking a task's files from its attempt
folder, numbering a batch's invoke servers on from those recorded, keeping a determinism task's
outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.containers.records import CaseRecord
from harness.containers.run_folder import RunFolder, RunIdentity
from harness.rounds.cluster.tasks import BatchResult, DeterminismResult, TaskResult
from harness.split.manifest import Case

__all__ = ["Ledger"]


@dataclass
class Ledger:
    """The round's record of one submission: ``run.json`` and ``cases.jsonl`` in its run folder.

    Only the organizer's process writes it, holding the folder's lock until :meth:`close`;
    every write replaces the whole file atomically. A folder a local runner wrote resumes too.
    ``run.json`` lists the invoke servers started so far under ``servers``, numbered across the
    round's batches, and the determinism check's outcome under ``determinism``.
    """

    folder: RunFolder

    @classmethod
    def open(
        cls,
        run_dir: Path,
        identity: RunIdentity,
        *,
        config: Mapping[str, Any],
    ) -> Ledger:
        """Open (or start) the ledger, refusing a folder of another run (see ``RunFolder``).

        Raises
        ------
        SubmissionError
            The folder holds results of another image or model.
        Selma3dError
            The folder holds results on another split or with another contract or gate.
        """
        folder = RunFolder.open(
            run_dir,
            identity,
            config=config,
            advice=(
                "Give the changed submission an entry of its own in the round file (or move "
                "this folder away to run it again from the start)."
            ),
        )
        folder.write(state="running")
        return cls(folder)

    def close(self, *, state: str | None = None) -> None:
        """Write ``run.json`` with ``state`` (if given) and release the folder's lock."""
        if state is not None:
            self.folder.write(state=state)
        self.folder.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def run_dir(self) -> Path:
        """The run folder (``runs/<team>/<submission>``)."""
        return self.folder.path

    @property
    def records(self) -> dict[str, CaseRecord]:
        """The newest record of each case."""
        return self.folder.records

    @property
    def servers(self) -> list[dict[str, Any]]:
        """The invoke servers recorded so far."""
        return self.folder.servers

    @property
    def determinism(self) -> dict[str, Any] | None:
        """The determinism check's outcome, if any."""
        return self.folder.determinism

    def pending(self) -> list[Case]:
        """Cases with no record, or whose record is an infrastructure failure, in split order."""
        return self.folder.pending()

    def keep_determinism(self, outcome: Mapping[str, Any]) -> dict[str, Any]:
        """Keep a determinism outcome made without a second run (``NOTHING_OK``) in ``run.json``.

        Which outcome, and when, is :func:`harness.containers.determinism.plan_rerun`'s rule.
        """
        self.folder.determinism = dict(outcome)
        self.folder.write(state="running")
        return self.folder.determinism

    def record_determinism(self, result: DeterminismResult) -> dict[str, Any]:
        """Keep a determinism task's outcome (and its servers, slot -1) in ``run.json``."""
        self.folder.add_servers(result.servers, slot=-1, worker=result.worker)
        self.folder.determinism = dict(result.determinism)
        self.folder.orphans_removed += result.leftovers_removed
        self.folder.write(state="running")
        return self.folder.determinism

    def merge(self, result: TaskResult) -> CaseRecord:
        """Take a finished task's files and record into the round's folder; return the record."""
        record = CaseRecord.from_dict(result.record)
        self.folder.merge(record, result.attempt_dir)
        self.folder.orphans_removed += result.leftovers_removed
        self.folder.write(state="running")
        return record

    def merge_batch(self, batch: BatchResult) -> list[CaseRecord]:
        """Take a finished batch: its servers, then each case as :meth:`merge` does.

        The batch's servers are numbered on from those recorded, and each record's ``server``
        with them. Returns the records in the batch's order.
        """
        first, _ = self.folder.add_servers(batch.servers, worker=batch.worker)
        self.folder.orphans_removed += batch.leftovers_removed
        records = []
        for result in batch.results:
            number = result.record.get("server")
            record = {**result.record, "server": None if number is None else first + number}
            records.append(self.merge(replace(result, record=record)))
        return records
