"""The one owner of a run folder: its lock, whether a run may resume there, records, run.json.

A submission's results live in a run folder, written by the runner
(:func:`harness.containers.runner.run_submission`, for ``selma3d predict`` and ``check``) or by a
round's ledger (:class:`harness.rounds.cluster.Ledger`, which merges what cluster tasks computed
elsewhere). Both open the folder here, so one rule decides whether a run may resume in it, one
rule decides which cases are still to run, and ``run.json`` has one shape.

Layout (the names are :mod:`harness.containers.records`'s)
----------------------------------------------------------
``run.json``
    The run (below); replaced atomically.
``cases.jsonl``
    One record per finished case (:class:`~harness.containers.records.CaseRecord`).
``predictions/<case_id>.nii.gz``, ``logs/<case_id>.log``
    An ``ok`` case's mask; each case's log with the harness's verdict on top.
``.lock``
    Held (``flock``) by the process writing into the folder: a second one is refused.

``run.json``
------------
``run_id``; ``image`` (``ref``, ``digest``, ``user``, ``api_method``, ``volumes``, ``run_as``);
``split`` (``root``, ``content_hash``, ``n_cases``); ``contract``; ``api_method`` (``exec`` or
``invoke``); ``model`` (``source``, ``sha256``, ``size_bytes``, or null); ``config`` (the run's
settings, :meth:`~harness.containers.run_config.RunConfig.as_record`: limits, gate rule,
switches);
``state`` (``running``, ``finished``, ``stopped_by_canary``, or ``interrupted``: stopped by
Ctrl-C or an error, its counts those of ``cases.jsonl``); ``started_at``, ``updated_at``,
``finished_at`` (null until finished); ``counts`` (cases per status, every status listed);
``passed`` (every case of the split ``ok``); ``servers`` (the invoke servers started, numbered
across calls); ``determinism`` (the second run of one case, or null); ``orphans_removed``
(containers of earlier, interrupted attempts removed by this call).

Resuming
--------
A folder resumes only a run of the same image (its id), split (content hash), contract, model
(sha256) and gate (binarization rule and geometry mode): anything else would mix two runs'
results under one record, so opening refuses it, naming every difference. A field an earlier
``run.json`` does not record (written before it was) resumes only its default: no model, the
official gate.
"""

from __future__ import annotations

import fcntl
import shutil
import threading
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from common.errors import Selma3dError
from common.files import atomic_path, write_atomic
from common.outputs import OutputFolder, claim_folder, only_names
from common.status import STATUS, STATUSES
from harness.containers.images import ImageInfo
from harness.containers.records import (
    LOCK_NAME,
    LOGS_DIR,
    PREDICTIONS_DIR,
    RECORDS_NAME,
    RUN_NAME,
    CaseRecord,
    append_record,
    now,
    prediction_name,
    read_records,
    read_run,
    write_run,
)
from harness.containers.run_config import RunConfig
from harness.errors import SubmissionError
from harness.predictions.validate import OFFICIAL_GATE, BinarizeRule, GateOptions
from harness.split.manifest import Case, Split

__all__ = [
    "RUN_FOLDER_NAMES",
    "RunFolder",
    "RunIdentity",
    "is_run_folder",
    "run_identity",
    "stands",
]

RUN_FOLDER_NAMES = (
    RUN_NAME, RECORDS_NAME, PREDICTIONS_DIR, LOGS_DIR, LOCK_NAME, ".work", "check.json", "check.xml"
)
"""What a run folder holds (``check.json`` and ``check.xml``: ``selma3d check``'s reports)."""

is_run_folder = only_names(RUN_FOLDER_NAMES, needs=(RUN_NAME, RECORDS_NAME, LOCK_NAME))
"""Whether a folder without a marker is a run folder of an earlier release (it still resumes)."""


def stands(status: str) -> bool:
    """Whether a recorded status stands: ``ok``, or a failure charged to the team.

    A failure not charged to the team (the engine's) is always run again.
    """
    return status == "ok" or STATUS[status].charged


