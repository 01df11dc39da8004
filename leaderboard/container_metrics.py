"""An evaluation container's ``metrics.json`` beside selma3d's own scores of the same cases.

The container's file is in the SELMA3D 2026 evaluator's shape (``YingChen7/
SELMA3D2026_evaluation``, ``evaluate.py``): ``aggregates`` holds ``<category>_<metric>_<stat>``
with the category ``con`` (contiguous structures: selma3d's vessel-like track) or ``iso``
(isolated: spot-like), the metric ``dice``, ``cldice`` or ``panoptic_quality`` (selma3d's
``pq``) and the statistic ``mean`` or ``std`` (the sample standard deviation, as Python's
``statistics.stdev``); ``results`` holds one object per algorithm job. A result that names its
case (``image_name``: the organizers' file name of the case's image) is compared per case; the
2026 evaluator's results do not, and come in the order their jobs completed, so only its
aggregates are compared.

Every value the container gives for a known key is compared with selma3d's, computed from the
per-case table for the same profile (its ``track`` column); a difference beyond the tolerance
(1e-9) is flagged and named: metric, case (``all`` for an aggregate), both values.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CATEGORY_TRACKS",
    "METRIC_NAMES",
    "TOLERANCE",
    "Compared",
    "Comparison",
    "compare_container_metrics",
    "metrics_problems",
]

TOLERANCE = 1e-9
"""Differences up to this are rounding, not a different computation."""
CATEGORY_TRACKS: Mapping[str, str] = {"con": "vessel", "iso": "spot"}
"""The 2026 evaluator's categories and selma3d's tracks."""
METRIC_NAMES: Mapping[str, str] = {"dice": "dice", "cldice": "cldice", "panoptic_quality": "pq"}
"""The 2026 evaluator's metric names and selma3d's columns."""
_AGGREGATE = re.compile(r"^(con|iso)_(dice|cldice|panoptic_quality)_(mean|std)$")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def metrics_problems(metrics: Any) -> list[str]:
    """What makes a parsed ``metrics.json`` unusable; empty when it can be compared.

    It must be an object; ``aggregates``, when present, an object whose values are numbers or
    null; ``results``, when present, a list of objects whose metric values are numbers or null.

    Examples
    --------
    >>> metrics_problems({"aggregates": {"con_dice_mean": "0.9"}})
    ["aggregates.con_dice_mean is '0.9', not a number"]
    >>> metrics_problems([1, 2])
    ['metrics.json holds a list, not an object']
    """
    if not isinstance(metrics, dict):
        return [f"metrics.json holds a {type(metrics).__name__}, not an object"]
    problems = []
    aggregates = metrics.get("aggregates", {})
    if not isinstance(aggregates, dict):
        problems.append(f"aggregates is a {type(aggregates).__name__}, not an object")
    else:
        for key, value in aggregates.items():
            if value is not None and not _is_number(value):
                problems.append(f"aggregates.{key} is {value!r:.60}, not a number")
    results = metrics.get("results", [])
    if not isinstance(results, list):
        problems.append(f"results is a {type(results).__name__}, not a list")
    else:
        for i, result in enumerate(results):
            if not isinstance(result, dict):
                problems.append(f"results[{i}] is a {type(result).__name__}, not an object")
                continue
            for key in METRIC_NAMES:
                value = result.get(key)
                if value is not None and not _is_number(value):
                    problems.append(f"results[{i}].{key} is {value!r:.60}, not a number")
    if "aggregates" not in metrics and "results" not in metrics:
        problems.append("metrics.json has neither 'aggregates' nor 'results'")
    return problems


@dataclass(frozen=True)
class Compared:
    """One value of the container beside selma3d's.

    Attributes
    ----------
    metric : str
        The container's name (``con_dice_mean``, or ``dice`` for a case).
    case : str
        The case id, or ``all`` for an aggregate.
    container, selma3d : float or None
    """

    metric: str
    case: str
    container: float | None
    selma3d: float | None

    @property
    def differs(self) -> bool:
        """Whether the two differ beyond :data:`TOLERANCE` (a missing value differs)."""
        a, b = self.container, self.selma3d
        if a is None or b is None:
            return (a is None) != (b is None)
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) != math.isnan(b)
        return abs(a - b) > TOLERANCE

    def describe(self) -> str:
        """``con_dice_mean (all): container 0.91 vs selma3d 0.9``."""
        return (
            f"{self.metric} ({self.case}): container {_text(self.container)} vs selma3d "
            f"{_text(self.selma3d)}"
        )

    def as_record(self) -> dict[str, Any]:
        """The value as ``round.json`` records it."""
        return {
            "metric": self.metric,
            "case": self.case,
            "container": self.container,
            "selma3d": self.selma3d,
            "differs": self.differs,
        }


def _text(value: float | None) -> str:
    return "missing" if value is None else f"{value:.10g}"


@dataclass(frozen=True)
class Comparison:
    """Every compared value, and what could not be compared."""

    values: tuple[Compared, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def differences(self) -> tuple[Compared, ...]:
        """The values that differ beyond :data:`TOLERANCE`."""
        return tuple(v for v in self.values if v.differs)

    def as_record(self) -> dict[str, Any]:
        """The comparison as ``round.json`` records it."""
        return {
            "compared": len(self.values),
            "differences": [v.as_record() for v in self.differences],
            "values": [v.as_record() for v in self.values],
            "notes": list(self.notes),
            "tolerance": TOLERANCE,
        }


def _selma3d_stat(values: Sequence[float], stat: str) -> float | None:
    if stat == "mean":
        return float(statistics.fmean(values)) if values else None
    return float(statistics.stdev(values)) if len(values) > 1 else None


def compare_container_metrics(
    metrics: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    *,
    case_of_image: Mapping[str, str],
) -> Comparison:
    """Compare a container's ``metrics.json`` with selma3d's per-case rows of the same cases.

    Parameters
    ----------
    metrics : mapping
        The parsed ``metrics.json`` (checked with :func:`metrics_problems`).
    rows : sequence of mapping
        selma3d's rows of this submission: ``case_id``, ``track`` and the metric columns.
    case_of_image : mapping of str to str, keyword-only
        Image file name (the name the container knows a case by) -> case id.

    Examples
    --------
    >>> rows = [{"case_id": "a", "track": "vessel", "dice": 0.5, "cldice": 0.25},
    ...         {"case_id": "b", "track": "vessel", "dice": 1.0, "cldice": 0.75}]
    >>> m = {"aggregates": {"con_dice_mean": 0.76, "con_cldice_mean": 0.5},
    ...      "results": [{"image_name": "a.mha", "dice": 0.5, "cldice": 0.25}]}
    >>> [v.describe() for v in compare_container_metrics(
    ...     m, rows, case_of_image={"a.mha": "a"}).differences]
    ['con_dice_mean (all): container 0.76 vs selma3d 0.75']
    """
    values: list[Compared] = []
    notes: list[str] = []
    by_case = {str(r["case_id"]): r for r in rows}
    aggregates = metrics.get("aggregates") or {}
    for key in sorted(aggregates):
        m = _AGGREGATE.match(key)
        if m is None:
            notes.append(f"aggregates.{key}: no selma3d counterpart; not compared")
            continue
        category, metric, stat = m.groups()
        column = METRIC_NAMES[metric]
        track_rows = [r for r in rows if r["track"] == CATEGORY_TRACKS[category]]
        own = [float(r[column]) for r in track_rows if _present(r.get(column))]
        theirs = aggregates[key]
        container = None if theirs is None else float(theirs)
        values.append(Compared(key, "all", container, _selma3d_stat(own, stat)))
    results = metrics.get("results") or []
    named = [r for r in results if isinstance(r.get("image_name"), str)]
    if results and not named:
        notes.append(
            f"results: {len(results)} per-job values do not name their case (image_name); "
            "only the aggregates are compared"
        )
    for result in named:
        case = case_of_image.get(result["image_name"])
        if case is None or case not in by_case:
            notes.append(f"results: {result['image_name']!r} is no case of this submission")
            continue
        row = by_case[case]
        for name, column in METRIC_NAMES.items():
            if name in result:
                theirs = result[name]
                own = float(row[column]) if _present(row.get(column)) else None
                values.append(Compared(name, case, None if theirs is None else float(theirs), own))
    return Comparison(tuple(values), tuple(notes))


def _present(value: Any) -> bool:
    if value is None:
        return False
    try:
        return not math.isnan(float(value))
    except (TypeError, ValueError):
        return False
