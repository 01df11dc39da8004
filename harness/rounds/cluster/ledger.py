"""The round's record of one submission: ``run.json`` and ``cases.jsonl`` in its run folder."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.files import atomic_path, write_atomic
from common.status import STATUS
from harness.containers.images import is_invoke
from harness.containers.records import RECORDS_NAME, RUN_NAME
from harness.errors import SubmissionError
from harness.rounds.cluster.tasks import BatchResult, DeterminismResult, TaskResult
from harness.split.manifest import Case, Split

__all__ = ["Ledger", "charged_or_ok"]


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
            if c.case_id not in self.records or not charged_or_ok(self.records[c.case_id].status)
        ]

    def determinism_case(self) -> Case | None:
        """The case to run again for the determinism check, or None when none is needed.

        The first ``ok`` case in split order, unless a result stands: one that compared two
        masks, or whose second run failed in a way charged to the team. A second run that
        failed for infrastructure reasons does not stand.
        """
        det = self.determinism
        if det is not None and det.get("case_id") is not None:
            if charged_or_ok(str(det.get("status", "ok"))):
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


def charged_or_ok(status: str) -> bool:
    """Whether a recorded status stands: ``ok``, or a failure charged to the team."""
    return status == "ok" or STATUS[status].charged
