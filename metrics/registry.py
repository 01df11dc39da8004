"""The metric registry: the tracks, and each metric's direction, bounds and worst value, once.

The leaderboard reads directions, default ranked metrics and worst values from here and from
nowhere else, so a metric cannot be ranked in a direction other than the one registered; the
evaluation reads the worst values a failed case gets from here too (``metrics.missing_scores``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import Literal, get_args

import numpy as np

from metrics.betti import betti0_error, betti1_error
from metrics.blob_f1 import blob_f1
from metrics.cldice import cldice
from metrics.dice import dice
from metrics.matching import match_blobs
from metrics.pq import panoptic_quality

__all__ = [
    "METRICS",
    "METRIC_COLUMNS",
    "REFERENCE_WORST",
    "TRACKS",
    "TRACK_METRICS",
    "MetricSpec",
    "Track",
    "metric_spec",
]

Track = Literal["vessel", "spot"]
TRACKS: tuple[str, ...] = get_args(Track)
"""The leaderboard tracks: vessel-like (thin, branching) and spot-like (blobs) structures."""

REFERENCE_WORST: tuple[str, ...] = ("n_reference", "b0(R)", "b1(R)")
"""Names a worst value may take when it depends on the reference, as ``metrics.empty`` writes
them: its blob instances and its Betti numbers b0, b1."""


@dataclass(frozen=True, kw_only=True)
class MetricSpec:
    """How one metric is computed and read.

    Attributes
    ----------
    name : str
        Column name in evaluation tables.
    fn : callable
        ``fn(reference, prediction, **options) -> float | int`` on two masks.
    higher_is_better : bool
        Direction used for ranking.
    bounds : tuple of float
        ``(low, high)``; ``math.inf`` for unbounded counts and errors.
    tracks : tuple of str
        Tracks (among ``TRACKS``) whose cases get this metric.
    ranked_by_default : bool
        Whether a leaderboard ranks on it unless configured otherwise.
    worst : float or str
        Value of a case whose prediction is missing or invalid: a number, or, when it depends
        on the reference, the name (in ``REFERENCE_WORST``) of the reference's quantity it
        equals: the errors of an empty prediction (``metrics.missing_scores`` fills them in).
    description : str
        One line for reports.
    """

    name: str
    fn: Callable[..., float | int]
    higher_is_better: bool
    bounds: tuple[float, float]
    tracks: tuple[str, ...]
    ranked_by_default: bool
    worst: float | str
    description: str = ""

    def __post_init__(self) -> None:
        low, high = self.bounds
        if not low < high:
            raise ValueError(
                f"MetricSpec {self.name!r}: bounds must be (low, high). Got {self.bounds}."
            )
        if not self.tracks or not set(self.tracks) <= set(TRACKS):
            raise ValueError(
                f"MetricSpec {self.name!r}: tracks must be among {TRACKS}. Got {self.tracks}."
            )
        if isinstance(self.worst, str):
            if self.worst not in REFERENCE_WORST:
                raise ValueError(
                    f"MetricSpec {self.name!r}: a worst value that depends on the reference must "
                    f"be one of {REFERENCE_WORST}. Got {self.worst!r}."
                )
        elif not low <= self.worst <= high:
            raise ValueError(
                f"MetricSpec {self.name!r}: worst must lie within {self.bounds}. Got {self.worst}."
            )

    @property
    def best(self) -> float:
        """The best possible value: the upper bound if higher is better, else the lower."""
        return self.bounds[1] if self.higher_is_better else self.bounds[0]

    @property
    def integer(self) -> bool:
        """Whether values are whole numbers: the unbounded metrics are counts and count errors."""
        return math.isinf(self.bounds[1])


def _blob_field(
    reference: np.ndarray, prediction: np.ndarray, *, field: str, **options: object
) -> float | int:
    return getattr(match_blobs(reference, prediction, **options), field)  # type: ignore[arg-type]


_UNIT = (0.0, 1.0)
_COUNT = (0.0, math.inf)
_SPECS = (
    MetricSpec(name="dice", fn=dice, higher_is_better=True, bounds=_UNIT,
               tracks=TRACKS, ranked_by_default=True, worst=0.0,
               description="Dice overlap of the masks"),
    MetricSpec(name="cldice", fn=cldice, higher_is_better=True, bounds=_UNIT,
               tracks=("vessel",), ranked_by_default=True, worst=0.0,
               description="centerline Dice (hard 3D skeletons)"),
    MetricSpec(name="blob_f1", fn=blob_f1, higher_is_better=True, bounds=_UNIT,
               tracks=("spot",), ranked_by_default=True, worst=0.0,
               description="F1 of connected components matched one-to-one at IoU >= 0.3"),
    MetricSpec(name="blob_precision", fn=partial(_blob_field, field="precision"),
               higher_is_better=True, bounds=_UNIT, tracks=("spot",),
               ranked_by_default=False, worst=0.0, description="matched / predicted blobs"),
    MetricSpec(name="blob_recall", fn=partial(_blob_field, field="recall"),
               higher_is_better=True, bounds=_UNIT, tracks=("spot",),
               ranked_by_default=False, worst=0.0, description="matched / reference blobs"),
    MetricSpec(name="blob_tp", fn=partial(_blob_field, field="tp"), higher_is_better=True,
               bounds=_COUNT, tracks=("spot",), ranked_by_default=False, worst=0.0,
               description="matched blob pairs"),
    MetricSpec(name="blob_fp", fn=partial(_blob_field, field="fp"), higher_is_better=False,
               bounds=_COUNT, tracks=("spot",), ranked_by_default=False, worst=0.0,
               description="unmatched predicted blobs"),
    MetricSpec(name="blob_fn", fn=partial(_blob_field, field="fn"), higher_is_better=False,
               bounds=_COUNT, tracks=("spot",), ranked_by_default=False,
               worst="n_reference", description="unmatched reference blobs"),
    MetricSpec(name="pq", fn=panoptic_quality, higher_is_better=True, bounds=_UNIT,
               tracks=("spot",), ranked_by_default=False, worst=0.0,
               description="panoptic quality: blob F1 x mean Dice of matched blobs"),
    MetricSpec(name="betti0_error", fn=betti0_error, higher_is_better=False, bounds=_COUNT,
               tracks=TRACKS, ranked_by_default=False, worst="b0(R)",
               description="|b0(P) - b0(R)|: difference in connected components"),
    MetricSpec(name="betti1_error", fn=betti1_error, higher_is_better=False, bounds=_COUNT,
               tracks=("vessel",), ranked_by_default=False, worst="b1(R)",
               description="|b1(P) - b1(R)|: difference in loops (tunnels)"),
)  # fmt: skip

METRICS: Mapping[str, MetricSpec] = MappingProxyType({s.name: s for s in _SPECS})
"""Metric name -> MetricSpec, in ``METRIC_COLUMNS`` order."""

METRIC_COLUMNS: tuple[str, ...] = tuple(METRICS)
"""The per-case metric columns of an evaluation table."""

TRACK_METRICS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        track: tuple(s.name for s in _SPECS if track in s.tracks)
        for track in TRACKS
    }
)
"""Track -> its metric columns, in ``METRIC_COLUMNS`` order."""


def metric_spec(name: str) -> MetricSpec:
    """Return the spec of metric ``name``.

    Examples
    --------
    >>> metric_spec("betti0_error").higher_is_better
    False
    >>> TRACK_METRICS["vessel"]
    ('dice', 'cldice', 'betti0_error', 'betti1_error')
    """
    if name not in METRICS:
        raise KeyError(f"unknown metric {name!r}; expected one of {', '.join(METRICS)}.")
    return METRICS[name]
