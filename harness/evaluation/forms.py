"""Which values of a ``metrics.json`` are which of selma3d's: its form, detected or declared.

What selma3d compares is a mapping from the container's values (each by its path) to its own
values (:class:`Target`: a metric, a track or a case, a statistic). It comes from one of three
forms:

``selma3d-2026`` (the SELMA3D 2026 evaluator's flat keys, ``YingChen7/SELMA3D2026_evaluation``)
    ``aggregates.<category>_<metric>_<statistic>``: the category ``con`` (contiguous: selma3d's
    vessel-like track) or ``iso`` (isolated: spot-like), the metric ``dice``, ``cldice`` or
    ``panoptic_quality`` (selma3d's ``pq``), the statistic ``mean`` or ``std`` (sample standard
    deviation); ``results``: one object per job, compared per case where it names its case
    (``image_name``: the organizers' file name of the case's image). grand-challenge-forge's
    example evaluation writes the same two keys.
``evalutils`` (evalutils' ``BaseEvaluation`` and the evaluation containers built on it)
    ``aggregates.<column>.<statistic>``: pandas' ``describe()`` of each per-case column
    (``mean``, ``std``, ``min``, ``max``, ``25%``, ``50%``, ``75%``, ``count``; evalutils 0.3
    and later write ``25pc``...); ``case``: the per-case table as pandas' ``to_dict()`` writes
    it (``{column: {row: value}}``), compared per case through the column that holds the cases'
    image file names (``pred_fname``, ``input file name``, ...). A column is a metric by its
    name (``dice``, ``DiceCoefficient``, ``clDice``, ``pq``, ``panoptic_quality``...), of all
    cases or, with a prefix (``vessel_``, ``spot_``, ``con_``, ``iso_``), of one track.
declared (round.yaml ``evaluation.compare:``)
    For any other evaluator: each path (grand-challenge's syntax, ``aggregates.dice.mean``)
    and the value of selma3d's it is.

A compared value that is neither a number nor null, or a case name that is not a string, makes
the file ``invalid_metrics``, naming its path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.evaluation.metrics_json import MISSING, get_jsonpath
from metrics import METRIC_COLUMNS, TRACKS

__all__ = [
    "CATEGORY_TRACKS",
    "FORMS",
    "STATISTICS",
    "CompareTarget",
    "Entry",
    "Plan",
    "Target",
    "compare_paths_problems",
    "detect_form",
    "metric_of_column",
    "plan_comparison",
]

STATISTICS = ("mean", "std", "median", "min", "max", "25%", "50%", "75%", "count")
"""What selma3d computes over a track's cases (``std``: the sample standard deviation;
quartiles: linear interpolation, as pandas' ``describe()``)."""
FORMS = ("selma3d-2026", "evalutils", "declared")
"""The forms of ``metrics.json`` selma3d reads."""
CATEGORY_TRACKS: Mapping[str, str] = {"con": "vessel", "iso": "spot"}
"""The 2026 evaluator's categories and selma3d's tracks."""
_FLAT_METRICS: Mapping[str, str] = {"dice": "dice", "cldice": "cldice", "panoptic_quality": "pq"}
_FLAT_AGGREGATE = re.compile(
    r"^(con|iso)_(dice|cldice|panoptic_quality)_(mean|std|median|min|max|count)$"
)
_STAT_ALIASES = {
    **{s: s for s in STATISTICS},
    "25pc": "25%", "50pc": "50%", "75pc": "75%",
}
# Column names (lower case, letters and digits only) -> selma3d's metric.
_METRIC_ALIASES = {
    **{c.replace("_", ""): c for c in METRIC_COLUMNS},
    "dicecoefficient": "dice", "dicescore": "dice", "dsc": "dice",
    "panopticquality": "pq", "f1": "blob_f1",
}
_TRACK_PREFIXES = {"vessel": "vessel", "spot": "spot", **CATEGORY_TRACKS}


@dataclass(frozen=True)
class Target:
    """A value of selma3d's: a metric of one case, or a statistic of a track's (or all) cases.

    Attributes
    ----------
    metric : str
        A column of selma3d's per-case table (``dice``, ``cldice``, ``pq``...).
    track : str
        ``vessel``, ``spot`` or ``all`` (every case); for a case, the case's track.
    statistic : str
        One of :data:`STATISTICS`, or ``""`` for a case's own value.
    case : str
        The case id, or ``""`` for a statistic.
    """

    metric: str
    track: str = "all"
    statistic: str = ""
    case: str = ""

    def describe(self) -> str:
        """``dice, vessel, mean`` or ``dice, case vessel_000``."""
        if self.case:
            return f"{self.metric}, case {self.case}"
        return f"{self.metric}, {self.track}, {self.statistic}"


