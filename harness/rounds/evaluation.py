"""A round's ``evaluation:`` stage: the organizers' evaluation container on every submission.

After scoring, each submission's predictions go to the evaluation container as grand-challenge
gives them (:mod:`harness.evaluation`), one run per submission, in
``evaluation/<team>/<submission>/``; each run's record (status, image digest, ground truth
hash, time, peak memory, log tail, the parsed ``metrics.json``, the comparison with selma3d's
scores) goes into ``round.json`` and, for each team's selected submission, into the report.
With ``evaluation.leaderboard:``, grand-challenge's leaderboard of the phase is computed from
those ``metrics.json`` (:func:`grand_challenge_leaderboard`) and written as
``leaderboard/grand-challenge.csv`` and a section of the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from common.tables import write_csv
from common.terminal import as_text
from harness.containers.cleanup import remove_tree
from harness.containers.engine import engine_client
from harness.evaluation.config import EvaluationConfig, LeaderboardSettings
from harness.evaluation.gc_leaderboard import (
    Evaluation,
    board_table,
    calculate_ranks,
    stored_metrics,
)
from harness.evaluation.run import PreparedEvaluation, evaluate_with_container, prepare_evaluation
from harness.evaluation.summary import add_container_columns, summary_lines
from harness.predictions.validate import GateOptions
from harness.rounds.plan import submission_key
from harness.split.manifest import Split
from leaderboard.public import EVALUATION_STATUS_TEXT

__all__ = [
    "EVALUATION_DIR",
    "GC_LEADERBOARD_CSV",
    "grand_challenge_leaderboard",
    "prepare_round_evaluation",
    "run_round_evaluations",
    "with_container_columns",
    "write_grand_challenge_csv",
]

EVALUATION_DIR = "evaluation"
GC_LEADERBOARD_CSV = "grand-challenge.csv"


def prepare_round_evaluation(
    config: EvaluationConfig,
    *,
    out_dir: Path,
    source: Path | None,
    console: Console,
    pins: Any,
) -> PreparedEvaluation:
    """Resolve the evaluation image and ground truth before any container runs.

    Raises
    ------
    ConfigError
        Naming the round file and ``evaluation.image`` or the ground truth.
    """
    prepared = prepare_evaluation(
        config,
        cache_dir=out_dir / EVALUATION_DIR / ".ground-truth",
        client=pins.client,
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
    with engine_client() as client:
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
            key = submission_key(team, submission)
            records[key] = run.as_record()
            for line in summary_lines(run):
                console.print(f"{key}: {as_text(line.strip())}", highlight=False)
        return records


def with_container_columns(
    results: pd.DataFrame, records: dict[str, dict[str, Any]]
) -> pd.DataFrame:
    """``results`` with the container's per-case values beside selma3d's.

    The columns are :func:`harness.evaluation.summary.add_container_columns`'s (the one
    builder, which ``selma3d evaluate --container`` uses too); this only keys each record's
    comparison by its ``team`` and ``submission``. A submission whose container did not run
    keeps empty cells.
    """
    comparisons = {
        tuple(key.split("/", 1)): record.get("comparison") for key, record in records.items()
    }
    return add_container_columns(results, comparisons, keys=("team", "submission"))


def grand_challenge_leaderboard(
    records: dict[str, dict[str, Any]],
    submissions: Sequence[tuple[str, str]],
    settings: LeaderboardSettings,
) -> dict[str, Any]:
    """grand-challenge's leaderboard of the phase from each submission's ``metrics.json``.

    Parameters
    ----------
    records : dict
        ``team/submission`` -> the evaluation run's record (:func:`run_round_evaluations`).
    submissions : sequence of (str, str)
        ``(team, submission)`` in the order they were submitted (a team's later submission
        after its earlier one: "most recent" and the newest of equal "best" follow it).
    settings : LeaderboardSettings

    Returns
    -------
    dict
        ``headers``, ``rows`` and ``shown`` (the same rows as grand-challenge's leaderboard
        shows them: :func:`~harness.evaluation.gc_leaderboard.board_table`), ``hidden``
        (each submission not on the board: ``team``, ``submission``, ``reason``) and
        ``settings``: what the report's section renders.
    """
    evaluations = []
    hidden = []
    for team, submission in submissions:
        key = submission_key(team, submission)
        record = records.get(key) or {}
        metrics = record.get("metrics")
        if isinstance(metrics, dict):
            evaluations.append(Evaluation(key, team, submission, stored_metrics(metrics)))
        else:
            # grand-challenge ranks successful evaluations only. The board is published: the
            # reason is its status's fixed text, never the run's own (it may quote a log).
            status = str(record.get("status") or "not_run")
            why = EVALUATION_STATUS_TEXT.get(status) or "no metrics.json"
            hidden.append(
                {
                    "team": team,
                    "submission": submission,
                    "reason": f"evaluation {status}: {why}",
                }
            )
    board = calculate_ranks(evaluations, settings)
    headers, rows = board_table(board, settings)
    _, shown = board_table(board, settings, shown=True)
    for key, reason in board.hidden.items():
        team, submission = key.split("/", 1)
        hidden.append({"team": team, "submission": submission, "reason": reason})
    hidden.sort(key=lambda h: (h["team"], h["submission"]))
    return {
        "headers": headers,
        "rows": rows,
        "shown": shown,
        "hidden": hidden,
        "settings": settings.model_dump(mode="json"),
    }


def write_grand_challenge_csv(table: dict[str, Any], leaderboard_dir: Path) -> Path:
    """Write the board as ``<leaderboard_dir>/grand-challenge.csv`` (atomically); its path.

    Values keep the digits grand-challenge shows (``0.8000``), written as numbers.
    """
    path = leaderboard_dir / GC_LEADERBOARD_CSV
    names = {i for i, h in enumerate(table["headers"]) if h in ("team", "submission")}
    rows = [
        [v if i in names else _as_decimal(v) for i, v in enumerate(row)] for row in table["rows"]
    ]
    write_csv(pd.DataFrame(rows, columns=table["headers"]), path)
    return path


def _as_decimal(value: Any) -> Any:
    # A shown value is a number's text; as a Decimal it is written with its digits and is no
    # text a spreadsheet could run (a minus sign would otherwise be neutralised).
    if isinstance(value, str) and value:
        try:
            return Decimal(value)
        except InvalidOperation:
            return value
    return value
