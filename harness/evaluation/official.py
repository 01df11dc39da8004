"""Where the organizers' SELMA3D 2026 evaluator fails, told before a participant finds out.

The 2026 evaluator (repository YingChen7/SELMA3D2026_evaluation, ``evaluate.py``) takes each
case's category from the prefix of its input image's name (``process_interf0``: contiguous
structures first, then isolated ones, ``str.startswith``) and raises ``RuntimeError: Unknown
category: <name>`` for any other name. It then aggregates per category with
``statistics.mean`` and ``statistics.stdev``: a category with no case fails the mean, a category
with one case fails the standard deviation (``StatisticsError``), and a NaN fails the standard
deviation too (under Python 3.11: ``AttributeError``). Its values are NaN where panoptica's are:
clDice when either mask is empty (no skeleton: 0/0), PQ when both masks are empty.

:func:`official_failures` is the one rule: the reasons the evaluator fails on a submission's
cases, from each case's image name and whether its masks are empty. :func:`case_facts` reads
those facts from a split and scored rows; :func:`name_warnings` checks a split's names alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.predictions.validate import OFFICIAL_GATE, GateOptions, validate_prediction
from harness.split.checks import image_grid
from harness.split.manifest import Split
from harness.split.volume import read_volume

__all__ = [
    "CATEGORY_TRACKS",
    "CONTIGUOUS_PREFIXES",
    "ISOLATED_PREFIXES",
    "WOULD_FAIL",
    "CaseFacts",
    "case_facts",
    "category_of",
    "name_warnings",
    "official_evaluator_lines",
    "official_failures",
    "profile_name_warnings",
]

CONTIGUOUS_PREFIXES = (
    "axonalmarker", "blood_vessel", "gutnerve", "lymphatic_vessel", "peripheral_nerve",
)
"""Image-name prefixes the 2026 evaluator scores with Dice and clDice."""
ISOLATED_PREFIXES = ("AD_plaques", "cell_nuclei", "cfos_neuron", "microglia", "protein")
"""Image-name prefixes the 2026 evaluator scores with Dice and PQ."""
CATEGORY_TRACKS: Mapping[str, str] = {"contiguous": "vessel", "isolated": "spot"}
"""The evaluator's categories as selma3d's tracks."""
PROFILE = "selma3d-2026"
"""The profile whose rehearsals are held to this evaluator's rules."""
WOULD_FAIL = "the official evaluator would fail here"
"""How every reason of :func:`official_failures` is introduced."""


def category_of(image_name: str) -> str | None:
    """The 2026 evaluator's category of an image name; None when it has none (it raises).

    Examples
    --------
    >>> category_of("cell_nuclei_2301.mha"), category_of("spot_000.nii.gz")
    ('isolated', None)
    """
    if image_name.startswith(CONTIGUOUS_PREFIXES):
        return "contiguous"
    if image_name.startswith(ISOLATED_PREFIXES):
        return "isolated"
    return None


@dataclass(frozen=True)
class CaseFacts:
    """What decides whether the evaluator fails on one case.

    Attributes
    ----------
    case_id, image_name : str
    reference_empty, prediction_empty : bool or None
        None when not known (the case is then judged by its name alone).
    """

    case_id: str
    image_name: str
    reference_empty: bool | None = None
    prediction_empty: bool | None = None


def official_failures(cases: Sequence[CaseFacts]) -> list[str]:
    """Why the 2026 evaluator fails on these cases (one submission's); empty when it does not.

    Parameters
    ----------
    cases : sequence of CaseFacts
        Every case the submission's evaluation gets.

    Returns
    -------
    list of str
        One reason per cause: each image name with no category, each category with fewer than
        two cases, each case whose clDice or PQ is NaN there.

    Examples
    --------
    >>> for reason in official_failures([CaseFacts("a", "blood_vessel_1.mha"),
    ...     CaseFacts("b", "blood_vessel_2.mha", reference_empty=True, prediction_empty=False),
    ...     CaseFacts("c", "spot_000.nii.gz")]):
    ...     print(reason[:63])
    case 'c': image name spot_000.nii.gz has no category there (its
    no case of category isolated: statistics.mean of its scores rai
    case 'b': clDice is NaN there (the reference is empty), so stat
    """
    reasons = []
    counts = dict.fromkeys(CATEGORY_TRACKS, 0)
    nan_cases = []
    for case in cases:
        category = category_of(case.image_name)
        if category is None:
            reasons.append(
                f"case {case.case_id!r}: image name {case.image_name} has no category there "
                f"(its prefixes: {', '.join((*CONTIGUOUS_PREFIXES, *ISOLATED_PREFIXES))}): "
                f"RuntimeError: Unknown category: {case.image_name}"
            )
            continue
        counts[category] += 1
        ref, pred = case.reference_empty, case.prediction_empty
        if category == "contiguous" and (ref or pred):
            empty = "both masks are" if ref and pred else (
                "the reference is" if ref else "the prediction is"
            )
            nan_cases.append(
                f"case {case.case_id!r}: clDice is NaN there ({empty} empty), so "
                "statistics.stdev of the contiguous scores raises"
            )
        elif category == "isolated" and ref and pred:
            nan_cases.append(
                f"case {case.case_id!r}: PQ is NaN there (both masks are empty), so "
                "statistics.stdev of the isolated scores raises"
            )
    for category, n in counts.items():
        if n == 0:
            reasons.append(
                f"no case of category {category}: statistics.mean of its scores raises "
                "StatisticsError"
            )
        elif n == 1:
            reasons.append(
                f"one case of category {category}: statistics.stdev needs two and raises "
                "StatisticsError"
            )
    return reasons + nan_cases


