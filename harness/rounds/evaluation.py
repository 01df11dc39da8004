"""A round's ``evaluation:`` stage: the organizers' evaluation container on every submission.

After scoring, each submission's predictions go to the evaluation container as grand-challenge
gives them (:mod:`harness.evaluation`), one run per submission, in
``evaluation/<team>/<submission>/``; each run's record (status, image digest, ground truth
hash, time, peak memory, log tail, the comparison with selma3d's scores) goes into
``round.json`` and, for each team's selected submission, into the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from harness.containers.cleanup import remove_tree
from harness.evaluation.config import EvaluationConfig
from harness.evaluation.run import PreparedEvaluation, evaluate_with_container, prepare_evaluation
from harness.evaluation.summary import add_container_columns, summary_lines
from harness.predictions.validate import GateOptions
from harness.split.manifest import Split

__all__ = [
    "EVALUATION_DIR",
    "prepare_round_evaluation",
    "run_round_evaluations",
    "with_container_columns",
]

EVALUATION_DIR = "evaluation"


def prepare_round_evaluation(
    config: EvaluationConfig,
    *,
    out_dir: Path,
    source: Path | None,
    console: Console,
    pins: Any | None = None,
) -> PreparedEvaluation:
    """Resolve the evaluation image and ground truth before any container runs.

    Raises
    ------
    ConfigError
        Naming the round file and ``evaluation.image`` or the ground truth.
    """
    from harness.containers.engine import connect

    prepared = prepare_evaluation(
        config,
        cache_dir=out_dir / EVALUATION_DIR / ".ground-truth",
        client=connect(),
        where=str(source or "round"),
        log=console.print,
        pins=pins,
    )
    console.print(
        f"evaluation container {prepared.image.ref} ({prepared.image.digest[:19]}) · ground "
        f"truth {prepared.ground_truth_sha256[:19]}"
    )
    return prepared


def run_round_evaluations(
    prepared: PreparedEvaluation,
    submissions: Sequence[tuple[str, str]],
    results: pd.DataFrame,
    split: Split,
    *,
    out_dir: Path,
    gate: GateOptions,
    console: Console,
) -> dict[str, dict[str, Any]]:
    """Run the evaluation container on every ``(team, submission)``; ``team/submission`` -> record.

    A container that fails, times out or writes no valid ``metrics.json`` gets its status and
    log tail in the record; nothing here stops the round.
    """
    from harness.containers.engine import connect

    client = connect()
    records: dict[str, dict[str, Any]] = {}
    for team, submission in submissions:
        mask = (results["team"] == team) & (results["submission"] == submission)
        rows = results[mask].to_dict("records")
        work = out_dir / EVALUATION_DIR / team / submission
        run = evaluate_with_container(
            prepared, rows, split, work_dir=work, client=client, gate=gate
        )
        # The staged predictions are copies; the record is what is kept.
        for folder in ("input", "output"):
            remove_tree(work / folder)
        record = run.as_record()
        record.pop("metrics")
        records[f"{team}/{submission}"] = record
        for line in summary_lines(run):
            console.print(f"{team}/{submission}: {line.strip()}", highlight=False, markup=False)
    return records


def with_container_columns(
    results: pd.DataFrame, records: dict[str, dict[str, Any]]
) -> pd.DataFrame:
    """``results`` with the container's per-case values beside selma3d's.

    ``container_dice``, ``container_cldice``, ``container_pq`` (and any other metric the
    container reports): empty where the container gave no value for the case (it did not run);
    the track's mean where its results do not name cases (``container_scope`` says which).
    """
    comparisons = {
        tuple(key.split("/", 1)): record.get("comparison") for key, record in records.items()
    }
    return add_container_columns(results, comparisons, keys=("team", "submission"))
