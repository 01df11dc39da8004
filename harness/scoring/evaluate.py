"""Score folders of predictions against a labeled split, one row per (team, case).

Stages, joined on case ids: find each team's prediction files -> read the reference once per case
and prepare its reference-side work -> read, check and score each team's prediction -> collect
rows sorted by team and case id -> write the table atomically.

A prediction folder is either

- a plain folder of ``<case_id><ext>`` files (``ext`` any of ``SUPPORTED_EXTENSIONS``), or
- a runner output folder (``cases.jsonl`` and ``predictions/``): a case whose runner status is
  not ``ok`` keeps that status (timeout, oom, failed, ...) and gets the worst scores.

Every prediction file passes the one gate the runner uses
(:func:`harness.predictions.validate.validate_prediction`, with the same ``GateOptions``): links are
refused, the header is checked before any voxel, and values become a mask under the binarization
rule. So a file gets the same row whether it is scored here directly or after ``selma3d predict``.

Problems with a prediction never stop the evaluation: each becomes the case's ``status`` and
``message``, and the case gets ``metrics.missing_scores`` (the documented worst values); warnings
(non-binary values, differing geometry) go to the ``message`` of an ``ok`` row. Problems with the
split (no label; a label unreadable, of the wrong shape, with NaN or negative values:
:func:`harness.split.checks.read_reference`) are the organizer's and raise.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import pandas as pd

from common.profiles import DEFAULT_PROFILE, get_profile
from common.tables import write_csv
from harness.containers.records import PREDICTIONS_DIR, RECORDS_NAME, read_case_records
from harness.errors import SplitError, SubmissionError
from harness.predictions.validate import OFFICIAL_GATE, GateOptions, validate_prediction
from harness.scoring.allocator import keep_freed_memory
from harness.split.checks import read_reference
from harness.split.manifest import Case, Split
from harness.split.volume import SUPPORTED_EXTENSIONS, strip_extension
from metrics import (
    METRIC_COLUMNS,
    METRICS,
    MetricOptions,
    missing_scores,
    prepare_reference,
    score_prediction,
)

__all__ = [
    "EVALUATION_COLUMNS",
    "EXTRA_COLUMNS",
    "TeamPredictions",
    "evaluate_predictions",
    "find_predictions",
    "profile_cases",
    "write_results",
]

EVALUATION_COLUMNS: tuple[str, ...] = (
    "team",
    "case_id",
    "track",
    "structure",
    "status",
    "message",
    "prediction",
    *METRIC_COLUMNS,
)
EXTRA_COLUMNS: tuple[str, ...] = (
    "split_hash", "profile", "wall_time_s", "peak_memory_bytes", "image_digest"
)
"""Appended after ``EVALUATION_COLUMNS``: provenance (split and profile), and the runner's
figures when known."""

_INT_COLUMNS = tuple(name for name in METRIC_COLUMNS if METRICS[name].integer)


@dataclass(frozen=True)
class _Entry:
    """What one team handed in for one case."""

    team: str
    files: tuple[Path, ...]
    runner_status: str | None = None
    runner_reason: str = ""
    wall_time_s: float | None = None
    peak_memory_bytes: int | None = None
    image_digest: str = ""


@dataclass(frozen=True)
class TeamPredictions:
    """The prediction files of one team, joined on the split's case ids.

    Attributes
    ----------
    folder : Path
        Where the prediction files are (``<folder>/predictions`` for a runner folder).
    files : dict of str to tuple of Path
        Case id -> every entry named ``<case_id><ext>`` (or exactly ``<case_id>`` when it is not
        a regular file), whatever its type: links and folders are listed here, never followed,
        so the gate refuses them by name; empty tuple when there is none.
    runner : dict of str to dict
        Case id -> the runner's record from ``cases.jsonl`` (runner folders only).
    unexpected : tuple of str
        File names that match no case of the split (reported, never scored).
    """

    folder: Path
    files: dict[str, tuple[Path, ...]]
    runner: dict[str, dict]
    unexpected: tuple[str, ...]


def find_predictions(folder: str | Path, case_ids: Sequence[str]) -> TeamPredictions:
    """Join a prediction folder on the split's case ids.

    Parameters
    ----------
    folder : str or Path
        A folder of ``<case_id><ext>`` files, or a runner output folder (``cases.jsonl`` and
        ``predictions/``).
    case_ids : sequence of str
        The split's case ids.

    Returns
    -------
    TeamPredictions

    Raises
    ------
    SubmissionError
        If the folder does not exist or ``cases.jsonl`` is malformed (the message names the file
        and line).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SubmissionError(f"{folder}: prediction folder not found.")
    runner: dict[str, dict] = {}
    files_dir = folder
    if (folder / RECORDS_NAME).is_file():
        runner = read_case_records(folder / RECORDS_NAME)
        files_dir = folder / PREDICTIONS_DIR
    wanted = set(case_ids)
    files: dict[str, list[Path]] = {c: [] for c in case_ids}
    unexpected = []
    if files_dir.is_dir():
        with os.scandir(files_dir) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            # Typed without following links: a link named like a case is the case's entry.
            regular = entry.is_file(follow_symlinks=False)
            stem = strip_extension(entry.name)
            if stem in wanted and (stem != entry.name or not regular):
                files[stem].append(Path(entry.path))
            elif regular:
                unexpected.append(entry.name)
    return TeamPredictions(
        folder=files_dir,
        files={c: tuple(v) for c, v in files.items()},
        runner=runner,
        unexpected=tuple(unexpected),
    )


