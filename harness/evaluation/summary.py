"""An evaluation run in words and columns: for the console, the ``--out`` table and reports."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from harness.evaluation.run import EvaluationRun
from leaderboard.container_metrics import METRIC_NAMES

__all__ = ["CONTAINER_PREFIX", "add_container_columns", "summary_lines"]

CONTAINER_PREFIX = "container_"
"""Per-case columns of the container's values: ``container_dice``, ``container_cldice``,
``container_pq`` (selma3d's names, beside selma3d's own ``dice``, ``cldice``, ``pq``)."""


def add_container_columns(
    frame: pd.DataFrame, run: EvaluationRun, *, case_of_image: Mapping[str, str]
) -> pd.DataFrame:
    """``frame`` with the container's per-case values beside selma3d's, where it names cases.

    A case the container gives no value for keeps an empty cell.
    """
    out = frame.copy()
    values: dict[str, dict[str, float | None]] = {c: {} for c in METRIC_NAMES.values()}
    for result in (run.metrics or {}).get("results") or []:
        case = case_of_image.get(result.get("image_name")) if isinstance(result, dict) else None
        if case is None:
            continue
        for name, column in METRIC_NAMES.items():
            if name in result:
                values[column][case] = result[name]
    for column, by_case in values.items():
        out[CONTAINER_PREFIX + column] = out["case_id"].map(by_case).astype(float)
    return out


def summary_lines(run: EvaluationRun) -> list[str]:
    """What happened, in a few lines: status, image, ground truth, time, memory, differences."""
    lines = [
        f"evaluation container {run.image} ({run.image_digest[:19]}): {run.status}"
        + (f" - {run.reason}" if run.reason else ""),
        f"  ground truth {run.ground_truth} ({run.ground_truth_sha256[:19]})",
    ]
    if run.wall_time_s is not None:
        peak = run.peak_memory_bytes
        memory = f", peak memory {peak / (1 << 20):.0f} MiB" if peak is not None else ""
        lines.append(f"  {run.jobs} job(s), {run.wall_time_s:.1f} s{memory}")
    if run.comparison is not None:
        differences = run.differences
        compared = run.comparison["compared"]
        if differences:
            lines.append(f"  {len(differences)} of {compared} value(s) differ from selma3d's:")
            for d in differences:
                lines.append(
                    f"    {d['metric']} ({d['case']}): container {_num(d['container'])} vs "
                    f"selma3d {_num(d['selma3d'])}"
                )
        else:
            lines.append(
                f"  {compared} value(s) compared with selma3d's: no difference beyond "
                f"{run.comparison['tolerance']:g}"
            )
        lines.extend(f"  note: {n}" for n in run.comparison["notes"])
    elif run.log_tail and run.status != "ok":
        lines.append("  log tail:")
        lines.extend(f"    {line}" for line in run.log_tail.splitlines())
    return lines


def _num(value: float | None) -> str:
    return "missing" if value is None else f"{value:.10g}"