class CompareTarget(BaseModel):
    """One entry of round.yaml ``evaluation.compare:``: what selma3d value a path holds.

    ::

        evaluation:
          compare:
            aggregates.DiceVessel.mean: {metric: dice, track: vessel, statistic: mean}
            aggregates.DiceAll.std: {metric: dice, statistic: std}
            per_case.v0.dice: {metric: dice, case: vessel_000}

    Attributes
    ----------
    metric : str
        A column of selma3d's per-case table.
    track : str
        ``all`` (default), ``vessel`` or ``spot``; with ``statistic``.
    statistic : str, optional
        One of :data:`STATISTICS`.
    case : str, optional
        A case id; exactly one of ``statistic`` and ``case`` is given.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: Literal[METRIC_COLUMNS]  # type: ignore[valid-type]
    track: Literal["all", *TRACKS] = "all"  # type: ignore[valid-type]
    statistic: Literal[STATISTICS] | None = None  # type: ignore[valid-type]
    case: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_of(self) -> CompareTarget:
        if (self.statistic is None) == (self.case is None):
            raise ValueError("give exactly one of 'statistic' (with 'track') and 'case'")
        if self.case is not None and "track" in self.model_fields_set:
            raise ValueError("'track' goes with 'statistic'; a case has its own track")
        return self

    def target(self) -> Target:
        """The :class:`Target` it declares."""
        if self.case is not None:
            return Target(self.metric, "", "", self.case)
        return Target(self.metric, self.track, str(self.statistic))


def compare_paths_problems(compare: Mapping[str, Any]) -> list[str]:
    """Paths of ``evaluation.compare`` that grand-challenge could not read (empty keys)."""
    return [
        f"evaluation.compare: {path!r} is not a path of keys joined by '.'"
        for path in compare
        if not path or any(part == "" for part in path.split("."))
    ]


@dataclass(frozen=True)
class Entry:
    """One container value to compare: where it is, what it is, and the value."""

    path: str
    target: Target
    value: Any


@dataclass(frozen=True)
class Plan:
    """What is compared in one ``metrics.json``, and what is not.

    Attributes
    ----------
    form : str
        One of :data:`FORMS`, or ``unknown``.
    entries : tuple of Entry
    notes : tuple of str
        Values not compared, and why.
    problems : tuple of str
        Values of a wrong type (each names its path): the file is ``invalid_metrics``.
    """

    form: str
    entries: tuple[Entry, ...] = ()
    notes: tuple[str, ...] = ()
    problems: tuple[str, ...] = field(default=())


_LISTED = 10
"""Items named in one note; the rest are counted (a note stays one line, whatever the file)."""


def _listed(what: str, items: Sequence[str]) -> list[str]:
    """One note naming the first :data:`_LISTED` of ``items``, or none for no items."""
    if not items:
        return []
    more = len(items) - _LISTED
    return [f"{what}: {', '.join(items[:_LISTED])}" + (f" and {more} more" if more > 0 else "")]


def _kind(value: Any) -> str:
    return "null" if value is None else {
        dict: "an object", list: "a list", str: "a string", bool: "a boolean",
    }.get(type(value), f"a {type(value).__name__}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_number(path: str, value: Any, problems: list[str]) -> bool:
    if value is None or _is_number(value):
        return True
    problems.append(f"{path} is {_kind(value)} ({value!r:.40}), not a number")
    return False


def metric_of_column(name: str) -> tuple[str, str] | None:
    """``(track, metric)`` of a per-case column named ``name``; None for no selma3d metric.

    Examples
    --------
    >>> metric_of_column("DiceCoefficient"), metric_of_column("vessel_clDice")
    (('all', 'dice'), ('vessel', 'cldice'))
    >>> metric_of_column("pred_fname") is None
    True
    """
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    if key in _METRIC_ALIASES:
        return "all", _METRIC_ALIASES[key]
    for prefix, track in _TRACK_PREFIXES.items():
        if key.startswith(prefix) and key[len(prefix):] in _METRIC_ALIASES:
            return track, _METRIC_ALIASES[key[len(prefix):]]
    return None


def _case_key(name: str) -> str:
    """A file name without its folders and image extensions, to match a case by."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    for ext in (".nii.gz", ".nii", ".mha", ".mhd", ".tif", ".tiff", ".nrrd"):
        if base.lower().endswith(ext):
            return base[: -len(ext)]
    return base