def evaluate_predictions(
    split: Split,
    predictions: Mapping[str, str | Path],
    *,
    jobs: int = 1,
    options: MetricOptions | None = None,
    gate: GateOptions = OFFICIAL_GATE,
    progress: bool = True,
    profile: str = DEFAULT_PROFILE,
) -> pd.DataFrame:
    """Score every team's predictions on every case of a labeled split.

    Parameters
    ----------
    split : Split
        A labeled split (``harness.split.manifest.load_split``).
    predictions : mapping of str to path
        Team name -> prediction folder (plain or runner output folder).
    jobs : int, keyword-only
        Worker processes; cases run in parallel, with results identical to ``jobs=1``.
    options : MetricOptions, optional, keyword-only
        Metric options; ``MetricOptions()`` by default.
    gate : GateOptions, keyword-only
        Binarization rule and geometry mode of the prediction gate (the round's); the official
        ``> 0`` on the voxel grid by default.
    progress : bool, keyword-only
        Show a progress bar (rich) on stderr.
    profile : str, keyword-only
        The edition's rules (``common.profiles``): a profile with a structure map decides
        each case's track (and so its metrics) from its structure; the default keeps the
        manifest's tracks. Recorded in the ``profile`` column.

    Returns
    -------
    pandas.DataFrame
        One row per (team, case), sorted by team then case id, columns ``EVALUATION_COLUMNS``
        then ``EXTRA_COLUMNS``; metric values are NaN where a metric does not apply to the
        case's track. ``df.attrs["unexpected_files"]`` maps each team to the file names that
        matched no case.

    Raises
    ------
    SplitError
        If a case has no label, or a structure the profile does not score.
    VolumeError
        If a reference cannot be read or is broken (wrong shape for its image, NaN or
        infinite or negative values); the message names the case and the label.
    SubmissionError
        If a prediction folder is missing or its ``cases.jsonl`` is malformed.

    Notes
    -----
    Each case's reference is read and prepared once (skeleton, components, Betti numbers) and
    every team's prediction is scored against it.
    """
    options = options if options is not None else MetricOptions()
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer. Got {jobs!r}.")
    if not predictions:
        raise ValueError("predictions must name at least one team folder. Got none.")
    unlabeled = [c.case_id for c in split.cases if c.label is None]
    if unlabeled:
        raise SplitError(
            str(split.manifest),
            [f"case {c!r} has no label; evaluation needs a labeled split" for c in unlabeled],
        )
    cases = profile_cases(split, profile)
    teams = {team: find_predictions(folder, split.case_ids) for team, folder in predictions.items()}
    tasks = [(case, _entries(case.case_id, teams)) for case in cases]
    rows: list[dict] = []
    with _progress(progress, len(tasks)) as advance:
        if jobs == 1:
            for case, entries in tasks:
                rows.extend(
                    _evaluate_case(case, entries, options, gate, split.content_hash, profile)
                )
                advance()
        else:
            # spawn: workers start clean, never inheriting the parent's threads or locks.
            with ProcessPoolExecutor(
                max_workers=jobs, mp_context=get_context("spawn"), initializer=keep_freed_memory
            ) as pool:
                futures = [
                    pool.submit(
                        _evaluate_case, case, entries, options, gate, split.content_hash, profile
                    )
                    for case, entries in tasks
                ]
                for future in as_completed(futures):
                    rows.extend(future.result())
                    advance()
    frame = pd.DataFrame(rows, columns=[*EVALUATION_COLUMNS, *EXTRA_COLUMNS])
    for column in _INT_COLUMNS:
        frame[column] = frame[column].astype("Int64")
    frame = frame.sort_values(["team", "case_id"], kind="stable").reset_index(drop=True)
    frame.attrs["unexpected_files"] = {team: list(t.unexpected) for team, t in teams.items()}
    return frame


