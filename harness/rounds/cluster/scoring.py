"""The scoring stage: one task per case, each case's rows kept under ``scores/`` while valid.

A case is sent as soon as it is *settled*: every submission's container run of it is recorded
(or will not run this time), so scoring overlaps the container stage. Its rows are written the
moment they arrive, by a thread of the organizer's process, so a round stopped at any point
keeps every case scored until then.
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

import harness.predictions.validate
import harness.scoring.evaluate
import harness.split.volume
import metrics
from common.files import atomic_path
from harness.containers.records import read_records
from harness.predictions.validate import GateOptions
from harness.rounds.cluster.connect import submit_task, task_result
from harness.rounds.cluster.tasks import CPU, SCORES_DIR
from harness.scoring.evaluate import evaluate_predictions
from harness.split.manifest import Case, Split

__all__ = ["ScoredCase", "ScoringStage", "busy_time", "score_case_task"]


@dataclass(frozen=True)
class ScoredCase:
    """What a scoring task returns: the case's rows and when and how long it ran.

    ``started`` and ``finished`` are the worker's wall clock (``time.time``); ``cpu_s`` the CPU
    time of the task's thread.
    """

    frame: pd.DataFrame
    started: float
    finished: float
    cpu_s: float


def score_case_task(
    case: Case,
    split_root: Path,
    split_hash: str,
    folders: Mapping[str, Path],
    options: Any,
    gate: GateOptions,
    profile: str,
) -> ScoredCase:
    """Score every submission's prediction of one case (on a worker): the evaluation's rows.

    The case's reference is read and prepared once for all submissions, as in
    :func:`harness.scoring.evaluate.evaluate_predictions`, which this calls on a one-case split.
    """
    started, cpu = time.time(), time.thread_time()
    one = Split(root=split_root, cases=(case,), content_hash=split_hash)
    frame = evaluate_predictions(
        one, dict(folders), jobs=1, options=options, gate=gate, progress=False, profile=profile
    )
    return ScoredCase(frame, started, time.time(), time.thread_time() - cpu)


def _code_fingerprint() -> str:
    """Hash of the code that turns predictions into scores: a change invalidates saved scores."""
    digest = hashlib.sha256()
    files = sorted(Path(metrics.__file__).parent.rglob("*.py"))
    files += [
        Path(m.__file__)  # type: ignore[arg-type]
        for m in (harness.scoring.evaluate, harness.predictions.validate, harness.split.volume)
    ]
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _score_fingerprint(
    case: Case,
    split: Split,
    folders: Mapping[str, Path],
    records: Mapping[str, Mapping[str, Any]],
    options: Any,
    gate: GateOptions,
    profile: str,
    code: str,
) -> str:
    """What a case's rows depend on: split, options, gate, profile, code, each record."""
    parts: dict[str, Any] = {
        "case": case.case_id,
        "split": split.content_hash,
        "options": repr(options),
        "gate": gate.model_dump(mode="json"),
        "profile": profile,
        "code": code,
    }
    for key, run_dir in sorted(folders.items()):
        record = records[key].get(case.case_id)
        parts[key] = [str(run_dir), record.to_json() if record else None]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


