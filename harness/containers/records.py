"""What a run keeps: one record per case in ``cases.jsonl``, and the run itself in ``run.json``.

``cases.jsonl``
    One JSON record per finished case, appended (one ``write`` + ``fsync``) as each finishes:
    ``case_id, status, exit_code, wall_time_s, peak_memory_bytes, image_digest, reason, run_id,
    contract, attempt, finished_at, prediction, log``, and for an invoke server ``server`` (its
    number in ``run.json``'s ``servers``) and ``startup_s`` (its start-up time, apart from the
    case's wall time). The newest record of a case wins when read;
    a last line cut by a crash is ignored (that case simply runs again).
``run.json``
    The run: id, image, split, contract, model, configuration, state, counts by status, servers,
    determinism; replaced atomically. Its keys are listed in :mod:`harness.containers.run_folder`,
    the one writer of a run folder.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.errors import Selma3dError
from common.files import write_atomic
from common.status import STATUSES
from harness.containers.images import ImageInfo

__all__ = [
    "LOCK_NAME",
    "LOGS_DIR",
    "PREDICTIONS_DIR",
    "RECORDS_NAME",
    "RUN_NAME",
    "CaseRecord",
    "RunSummary",
    "append_record",
    "log_name",
    "now",
    "prediction_name",
    "read_case_records",
    "read_records",
    "read_run",
    "write_run",
]

RECORDS_NAME = "cases.jsonl"
"""The case records of a run folder (:mod:`harness.containers.run_folder`)."""
RUN_NAME = "run.json"
"""The run itself."""
LOCK_NAME = ".lock"
"""Held by the process writing into the folder."""
PREDICTIONS_DIR = "predictions"
LOGS_DIR = "logs"


def prediction_name(case_id: str) -> str:
    """Where a case's mask is kept, relative to its run folder (as records name it)."""
    return f"{PREDICTIONS_DIR}/{case_id}.nii.gz"


def log_name(case_id: str) -> str:
    """Where a case's log is kept, relative to its run folder (as records name it)."""
    return f"{LOGS_DIR}/{case_id}.log"


@dataclass(frozen=True)
class CaseRecord:
    """One line of ``cases.jsonl``: the outcome of one case."""

    case_id: str
    status: str
    exit_code: int | None
    wall_time_s: float
    peak_memory_bytes: int | None
    image_digest: str
    reason: str
    run_id: str = ""
    contract: str = ""
    attempt: int = 1
    finished_at: str = ""
    prediction: str = ""
    log: str = ""
    server: int | None = None
    startup_s: float | None = None

    def to_json(self) -> str:
        """One line of JSON with sorted keys."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseRecord:
        """Build from a parsed line, ignoring keys this version does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class RunSummary:
    """What :func:`harness.containers.runner.run_submission` returns.

    Attributes
    ----------
    out_dir : Path
    run_id : str
    image : ImageInfo
    records : dict of str to CaseRecord
        Newest record per case id, for every case of the split that has one.
    n_cases : int
        Cases in the split.
    ran : int
        Cases run by this call (the others were already finished).
    stopped_early : bool
        The canary failed and the other cases were not run.
    wall_time_s : float
    servers : list of dict
        The invoke servers this call started (``run.json``'s ``servers``): number, slot,
        ``startup_s``, cases served, how it ended. Empty for an exec image.
    """

    out_dir: Path
    run_id: str
    image: ImageInfo
    records: dict[str, CaseRecord]
    n_cases: int
    ran: int
    stopped_early: bool
    wall_time_s: float
    servers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """Number of cases per status (every status listed, zeros included)."""
        c = Counter(r.status for r in self.records.values())
        return {s: c.get(s, 0) for s in STATUSES}

    @property
    def passed(self) -> bool:
        """True when every case of the split ended ``ok``."""
        return (
            not self.stopped_early
            and len(self.records) == self.n_cases
            and all(r.status == "ok" for r in self.records.values())
        )


def read_records(out_dir: str | Path) -> dict[str, CaseRecord]:
    """Read ``cases.jsonl``; the newest record of each case wins.

    A last line without its newline (a write cut by a crash) is ignored; any other unparsable
    line raises :class:`~common.errors.Selma3dError` naming the line.
    """
    path = Path(out_dir) / RECORDS_NAME
    if not path.is_file():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise Selma3dError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); expected one JSON "
            "case record per line"
        ) from exc
    lines = text.split("\n")
    complete, partial = lines[:-1], lines[-1]
    out: dict[str, CaseRecord] = {}
    for n, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise TypeError(f"a JSON {type(data).__name__}, not an object")
            rec = CaseRecord.from_dict(data)
        except (json.JSONDecodeError, TypeError) as exc:
            raise Selma3dError(
                f"{path}: line {n} is not a case record ({exc}): {line[:200]!r}"
            ) from exc
        if rec.status not in STATUSES:
            raise Selma3dError(
                f"{path}: line {n}: status must be one of {', '.join(STATUSES)}; "
                f"got {rec.status!r}."
            )
        out[rec.case_id] = rec
    del partial  # cut by a crash before its newline: that case simply reruns
    return out


def read_case_records(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read a ``cases.jsonl`` file into plain dicts, the newest record of each case winning.

    Parameters
    ----------
    path : str or Path
        The ``cases.jsonl`` file (or the run folder holding it).
    """
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    return {k: asdict(v) for k, v in read_records(folder).items()}


def append_record(path: Path, record: CaseRecord, lock: threading.Lock) -> None:
    """Append one record to ``cases.jsonl`` as one write, flushed to disk before returning.

    An append, not a replace: earlier records are never rewritten, and a crash leaves at most a
    partial last line, which :func:`read_records` ignores.
    """
    line = (record.to_json() + "\n").encode()
    with lock:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            # One write of one line: a crash leaves at most a partial last line, never a mix.
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)


def read_run(out_dir: Path) -> dict[str, Any]:
    """The ``run.json`` of an earlier run into ``out_dir``, or ``{}`` when there is none."""
    path = out_dir / RUN_NAME
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise Selma3dError(f"{path}: expected a JSON object, got {type(data).__name__}.")
    return data


def write_run(out_dir: Path, meta: dict[str, Any]) -> None:
    """Replace ``run.json`` atomically (indented, sorted keys)."""
    write_atomic(out_dir / RUN_NAME, json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")


def now() -> str:
    """The current UTC time, to the second, in ISO 8601 (as records carry it)."""
    return datetime.now(UTC).isoformat(timespec="seconds")