def profile_cases(split: Split, profile: str) -> tuple[Case, ...]:
    """The split's cases with the tracks ``profile`` gives their structures.

    Parameters
    ----------
    split : Split
    profile : str
        A name in ``common.profiles.PROFILES``; a profile without a structure map keeps
        the manifest's tracks.

    Returns
    -------
    tuple of Case

    Raises
    ------
    ConfigError
        An unknown profile.
    SplitError
        Naming the manifest and every case whose structure the profile does not score.
    """
    rules = get_profile(profile)
    if rules.structure_tracks is None:
        return tuple(split.cases)
    cases, problems = [], []
    for case in split.cases:
        try:
            track = rules.track_of(case.structure)
        except ValueError as exc:
            problems.append(f"case {case.case_id!r}: {exc}")
            continue
        cases.append(case if track == case.track else dataclasses.replace(case, track=track))
    if problems:
        raise SplitError(str(split.manifest), problems)
    return tuple(cases)


def write_results(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write an evaluation table as CSV atomically (``common.files.atomic_path``).

    Rows are sorted by team and case id; metrics that do not apply are empty cells. The
    ``message`` column carries text a participant's container controls (its log's tail), the
    ``team`` column a name given on the command line: every text cell a spreadsheet would run as
    a formula starts with ``'`` (``common.tables.write_csv``).
    """
    return write_csv(frame.sort_values(["team", "case_id"], kind="stable"), path)


def _entries(case_id: str, teams: Mapping[str, TeamPredictions]) -> list[_Entry]:
    entries = []
    for team, found in teams.items():
        record = found.runner.get(case_id)
        entries.append(
            _Entry(
                team=team,
                files=found.files[case_id],
                runner_status=record.get("status") if record else None,
                runner_reason=str(record.get("reason") or "") if record else "",
                wall_time_s=_number(record, "wall_time_s"),
                peak_memory_bytes=_number(record, "peak_memory_bytes"),
                image_digest=str(record.get("image_digest") or "") if record else "",
            )
        )
    return entries


def _evaluate_case(
    case: Case,
    entries: list[_Entry],
    options: MetricOptions,
    gate: GateOptions,
    split_hash: str,
    profile: str,
) -> list[dict]:
    if case.label is None:
        raise SplitError(case.case_id, [f"case {case.case_id!r} has no label"])
    label, grid = read_reference(case.label, case.image, where=f"case {case.case_id!r}")
    prepared = prepare_reference(label, track=case.track, options=options)
    del label
    rows = []
    for entry in entries:
        status, message, path, scores = _score_entry(case, entry, prepared, grid, gate)
        row: dict = {
            "team": entry.team,
            "case_id": case.case_id,
            "track": case.track,
            "structure": case.structure,
            "status": status,
            "message": message,
            "prediction": str(path) if path is not None else "",
            "split_hash": split_hash,
            "profile": profile,
            "wall_time_s": entry.wall_time_s,
            "peak_memory_bytes": entry.peak_memory_bytes,
            "image_digest": entry.image_digest,
        }
        for column in METRIC_COLUMNS:
            row[column] = scores.get(column, math.nan)
        rows.append(row)
    return rows


def _score_entry(case, entry, prepared, grid, gate):  # type: ignore[no-untyped-def]
    worst = missing_scores(prepared)
    if entry.runner_status is not None and entry.runner_status != "ok":
        reason = entry.runner_reason or f"the runner reported {entry.runner_status}"
        return entry.runner_status, reason, None, worst
    if not entry.files:
        expected = ", ".join(f"{case.case_id}{ext}" for ext in SUPPORTED_EXTENSIONS)
        return "missing_output", f"no prediction file (expected one of {expected})", None, worst
    if len(entry.files) > 1:
        names = ", ".join(p.name for p in entry.files)
        return "invalid_output", f"several prediction files for one case: {names}", None, worst
    path = entry.files[0]
    check = validate_prediction(path, grid, options=gate)
    if check.status != "ok":
        return check.status, check.reason, path, worst
    # A runner's ok record carries the warnings about the container's own file (the saved mask
    # is binary and on the input's grid, so it adds none).
    message = "; ".join(m for m in (entry.runner_reason, check.message) if m)
    return "ok", message, path, score_prediction(prepared, check.mask)


def _number(record: dict | None, key: str) -> float | None:
    if not record:
        return None
    value = record.get(key)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


class _progress:
    """A rich progress bar over cases, or nothing when disabled."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total = enabled, total
        self._bar = None

    def __enter__(self):  # type: ignore[no-untyped-def]
        if not self.enabled:
            return lambda: None
        # Rich's progress bars are loaded only when a bar is shown.
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self._bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        self._bar.__enter__()
        task = self._bar.add_task("scoring cases", total=self.total)
        return lambda: self._bar.advance(task)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
