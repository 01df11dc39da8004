"""The scoring stage: one task per case, each case's rows kept under ``scores/`` while valid."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from common.files import atomic_path
from harness.predictions.validate import GateOptions
from harness.rounds.cluster.connect import finished, submit_task
from harness.rounds.cluster.tasks import SCORES_DIR
from harness.split.manifest import Case, Split

__all__ = ["score_case_task", "score_cases"]


def score_case_task(
    case: Case,
    split_root: Path,
    split_hash: str,
    folders: Mapping[str, Path],
    options: Any,
    gate: GateOptions,
    profile: str,
) -> pd.DataFrame:
    """Score every submission's prediction of one case (on a worker): the evaluation's rows.

    The case's reference is read and prepared once for all submissions, as in
    :func:`harness.scoring.evaluate.evaluate_predictions`, which this calls on a one-case split.
    """
    from harness.scoring.evaluate import evaluate_predictions

    one = Split(root=split_root, cases=(case,), content_hash=split_hash)
    return evaluate_predictions(
        one, dict(folders), jobs=1, options=options, gate=gate, progress=False, profile=profile
    )


def _code_fingerprint() -> str:
    """Hash of the code that turns predictions into scores: a change invalidates saved scores."""
    import harness.predictions.validate
    import harness.scoring.evaluate
    import harness.split.volume
    import metrics

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


def score_cases(
    split: Split,
    folders: Mapping[str, Path],
    client: Any,
    *,
    options: Any,
    gate: GateOptions,
    profile: str,
    out_dir: Path,
    console: Console,
    on_case: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Score every case as one cluster task each; keep each case's rows under ``scores/``.

    A case whose predictions, records and scoring code are unchanged since its rows were saved
    is not sent again. The table equals
    :func:`harness.scoring.evaluate.evaluate_predictions` on the whole split.

    Raises
    ------
    ClusterError
        The scheduler was lost (the cases scored so far are kept).
    """
    from distributed import as_completed

    from harness.containers.records import read_records

    code = _code_fingerprint()
    records = {key: read_records(run_dir) for key, run_dir in folders.items()}
    frames: dict[str, pd.DataFrame] = {}
    owner: dict[str, tuple[Case, Path]] = {}
    futures = []
    for case in split.cases:
        saved = (
            out_dir
            / SCORES_DIR
            / case.case_id
            / (
                _score_fingerprint(case, split, folders, records, options, gate, profile, code)
                + ".parquet"
            )
        )
        if saved.is_file():
            frames[case.case_id] = pd.read_parquet(saved)
            continue
        args = (case, split.root, split.content_hash, dict(folders), options, gate, profile)
        future = submit_task(client, score_case_task, *args, name=f"score-{case.case_id}")
        owner[future.key] = (case, saved)
        futures.append(future)
    console.print(f"{len(frames)} case(s) scored before, {len(futures)} to score")
    queue = as_completed(futures)
    for future, frame, gone in finished(client, queue, "scoring"):
        if gone is not None:
            raise gone  # lost with its workers as often as the scheduler allows
        case, saved = owner.pop(future.key)
        for old in saved.parent.glob("*.parquet") if saved.parent.is_dir() else ():
            old.unlink()
        with atomic_path(saved) as tmp:
            frame.to_parquet(tmp, index=False)
        frames[case.case_id] = frame
        if on_case is not None:
            on_case(case.case_id)
    table = pd.concat([frames[c] for c in split.case_ids], ignore_index=True)
    return table.sort_values(["team", "case_id"], kind="stable").reset_index(drop=True)