def _case_lookup(case_of_image: Mapping[str, str]) -> dict[str, str]:
    lookup = {_case_key(image): case for image, case in case_of_image.items()}
    lookup.update({case: case for case in case_of_image.values()})
    return lookup


def detect_form(metrics: Mapping[str, Any]) -> str:
    """``evalutils``, ``selma3d-2026`` or ``unknown`` for a parsed ``metrics.json``."""
    aggregates = metrics.get("aggregates")
    if isinstance(aggregates, dict):
        nested = [v for v in aggregates.values() if isinstance(v, dict)]
        if any(set(v) & set(_STAT_ALIASES) for v in nested) or isinstance(
            metrics.get("case"), dict | list
        ):
            return "evalutils"
        if any(_FLAT_AGGREGATE.match(str(k)) for k in aggregates):
            return "selma3d-2026"
    results = metrics.get("results")
    if isinstance(results, list):
        return "selma3d-2026"
    if isinstance(metrics.get("case"), dict | list):
        return "evalutils"
    return "unknown"


def plan_comparison(
    metrics: Mapping[str, Any],
    *,
    case_of_image: Mapping[str, str],
    track_of_case: Mapping[str, str],
    compare: Mapping[str, CompareTarget] | None = None,
) -> Plan:
    """The container values to compare with selma3d's, by the declared or the detected form.

    Parameters
    ----------
    metrics : mapping
        The parsed ``metrics.json``.
    case_of_image : mapping of str to str, keyword-only
        Image file name (the name the container knows a case by) -> case id.
    track_of_case : mapping of str to str, keyword-only
        Case id -> its track.
    compare : mapping of str to CompareTarget, keyword-only, optional
        round.yaml ``evaluation.compare``: when given, only these paths are compared.
    """
    if compare:
        return _declared(metrics, compare)
    form = detect_form(metrics)
    if form == "evalutils":
        return _evalutils(metrics, case_of_image, track_of_case)
    if form == "selma3d-2026":
        return _flat(metrics, case_of_image, track_of_case)
    return Plan(
        "unknown",
        notes=(
            "metrics.json is in no form selma3d knows (SELMA3D 2026's flat aggregates and "
            "results, evalutils' nested aggregates and case table): nothing compared; declare "
            "what its values are in round.yaml evaluation.compare",
        ),
    )


def _declared(metrics: Mapping[str, Any], compare: Mapping[str, CompareTarget]) -> Plan:
    entries: list[Entry] = []
    problems: list[str] = []
    for path, declared in compare.items():
        value = get_jsonpath(metrics, path)
        if value is MISSING:
            value = None
        elif not _check_number(path, value, problems):
            continue
        entries.append(Entry(path, declared.target(), value))
    return Plan("declared", tuple(entries), (), tuple(problems))


