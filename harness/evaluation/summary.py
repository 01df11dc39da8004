"""An evaluation run in words and columns: for the console, the per-case tables and reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from harness.evaluation.run import EvaluationRun

__all__ = [
    "BASE_METRICS",
    "CONTAINER_PREFIX",
    "SCOPE_COLUMN",
    "add_container_columns",
    "summary_lines",
    "value_table",
]

CONTAINER_PREFIX = "container_"
"""Per-case columns of the container's values: ``container_dice``, ``container_cldice``,
``container_pq`` (selma3d's names, beside selma3d's own ``dice``, ``cldice``, ``pq``)."""
BASE_METRICS = ("dice", "cldice", "pq")
"""The container columns every table has (others are added when a container reports them)."""
SCOPE_COLUMN = "container_scope"
"""What a row's container values are: ``case`` (the container named the case), ``track mean``
(its results do not name cases: the mean it gives for the case's track), or empty."""


def add_container_columns(
    frame: pd.DataFrame,
    comparisons: Mapping[tuple[str, ...], Mapping[str, Any] | None],
    *,
    keys: Sequence[str] = ("team", "submission"),
) -> pd.DataFrame:
    """``frame`` with the container's values beside selma3d's, one row per case.

    Parameters
    ----------
    frame : DataFrame
        selma3d's per-case rows (``case_id``, ``track`` and the ``keys`` columns).
    comparisons : mapping
        The values of ``keys`` of a submission -> its comparison record
        (:meth:`~harness.evaluation.compare.Comparison.as_record`), or None.
    keys : sequence of str, keyword-only
        The columns naming a submission.

    Notes
    -----
    ``container_<metric>`` holds the container's value for the case where its results name the
    case; where they name no case of a track, each case of the track holds the mean the
    container gives for the track, and :data:`SCOPE_COLUMN` says which. A case the container
    gives no value for keeps an empty cell.
    """
    out = frame.copy()
    metrics = list(BASE_METRICS)
    cells: dict[tuple[Any, ...], dict[str, float | None]] = {}
    scopes: dict[tuple[Any, ...], str] = {}
    submission_rows: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for row in out[[*keys, "case_id", "track"]].itertuples(index=False):
        submission_rows.setdefault(tuple(row[: len(keys)]), []).append(tuple(row))
    for submission, record in comparisons.items():
        values = (record or {}).get("values") or []
        rows = submission_rows.get(tuple(submission), [])
        by_case = {str(r[-2]): r for r in rows}
        named_tracks: set[tuple[str, str]] = set()
        for v in values:
            if v.get("case") and v["case"] in by_case:
                row = by_case[v["case"]]
                cells.setdefault(row[:-1], {})[v["metric"]] = v["container"]
                scopes[row[:-1]] = "case"
                named_tracks.add((v["metric"], str(row[-1])))
                if v["metric"] not in metrics:
                    metrics.append(v["metric"])
        for v in values:
            if v.get("case") or v.get("statistic") != "mean" or v.get("track") == "all":
                continue
            if (v["metric"], v["track"]) in named_tracks:
                continue
            for row in rows:
                if row[-1] == v["track"]:
                    cells.setdefault(row[:-1], {})[v["metric"]] = v["container"]
                    scopes.setdefault(row[:-1], "track mean")
            if v["metric"] not in metrics:
                metrics.append(v["metric"])
    index = [tuple(r) for r in out[[*keys, "case_id"]].itertuples(index=False)]
    for metric in metrics:
        out[CONTAINER_PREFIX + metric] = pd.Series(
            [cells.get(k, {}).get(metric) for k in index], index=out.index, dtype=float
        )
    out[SCOPE_COLUMN] = pd.Series([scopes.get(k, "") for k in index], index=out.index, dtype=str)
    return out


def _num(value: float | None) -> str:
    return "missing" if value is None else f"{value:.10g}"


def _what(v: Mapping[str, Any]) -> str:
    if v.get("case"):
        return f"{v['metric']}, case {v['case']}"
    return f"{v['metric']}, {v['track']}, {v['statistic']}"


def value_table(comparison: Mapping[str, Any]) -> list[str]:
    """Every compared value as the lines of a table: path, selma3d's value, both numbers."""
    values = comparison.get("values") or []
    rows = [("path", "selma3d value", "container", "selma3d", "")]
    rows += [
        (v["path"], _what(v), _num(v["container"]), _num(v["selma3d"]),
         "differs" if v.get("differs") else "")
        for v in values
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return [
        f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}"
        f"  {r[4]}".rstrip()
        for r in rows
    ]


def summary_lines(run: EvaluationRun, *, table: bool = False) -> list[str]:
    """What happened, in a few lines: status, image, ground truth, time, memory, values.

    With ``table``, every compared value (:func:`value_table`); otherwise the differences.
    """
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
        comparison = run.comparison
        differences = run.differences
        compared = comparison["compared"]
        form = comparison.get("form", "unknown")
        how = {"declared": " (round.yaml evaluation.compare)", "unknown": ""}.get(
            form, " (detected)"
        )
        lines.append(f"  metrics.json form: {form}{how}")
        if not compared:
            lines.append("  no value compared with selma3d's: none has a counterpart (see notes)")
        elif differences:
            lines.append(f"  {len(differences)} of {compared} value(s) differ from selma3d's:")
        else:
            lines.append(
                f"  {compared} value(s) compared with selma3d's: no difference beyond "
                f"{comparison['tolerance']:g}"
            )
        if table and compared:
            lines.extend(f"    {line}" for line in value_table(comparison))
        else:
            for d in differences:
                lines.append(
                    f"    {d['path']} ({_what(d)}): container {_num(d['container'])} vs "
                    f"selma3d {_num(d['selma3d'])}"
                )
        lines.extend(f"  note: {n}" for n in comparison["notes"])
    elif run.log_tail and run.status != "ok":
        lines.append("  log tail:")
        lines.extend(f"    {line}" for line in run.log_tail.splitlines())
    return lines