class ScoringStage:
    """Scores cases on the cluster as they are settled, each as one task needing one ``cpu``.

    :meth:`submit` sends cases (or reuses their kept rows); a thread writes each case's rows to
    ``scores/<case>/<fingerprint>.parquet`` as they arrive; :meth:`result` sends what is left,
    waits for every case and returns the table, equal to
    :func:`harness.scoring.evaluate.evaluate_predictions` on the whole split. Use it as a
    context manager: leaving it early cancels the cases still being scored.

    Parameters
    ----------
    split : Split
    folders : mapping of str to Path
        Submission key -> its run folder (the ledger).
    client : distributed.Client
    options, gate, profile : keyword-only
        The scoring's metric options, prediction gate and edition profile.
    out_dir : Path, keyword-only
        The round's folder (rows go under ``scores/``).
    console : rich.console.Console, keyword-only
    """

    def __init__(
        self,
        split: Split,
        folders: Mapping[str, Path],
        client: Any,
        *,
        options: Any,
        gate: GateOptions,
        profile: str,
        out_dir: Path,
        console: Console,
    ) -> None:
        self.split, self.folders, self.client = split, dict(folders), client
        self.options, self.gate, self.profile = options, gate, profile
        self.out_dir, self.console = out_dir, console
        self._code = _code_fingerprint()
        self._cases = {case.case_id: case for case in split.cases}
        self._sent: set[str] = set()
        self._frames: dict[str, pd.DataFrame] = {}
        self._owner: dict[str, tuple[Case, Path]] = {}
        self._futures: list[Any] = []
        self._inbox: queue.Queue[Any] = queue.Queue()
        self._lock = threading.Condition()
        self._written = 0
        self._error: BaseException | None = None
        self.reused = 0
        """Cases whose kept rows were reused."""
        self.runs: list[tuple[float, float]] = []
        """Each scoring task's (started, finished) on its worker's wall clock."""
        self.cpu_s = 0.0
        """Summed CPU time of the scoring tasks."""
        self._writer = threading.Thread(target=self._write_loop, name="selma3d-scores", daemon=True)
        self._writer.start()

    def __enter__(self) -> ScoringStage:
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        if exc is not None:
            with self._lock:
                futures = [f for f in self._futures if not f.done()]
            if futures and self.client.status == "running":
                self.client.cancel(futures)
        self._inbox.put(None)
        self._writer.join()

    def submit(self, case_ids: Iterable[str]) -> None:
        """Send these cases (each once), or take their kept rows if their inputs are unchanged."""
        fresh = [c for c in case_ids if c not in self._sent]
        if not fresh:
            return
        records = {key: read_records(run_dir) for key, run_dir in self.folders.items()}
        for case_id in fresh:
            self._sent.add(case_id)
            case = self._cases[case_id]
            fingerprint = _score_fingerprint(
                case,
                self.split,
                self.folders,
                records,
                self.options,
                self.gate,
                self.profile,
                self._code,
            )
            saved = self.out_dir / SCORES_DIR / case_id / f"{fingerprint}.parquet"
            if saved.is_file():
                with self._lock:
                    self._frames[case_id] = pd.read_parquet(saved)
                    self.reused += 1
                continue
            args = (case, self.split.root, self.split.content_hash, self.folders)
            args += (self.options, self.gate, self.profile)
            future = submit_task(
                self.client, score_case_task, *args, name=f"score-{case_id}", resources={CPU: 1}
            )
            with self._lock:
                self._owner[future.key] = (case, saved)
                self._futures.append(future)
            # A done callback feeds the writer, not an ``as_completed`` queue (``finished``):
            # cases keep arriving while it writes, and it must never wait on a lost scheduler.
            future.add_done_callback(self._inbox.put)

    def _write_loop(self) -> None:
        while (future := self._inbox.get()) is not None:
            with self._lock:
                case, saved = self._owner[future.key]
            try:
                # A task lost with its workers as often as the scheduler allows (KilledWorker)
                # fails the stage too.
                scored: ScoredCase = task_result(future, "scoring")
                for old in saved.parent.glob("*.parquet") if saved.parent.is_dir() else ():
                    old.unlink()
                with atomic_path(saved) as tmp:
                    scored.frame.to_parquet(tmp, index=False)
            # Handed to the organizer's thread, which raises it from result().
            except Exception as exc:
                with self._lock:
                    self._error = self._error or exc
                    self._written += 1
                    self._lock.notify_all()
                continue
            with self._lock:
                self._frames[case.case_id] = scored.frame
                self.runs.append((scored.started, scored.finished))
                self.cpu_s += scored.cpu_s
                self._written += 1
                self._lock.notify_all()

    def result(self) -> pd.DataFrame:
        """Send every case not sent yet, wait for all, and return the table sorted by team, case.

        Raises
        ------
        ClusterError
            The scheduler was lost (the cases scored so far are kept).
        """
        self.submit(self.split.case_ids)
        with self._lock:
            sent = len(self._owner)
        self.console.print(f"{self.reused} case(s) scored before, {sent} to score")
        with self._lock:
            self._lock.wait_for(lambda: self._written == len(self._owner) or self._error)
            if self._error is not None:
                raise self._error
        table = pd.concat([self._frames[c] for c in self.split.case_ids], ignore_index=True)
        return table.sort_values(["team", "case_id"], kind="stable").reset_index(drop=True)


def busy_time(intervals: Iterable[tuple[float, float]]) -> float:
    """The length of the union of ``(start, end)`` intervals: time with at least one running.

    Examples
    --------
    >>> busy_time([(0, 2), (1, 3), (5, 6)])
    4
    >>> busy_time([])
    0
    """
    total, reach = 0, None
    for start, end in sorted(intervals):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total
