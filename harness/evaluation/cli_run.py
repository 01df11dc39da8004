"""``selma3d evaluate --container IMAGE --ground-truth GT``: one set of predictions, both scores."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
from pydantic import ValidationError

from common.files import config_error, validation_problems, write_atomic
from harness.evaluation.config import EvaluationConfig, ground_truth_problems
from harness.evaluation.contract import image_names
from harness.evaluation.official import official_evaluator_lines
from harness.evaluation.run import EvaluationRun, evaluate_with_container, prepare_evaluation
from harness.evaluation.summary import add_container_columns, summary_lines
from harness.split.manifest import Split

__all__ = ["SideBySide", "record_path", "run_for_cli"]


@dataclass(frozen=True)
class SideBySide:
    """What ``evaluate`` prints and how it exits after the container ran."""

    run: EvaluationRun
    lines: tuple[str, ...]

    @property
    def agrees(self) -> bool:
        """The container ran, wrote valid metrics and no value differs from selma3d's."""
        return self.run.status == "ok" and not self.run.differences


def record_path(out: Path) -> Path:
    """Where the run is recorded: ``<out>.container.json`` beside the table.

    The container's whole output goes beside it too, as ``<out>.container.log``.
    """
    return out.with_name(out.name + ".container.json")


def run_for_cli(
    frame: pd.DataFrame, split: Split, *, container: str, ground_truth: Path, out: Path
) -> tuple[pd.DataFrame, SideBySide]:
    """Run the container on the one team of ``frame`` and put its values beside selma3d's.

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
    from harness.containers.engine import connect

    problems = [f"--ground-truth: {p}" for p in ground_truth_problems(ground_truth)]
    try:
        config = EvaluationConfig(image=container, ground_truth=ground_truth.resolve())
    except ValidationError as exc:
        problems += validation_problems(exc)
    if problems:
        raise config_error("the command line", problems, what="evaluate --container")
    client = connect()
    work = Path(tempfile.mkdtemp(prefix="selma3d-evaluation-"))
    try:
        prepared = prepare_evaluation(
            config, cache_dir=work / "cache", client=client, where="--container"
        )
        rows = frame.to_dict("records")
        run = evaluate_with_container(prepared, rows, split, work_dir=work / "run", client=client)
        if run.log_file:
            kept = out.with_name(out.name + ".container.log")
            shutil.copyfile(run.log_file, kept)
            run = replace(run, log_file=str(kept))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    case_of_image = {name: case for case, name in image_names(split).items()}
    frame = add_container_columns(frame, run, case_of_image=case_of_image)
    write_atomic(record_path(out), json.dumps(run.as_record(), indent=2) + "\n")
    official = official_evaluator_lines(split, rows)
    lines = (*summary_lines(run), *official, f"wrote {record_path(out)}")
    return frame, SideBySide(run, lines)
