"""``selma3d evaluate --container IMAGE --ground-truth GT``: one set of predictions, both scores."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
from pydantic import ValidationError

from common.files import config_error, resolved, validation_problems, write_atomic
from harness.containers.limits import Limits
from harness.containers.scratch import owned_scratch
from harness.evaluation.config import EvaluationConfig, ground_truth_problems
from harness.evaluation.official import official_evaluator_lines
from harness.evaluation.run import (
    EvaluationRun,
    evaluate_with_container,
    evaluation_run_id,
    prepare_evaluation,
)
from harness.evaluation.summary import add_container_columns, summary_lines
from harness.predictions.validate import GateOptions
from harness.split.manifest import Split

__all__ = ["SCRATCH_PREFIX", "SideBySide", "log_path", "record_path", "run_for_cli"]

SCRATCH_PREFIX = "selma3d-evaluation-"
"""Temporary folders of ``evaluate --container`` (in the system's temporary folder)."""


@dataclass(frozen=True)
class SideBySide:
    """What ``evaluate`` prints and how it exits after the container ran."""

    run: EvaluationRun
    lines: tuple[str, ...]

    @property
    def agrees(self) -> bool:
        """Whether the container ran, wrote valid metrics, and agreed on every compared value.

        At least one value must have been compared: a file selma3d can map to none of its own
        values agrees with nothing.
        """
        comparison = self.run.comparison or {}
        return (
            self.run.status == "ok"
            and bool(comparison.get("compared"))
            and not self.run.differences
        )


def record_path(out: Path) -> Path:
    """Where the run is recorded: ``<out>.container.json`` beside the table.

    The container's whole output goes beside it too, as ``<out>.container.log``.
    """
    return out.with_name(out.name + ".container.json")


def log_path(out: Path) -> Path:
    """Where the container's whole output is kept: ``<out>.container.log`` beside the table."""
    return out.with_name(out.name + ".container.log")


def run_for_cli(
    frame: pd.DataFrame,
    split: Split,
    *,
    container: str,
    ground_truth: Path,
    out: Path,
    limits: Limits,
    gate: GateOptions,
) -> tuple[pd.DataFrame, SideBySide]:
    """Run the container on the one team of ``frame`` and put its values beside selma3d's.

    Parameters
    ----------
    frame : DataFrame
        selma3d's per-case rows of one team.
    split : Split
    container, ground_truth : keyword-only
        ``--container`` and ``--ground-truth``.
    out : Path, keyword-only
        ``--out``: the record and the log go beside it.
    limits : Limits, keyword-only
        The container's limits (``--timeout-s``, ``--memory`` over the evaluation defaults).
    gate : GateOptions, keyword-only
        The prediction gate the predictions were scored with; they reach the container through
        it.

    Returns
    -------
    (DataFrame, SideBySide)
        ``frame`` with ``container_<metric>`` columns, and the run.

    Raises
    ------
    ConfigError
        The image cannot be had or runs as root; the ground truth is neither a folder nor a
        tarball (naming the option).
    """
    # Loaded when the command runs: the CLI starts in 0.1 s, the library takes 1 s.
    from harness.containers.engine import engine_client

    problems = [f"--ground-truth: {p}" for p in ground_truth_problems(ground_truth)]
    try:
        config = EvaluationConfig(
            image=container, ground_truth=resolved(ground_truth), limits=limits
        )
    except ValidationError as exc:
        problems += validation_problems(exc)
    if problems:
        raise config_error("the command line", problems, what="evaluate --container")
    with engine_client() as client:
        # The extracted ground truth lives there: removed on exit and Ctrl-C, and by the next
        # evaluate after a kill -9 (owned_scratch).
        with owned_scratch(SCRATCH_PREFIX) as work:
            prepared = prepare_evaluation(
                config, cache_dir=work / "cache", client=client, where="--container"
            )
            rows = frame.to_dict("records")
            run = evaluate_with_container(
                prepared,
                rows,
                split,
                work_dir=work / "run",
                client=client,
                gate=gate,
                run_id=evaluation_run_id(out),
            )
            if run.log_file:
                kept = log_path(out)
                shutil.copyfile(run.log_file, kept)
                run = replace(run, log_file=str(kept))
        team = str(frame["team"].iloc[0]) if len(frame) else ""
        frame = add_container_columns(frame, {(team,): run.comparison}, keys=("team",))
        write_atomic(
            record_path(out), json.dumps(run.as_record(), indent=2, allow_nan=False) + "\n"
        )
        official = official_evaluator_lines(split, rows)
        lines = (*summary_lines(run, table=True), *official, f"wrote {record_path(out)}")
        return frame, SideBySide(run, lines)