def _aggregates(metrics: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    """The statistics both built-in forms keep under ``aggregates``; ``{}`` (told) if no object."""
    aggregates = metrics.get("aggregates", {})
    if not isinstance(aggregates, dict):
        problems.append(f"aggregates is {_kind(aggregates)}, not an object")
        return {}
    return aggregates


def _flat(
    metrics: Mapping[str, Any], case_of_image: Mapping[str, str], track_of_case: Mapping[str, str]
) -> Plan:
    entries: list[Entry] = []
    notes: list[str] = []
    problems: list[str] = []
    aggregates = _aggregates(metrics, problems)
    unknown: list[str] = []
    for key in sorted(aggregates, key=str):
        path = f"aggregates.{key}"
        m = _FLAT_AGGREGATE.match(str(key))
        if m is None:
            unknown.append(path)
            continue
        category, metric, stat = m.groups()
        if _check_number(path, aggregates[key], problems):
            target = Target(_FLAT_METRICS[metric], CATEGORY_TRACKS[category], stat)
            entries.append(Entry(path, target, aggregates[key]))
    results = metrics.get("results", [])
    if not isinstance(results, list):
        problems.append(f"results is {_kind(results)}, not a list")
        results = []
    notes += _listed("no selma3d counterpart, not compared", unknown)
    lookup = _case_lookup(case_of_image)
    unnamed = 0
    strangers: list[str] = []
    seen: set[str] = set()
    for i, result in enumerate(results):
        if not isinstance(result, dict):
            problems.append(f"results[{i}] is {_kind(result)}, not an object")
            continue
        name = result.get("image_name")
        if name is None:
            unnamed += 1
            continue
        if not isinstance(name, str):
            problems.append(f"results[{i}].image_name is {_kind(name)}, not a string")
            continue
        case = lookup.get(_case_key(name))
        if case is None or case in seen:
            strangers.append(f"results[{i}].image_name {name!r:.80}")
            continue
        seen.add(case)
        for key, metric in _FLAT_METRICS.items():
            if key in result and _check_number(f"results[{i}].{key}", result[key], problems):
                target = Target(metric, track_of_case.get(case, ""), "", case)
                entries.append(Entry(f"results[{i}].{key}", target, result[key]))
    notes += _listed("no case of this submission, or one named before; not compared", strangers)
    if unnamed:
        notes.append(
            f"results: {unnamed} per-job value(s) do not name their case (image_name); only "
            "the aggregates are compared"
        )
    return Plan("selma3d-2026", tuple(entries), tuple(notes), tuple(problems))


def _case_columns(table: Any, problems: list[str]) -> dict[str, dict[str, Any]]:
    """The ``case`` table of evalutils as column -> row -> value (``to_dict()`` or rows)."""
    if isinstance(table, list):
        columns: dict[str, dict[str, Any]] = {}
        for i, row in enumerate(table):
            if not isinstance(row, dict):
                problems.append(f"case[{i}] is {_kind(row)}, not an object")
                continue
            for column, value in row.items():
                columns.setdefault(str(column), {})[str(i)] = value
        return columns
    columns = {}
    for column, rows in table.items():
        if not isinstance(rows, dict):
            problems.append(
                f"case.{column} is {_kind(rows)}, not an object (evalutils' case table maps "
                "each column to {row: value})"
            )
            continue
        columns[str(column)] = {str(k): v for k, v in rows.items()}
    return columns


def _evalutils(
    metrics: Mapping[str, Any], case_of_image: Mapping[str, str], track_of_case: Mapping[str, str]
) -> Plan:
    entries: list[Entry] = []
    notes: list[str] = []
    problems: list[str] = []
    aggregates = _aggregates(metrics, problems)
    unknown: list[str] = []
    for column in sorted(aggregates, key=str):
        path = f"aggregates.{column}"
        metric = metric_of_column(str(column))
        stats = aggregates[column]
        if metric is None or not isinstance(stats, dict):
            # Not a metric, or one number with no statistic named (evalutils'
            # score_aggregates overridden).
            unknown.append(path)
            continue
        for stat in sorted(stats, key=str):
            canonical = _STAT_ALIASES.get(str(stat))
            if canonical is None:
                unknown.append(f"{path}.{stat}")
                continue
            if _check_number(f"{path}.{stat}", stats[stat], problems):
                target = Target(metric[1], metric[0], canonical)
                entries.append(Entry(f"{path}.{stat}", target, stats[stat]))
    notes += _listed("no selma3d counterpart, not compared", unknown)
    table = metrics.get("case")
    if table is None:
        notes.append("no case table: only the aggregates are compared")
        return Plan("evalutils", tuple(entries), tuple(notes), tuple(problems))
    if not isinstance(table, dict | list):
        problems.append(f"case is {_kind(table)}, not an object")
        return Plan("evalutils", tuple(entries), tuple(notes), tuple(problems))
    columns = _case_columns(table, problems)
    lookup = _case_lookup(case_of_image)
    naming, named = "", {}
    for column, rows in columns.items():
        found: dict[str, str] = {}
        for row, v in rows.items():
            case = lookup.get(_case_key(v)) if isinstance(v, str) else None
            if case is not None and case not in found.values():
                found[row] = case
        if len(found) > len(named):
            naming, named = column, found
    if not named:
        notes.append(
            "case: no column holds the cases' image file names; per-case values not compared"
        )
        return Plan("evalutils", tuple(entries), tuple(notes), tuple(problems))
    notes += _listed(
        "no case of this submission, or one named before; not compared",
        [f"case.{naming}.{row} {value!r:.80}" for row, value in columns[naming].items()
         if row not in named],
    )
    for column, rows in columns.items():
        metric = metric_of_column(column)
        if metric is None:
            continue
        for row, case in named.items():
            if row not in rows:
                continue
            # to_dict()'s table is addressed by path; a list of rows by index.
            path = f"case.{column}.{row}" if isinstance(table, dict) else f"case[{row}].{column}"
            if _check_number(path, rows[row], problems):
                target = Target(metric[1], track_of_case.get(case, ""), "", case)
                entries.append(Entry(path, target, rows[row]))
    notes.append(f"case: cases named by the column {naming!r}")
    return Plan("evalutils", tuple(entries), tuple(notes), tuple(problems))