@dataclass(frozen=True)
class RunIdentity:
    """What a run's results depend on besides its cases: a folder holds the results of one.

    Attributes
    ----------
    image : ImageInfo
    split : Split
    contract : str
    model : dict or None
        :meth:`harness.containers.model.ModelInfo.as_record` (``source``, ``sha256``,
        ``size_bytes``), or None without a model.
    gate : GateOptions
        The binarization rule and geometry mode the masks were judged and saved with.
    reuse : {"batch", "case"}
        How long an invoke image's servers lived; records of a server reused across cases must
        not pass for a server per case (exec images ignore it).
    """

    image: ImageInfo
    split: Split
    contract: str
    model: Mapping[str, Any] | None = None
    gate: GateOptions = OFFICIAL_GATE
    reuse: str = "batch"

    @property
    def model_sha256(self) -> str | None:
        """The model's ``sha256:`` digest, or None."""
        return None if self.model is None else str(self.model["sha256"])

    def differences(self, previous: Mapping[str, Any]) -> tuple[list[str], bool]:
        """What differs from the run an earlier ``run.json`` records.

        Returns
        -------
        list of str
            One phrase per difference (empty: the run may resume).
        bool
            Whether the submission itself differs (its image or model), rather than the
            data or the settings.
        """
        if not previous:
            return [], False
        problems, submission = [], False
        before = (previous.get("image") or {}).get("digest")
        if before and before != self.image.digest:
            problems.append(
                f"image {before}, but {self.image.ref} is now {self.image.digest}: refusing to mix "
                "two images in one run"
            )
            submission = True
        model_before = (previous.get("model") or {}).get("sha256")
        if model_before != self.model_sha256:
            problems.append(
                f"model {model_before or 'none'}, but this run's model is "
                f"{self.model_sha256 or 'none'}: refusing to mix two models in one run"
            )
            submission = True
        split_before = (previous.get("split") or {}).get("content_hash")
        if split_before and split_before != self.split.content_hash:
            problems.append(
                f"split {split_before}, but {self.split.root} is now {self.split.content_hash}"
            )
        if previous.get("contract") and previous["contract"] != self.contract:
            problems.append(f"a {previous['contract']!r} run; this run uses {self.contract!r}")
        gate_before = _recorded_gate(previous)
        if gate_before != self.gate:
            problems.append(
                f"masks judged with {_describe(gate_before)}; this run uses {_describe(self.gate)}"
            )
        reuse_before = (previous.get("config") or {}).get("reuse") or "batch"
        if self.image.invoke and reuse_before != self.reuse:
            problems.append(
                f"servers reused per {reuse_before}; this run reuses them per {self.reuse}"
            )
        return problems, submission


def run_identity(
    image: ImageInfo, split: Split, config: RunConfig, model: Mapping[str, Any] | None
) -> RunIdentity:
    """What a run of ``image`` on ``split`` with ``config`` depends on: the one maker.

    The runner, ``check`` and a round's submissions each make theirs here, so a run folder
    judges every one of them by the same fields.

    Parameters
    ----------
    image : ImageInfo
        The resolved image (its id is what runs).
    split : Split
    config : RunConfig
        The run's settings: its contract, gate and reuse mode are part of the identity.
    model : mapping or None
        :meth:`harness.containers.model.ModelInfo.as_record` of the run's model, or None.
    """
    return RunIdentity(
        image, split, config.contract, model=model, gate=config.gate, reuse=config.reuse
    )


def _recorded_gate(previous: Mapping[str, Any]) -> GateOptions:
    """The gate an earlier ``run.json`` records (its ``config``), the official one if none."""
    config = previous.get("config") or {}
    return GateOptions(
        binarize=BinarizeRule(threshold=config.get("threshold")),
        geometry=config.get("geometry") or OFFICIAL_GATE.geometry,
    )


def _describe(gate: GateOptions) -> str:
    return f"foreground {gate.binarize.describe()}, geometry {gate.geometry}"