def name_warnings(
    split: Split, tracks: Mapping[str, str], *, uncategorized: bool = True
) -> list[str]:
    """What the 2026 evaluator would make of a split's image names, one line per case at odds.

    Parameters
    ----------
    split : Split
    tracks : mapping of str to str
        Case id -> its track under the profile in force (selma3d's scores follow it).
    uncategorized : bool, keyword-only
        Include the cases whose name has no category (False: only the tracks at odds).

    Returns
    -------
    list of str
        A case whose image name has no category (the evaluator fails on it), and a case
        whose name's category is not its track (the evaluator scores it with the other
        category's metrics: every aggregate of both categories then differs from selma3d's).
    """
    lines = []
    for case in split.cases:
        name = case.images[0].name
        category = category_of(name)
        track = tracks.get(case.case_id, case.track)
        if category is None and uncategorized:
            lines.append(
                f"case {case.case_id!r}: image name {name} has none of the 2026 evaluator's "
                f"category prefixes; the official evaluator will fail (RuntimeError: Unknown "
                f"category: {name}). `selma3d data synth --profile selma3d-2026` names cases as "
                "the organizers do"
            )
        elif category is not None and CATEGORY_TRACKS[category] != track:
            lines.append(
                f"case {case.case_id!r} ({case.structure}): its track is {track}, but its image "
                f"name {name} makes it {category} ({CATEGORY_TRACKS[category]}-like) for the "
                "2026 evaluator, which scores it with that category's metrics: its values and "
                "both categories' aggregates will differ from selma3d's"
            )
    return lines


def case_facts(
    split: Split, rows: Sequence[Mapping[str, Any]], *, gate: GateOptions = OFFICIAL_GATE
) -> list[CaseFacts]:
    """Each scored case's image name and whether its reference and prediction are empty.

    The prediction is read through the gate, as it is staged for the evaluation container
    (``harness.evaluation.contract.stage_predictions``); a case without a readable prediction
    has ``prediction_empty`` None.
    """
    cases = {c.case_id: c for c in split.cases}
    facts = []
    for row in rows:
        case = cases.get(str(row.get("case_id")))
        if case is None:
            continue
        reference_empty = None
        if case.label is not None:
            reference_empty = not bool(np.any(read_volume(case.label).array))
        prediction_empty = None
        if row.get("status") == "ok" and row.get("prediction"):
            grid = image_grid(case.images[0])
            checked = validate_prediction(Path(row["prediction"]), grid, options=gate)
            if checked.status == "ok" and checked.mask is not None:
                prediction_empty = not bool(checked.mask.any())
        facts.append(
            CaseFacts(case.case_id, case.images[0].name, reference_empty, prediction_empty)
        )
    return facts


def official_evaluator_lines(
    split: Split, rows: Sequence[Mapping[str, Any]], *, gate: GateOptions = OFFICIAL_GATE
) -> list[str]:
    """What ``evaluate --container`` says of the 2026 evaluator on scored rows.

    :func:`official_failures`, introduced by :data:`WOULD_FAIL`, then a note for each case
    whose track (the rows') is not its image name's category there (why its values, and its
    categories' aggregates, would differ), unless the rows were scored under ``selma3d-2026``,
    whose warnings name those cases before.
    """
    lines = []
    reasons = official_failures(case_facts(split, rows, gate=gate))
    if reasons:
        lines.append(f"  {WOULD_FAIL} (the SELMA3D 2026 evaluator, on these cases):")
        lines.extend(f"    {reason}" for reason in reasons)
    if all(r.get("profile") == PROFILE for r in rows):
        return lines  # the profile's own warnings named them already
    tracks = {str(r.get("case_id")): str(r.get("track")) for r in rows}
    lines.extend(
        f"  note: {line}" for line in name_warnings(split, tracks, uncategorized=False)
    )
    return lines


def profile_name_warnings(split: Split, frame: Any, profile: str) -> list[str]:
    """:func:`name_warnings` under the ``selma3d-2026`` profile (none under another).

    ``frame`` is the scored table (``case_id``, ``track``): the tracks the profile gave.
    """
    if profile != PROFILE:
        return []
    return name_warnings(split, dict(zip(frame["case_id"], frame["track"], strict=True)))
