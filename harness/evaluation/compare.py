"""An evaluation container's values beside selma3d's own scores of the same cases.

Each value of the container's ``metrics.json`` that :mod:`harness.evaluation.forms` maps to one
of selma3d's (a case's metric, or a statistic of a track's cases) is compared with selma3d's,
computed from its per-case rows of the same submission; a difference beyond :data:`TOLERANCE`
is flagged and named: the path, what it is, both values. A value the container gives as null
(or NaN, read as no value) differs from a value selma3d has, and agrees with none.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.evaluation.forms import CompareTarget, Plan, Target, plan_comparison

__all__ = ["TOLERANCE", "Compared", "Comparison", "compare_metrics", "selma3d_value"]

TOLERANCE = 1e-9
"""Differences up to this are rounding, not a different computation."""


@dataclass(frozen=True)
class Compared:
    """One value of the container beside selma3d's.

    Attributes
    ----------
    path : str
        Where the container's value is (``aggregates.con_dice_mean``, ``results[2].dice``,
        ``case.DiceCoefficient.3``).
    target : Target
        Which value of selma3d's it is.
    container, selma3d : float or None
    """

    path: str
    target: Target
    container: float | None
    selma3d: float | None

    @property
    def differs(self) -> bool:
        """Whether the two differ beyond :data:`TOLERANCE` (a missing value differs)."""
        a, b = self.container, self.selma3d
        if a is None or b is None:
            return (a is None) != (b is None)
        return abs(a - b) > TOLERANCE

    def describe(self) -> str:
        """``aggregates.con_dice_mean (dice, vessel, mean): container 0.91 vs selma3d 0.9``."""
        return (
            f"{self.path} ({self.target.describe()}): container {_text(self.container)} vs "
            f"selma3d {_text(self.selma3d)}"
        )

    def as_record(self) -> dict[str, Any]:
        """The value as ``round.json`` records it."""
        return {
            "path": self.path,
            "metric": self.target.metric,
            "track": self.target.track,
            "statistic": self.target.statistic,
            "case": self.target.case,
            "container": self.container,
            "selma3d": self.selma3d,
            "differs": self.differs,
        }


def _text(value: float | None) -> str:
    return "missing" if value is None else f"{value:.10g}"


@dataclass(frozen=True)
class Comparison:
    """Every compared value, the form they were read in, and what could not be compared."""

    form: str
    values: tuple[Compared, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def differences(self) -> tuple[Compared, ...]:
        """The values that differ beyond :data:`TOLERANCE`."""
        return tuple(v for v in self.values if v.differs)

    def as_record(self) -> dict[str, Any]:
        """The comparison as ``round.json`` records it."""
        return {
            "form": self.form,
            "compared": len(self.values),
            "differences": [v.as_record() for v in self.differences],
            "values": [v.as_record() for v in self.values],
            "notes": list(self.notes),
            "tolerance": TOLERANCE,
        }


def _present(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def selma3d_value(target: Target, rows: Sequence[Mapping[str, Any]]) -> float | None:
    """selma3d's value for ``target`` from its per-case rows; None where it has none.

    A statistic is over the cases of the track (every case for ``all``) that have the metric;
    ``std`` is the sample standard deviation (None for one case), quartiles interpolate
    linearly between cases (pandas' ``describe()``), ``count`` is the number of such cases.

    Examples
    --------
    >>> rows = [{"case_id": "a", "track": "vessel", "dice": 0.5},
    ...         {"case_id": "b", "track": "vessel", "dice": 1.0},
    ...         {"case_id": "c", "track": "spot", "dice": 0.0}]
    >>> selma3d_value(Target("dice", "vessel", "mean"), rows)
    0.75
    >>> selma3d_value(Target("dice", "all", "25%"), rows)
    0.25
    >>> selma3d_value(Target("dice", case="c"), rows)
    0.0
    """
    if target.case:
        for row in rows:
            if str(row["case_id"]) == target.case:
                value = row.get(target.metric)
                return float(value) if _present(value) else None
        return None
    values = [
        float(r[target.metric])
        for r in rows
        if (target.track == "all" or r["track"] == target.track) and _present(r.get(target.metric))
    ]
    stat = target.statistic
    if stat == "count":
        return float(len(values))
    if not values:
        return None
    if stat == "mean":
        return float(statistics.fmean(values))
    if stat == "std":
        return float(statistics.stdev(values)) if len(values) > 1 else None
    if stat in ("median", "50%"):
        return float(statistics.median(values))
    if stat == "min":
        return min(values)
    if stat == "max":
        return max(values)
    return float(np.percentile(values, float(stat.rstrip("%"))))


def compare_plan(plan: Plan, rows: Sequence[Mapping[str, Any]]) -> Comparison:
    """Each entry of ``plan`` beside selma3d's value from ``rows``."""
    values = tuple(
        Compared(
            entry.path,
            entry.target,
            None if entry.value is None else float(entry.value),
            selma3d_value(entry.target, rows),
        )
        for entry in plan.entries
    )
    return Comparison(plan.form, values, plan.notes)


def compare_metrics(
    metrics: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    *,
    case_of_image: Mapping[str, str],
    compare: Mapping[str, CompareTarget] | None = None,
) -> tuple[Comparison | None, list[str]]:
    """Compare a container's ``metrics.json`` with selma3d's rows of the same cases.

    Parameters
    ----------
    metrics : mapping
        The parsed ``metrics.json`` (:func:`~harness.evaluation.metrics_json.read_metrics`).
    rows : sequence of mapping
        selma3d's rows of this submission: ``case_id``, ``track`` and the metric columns.
    case_of_image : mapping of str to str, keyword-only
        Image file name (the name the container knows a case by) -> case id.
    compare : mapping, keyword-only, optional
        round.yaml ``evaluation.compare``, for an evaluator in no built-in form.

    Returns
    -------
    (Comparison or None, list of str)
        The comparison, or None and the values of a wrong type (each naming its path).

    Examples
    --------
    >>> rows = [{"case_id": "a", "track": "vessel", "dice": 0.5, "cldice": 0.25},
    ...         {"case_id": "b", "track": "vessel", "dice": 1.0, "cldice": 0.75}]
    >>> m = {"aggregates": {"con_dice_mean": 0.76, "con_cldice_mean": 0.5},
    ...      "results": [{"image_name": "a.mha", "dice": 0.5, "cldice": 0.25}]}
    >>> comparison, _ = compare_metrics(m, rows, case_of_image={"a.mha": "a"})
    >>> comparison.form
    'selma3d-2026'
    >>> [v.describe() for v in comparison.differences]
    ['aggregates.con_dice_mean (dice, vessel, mean): container 0.76 vs selma3d 0.75']
    """
    track_of_case = {str(r["case_id"]): str(r["track"]) for r in rows}
    plan = plan_comparison(
        metrics, case_of_image=case_of_image, track_of_case=track_of_case, compare=compare
    )
    if plan.problems:
        return None, list(plan.problems)
    return compare_plan(plan, rows), []