@dataclass
class RunFolder:
    """An open run folder: what it recorded, and the one writer of its files while open.

    Open it with :meth:`open`; every record and ``run.json`` written go through it.
    """

    path: Path
    identity: RunIdentity
    config: dict[str, Any]
    previous: dict[str, Any]
    run_id: str
    records: dict[str, CaseRecord]
    servers: list[dict[str, Any]] = field(default_factory=list)
    determinism: dict[str, Any] | None = None
    orphans_removed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    handle: IO[str] | None = field(default=None, repr=False)
    claim: OutputFolder | None = field(default=None, repr=False)

    @classmethod
    def open(
        cls,
        path: str | Path,
        identity: RunIdentity,
        *,
        config: Mapping[str, Any],
        advice: str = "Use a new --out folder.",
    ) -> RunFolder:
        """Lock the folder (made if missing) and check that the run may resume in it.

        The lock is held until :meth:`close` (or the end of a ``with`` block on the folder).

        Parameters
        ----------
        path : str or Path
        identity : RunIdentity
            The run about to write into it.
        config : mapping, keyword-only
            ``run.json``'s ``config`` (:meth:`RunConfig.as_record`).
        advice : str, keyword-only
            What a refused caller should do, appended to the message.

        Raises
        ------
        SubmissionError
            The folder holds results of another image or model.
        ConfigError
            The folder holds files selma3d did not write (:func:`common.outputs.claim_folder`).
        Selma3dError
            It holds results on another split, with another contract or gate, or another
            process holds its lock.
        """
        claim = claim_folder(path, kind="run", legacy=is_run_folder)
        out = claim.path
        try:
            handle = _lock(out)
        except BaseException:
            claim.close()
            raise
        try:
            previous = read_run(out)
            problems, submission = identity.differences(previous)
            if problems:
                kind = SubmissionError if submission else Selma3dError
                found = "; ".join(problems)
                raise kind(f"{out}: this folder holds results of {found}. {advice}")
            return cls(
                path=out,
                identity=identity,
                config=dict(config),
                previous=previous,
                run_id=str(previous.get("run_id") or uuid.uuid4().hex[:12]),
                records=read_records(out),
                servers=list(previous.get("servers") or []),
                determinism=previous.get("determinism"),
                handle=handle,
                claim=claim,
            )
        except BaseException:
            handle.close()
            claim.close()
            raise

    def close(self) -> None:
        """Release the folder's lock."""
        if self.handle is not None:
            self.handle.close()
            self.handle = None
        if self.claim is not None:
            self.claim.close()
            self.claim = None

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pending(self, *, retry_failed: bool = False) -> list[Case]:
        """Cases of the split still to run, in split order.

        Those with no record, or whose record does not stand (:func:`stands`); with
        ``retry_failed`` every case whose record is not ``ok``.
        """
        return [
            c
            for c in self.identity.split.cases
            if c.case_id not in self.records
            or not stands(status := self.records[c.case_id].status)
            or (retry_failed and status != "ok")
        ]

    def attempt_of(self, cases: Sequence[Case]) -> dict[str, int]:
        """The attempt number each of ``cases`` runs as: one more than its record's."""
        return {
            c.case_id: self.records[c.case_id].attempt + 1 if c.case_id in self.records else 1
            for c in cases
        }

    def append(self, record: CaseRecord) -> None:
        """Append a record written in place (its mask and log are already in the folder)."""
        append_record(self.path / RECORDS_NAME, record, self.lock)
        with self.lock:
            self.records[record.case_id] = record

    def merge(self, record: CaseRecord, source: Path) -> None:
        """Take a record whose files are in ``source`` (a task's attempt folder).

        The mask and log are copied in before the record that names them is written, so a crash
        in between leaves the case unrecorded (it reruns), never half recorded; an earlier mask
        of a case that is not ``ok`` now is removed. ``cases.jsonl`` is rewritten atomically,
        one record per case.
        """
        for rel in (record.prediction, record.log):
            if rel:
                with atomic_path(self.path / rel) as tmp:
                    shutil.copyfile(source / rel, tmp)
        stale = self.path / prediction_name(record.case_id)
        if not record.prediction and stale.exists():
            stale.unlink()  # an earlier attempt's mask must not be scored
        with self.lock:
            self.records[record.case_id] = record
            lines = "".join(self.records[c].to_json() + "\n" for c in sorted(self.records))
            write_atomic(self.path / RECORDS_NAME, lines)

    def add_servers(
        self, servers: Sequence[Mapping[str, Any]], **extra: Any
    ) -> tuple[int, list[dict[str, Any]]]:
        """Record invoke servers numbered from 1 by their call, numbered on from those recorded.

        Returns the offset added to their numbers and the entries as recorded (with ``extra``).
        """
        with self.lock:
            first = len(self.servers)
            added = [{**s, "server": first + int(s["server"]), **extra} for s in servers]
            self.servers.extend(added)
        return first, added

    def counts(self) -> dict[str, int]:
        """Cases of the split per status (every status listed, zeros included)."""
        known = set(self.identity.split.case_ids)
        c = Counter(r.status for k, r in self.records.items() if k in known)
        return {s: c.get(s, 0) for s in STATUSES}

    def write(self, *, state: str) -> None:
        """Replace ``run.json`` with the run as it stands (the module docstring lists its keys)."""
        ident = self.identity
        split = ident.split
        finished = state not in ("running", "interrupted")
        with self.lock:
            counts = self.counts()
            meta = {
                "run_id": self.run_id,
                "image": asdict(ident.image),
                "split": {
                    "root": str(split.root),
                    "content_hash": split.content_hash,
                    "n_cases": len(split.cases),
                },
                "contract": ident.contract,
                "api_method": "invoke" if ident.image.invoke else "exec",
                "model": None if ident.model is None else dict(ident.model),
                "config": self.config,
                "state": state,
                "started_at": self.previous.get("started_at") or now(),
                "updated_at": now(),
                "finished_at": now() if finished else None,
                "counts": counts,
                "passed": state == "finished" and counts["ok"] == len(split.cases),
                "servers": self.servers,
                "determinism": self.determinism,
                "orphans_removed": self.orphans_removed,
            }
            self.previous.setdefault("started_at", meta["started_at"])
            write_run(self.path, meta)


def _lock(out_dir: Path) -> IO[str]:
    """Take the folder's lock (held while the returned file stays open)."""
    fh = (out_dir / LOCK_NAME).open("w")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        fh.close()
        raise Selma3dError(f"{out_dir}: another selma3d run is writing into this folder.") from exc
    return fh
