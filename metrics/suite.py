"""Score one case: reference-side work done once, then any number of predictions.

``prepare_reference`` does everything that depends only on the reference (bounding box,
skeleton, connected components, Betti numbers) and returns a picklable ``PreparedReference``;
``score_prediction`` then costs only the prediction's own work plus the cross terms, so scoring
several teams on one case reuses the reference. Each mask is processed on its own bounding box
and cross terms on the intersection of the two boxes (inside the box of their union). For blobs,
the reference keeps its voxels as coordinates grouped by instance; a prediction's overlaps (the
Dice intersection and every overlapping blob pair) are read at those points, never from
per-pair masks or a scan of two label boxes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from metrics._masks import (
    Box,
    binarize,
    bounding_box,
    components,
    count_at,
    count_overlap,
    intersect_boxes,
    relative,
    smallest_labels,
    values_at,
)
from metrics.betti import betti_numbers_of_box
from metrics.cldice import cldice_from_counts, skeleton_coordinates
from metrics.dice import dice_from_counts
from metrics.matching import (
    BlobMatch,
    Matching,
    check_connectivity,
    check_matching,
    check_threshold,
    match_from_overlaps,
    pair_overlaps_at_points,
)
from metrics.pq import panoptic_quality_from_match
from metrics.registry import METRICS, TRACK_METRICS, TRACKS, Track

__all__ = [
    "MetricOptions",
    "PreparedReference",
    "missing_scores",
    "prepare_reference",
    "score_prediction",
]

_EMPTY_BOX: Box = (slice(0, 1), slice(0, 1), slice(0, 1))


@dataclass(frozen=True)
class MetricOptions:
    """Options of the per-case metric suite.

    Attributes
    ----------
    connectivity : {26, 18, 6}
        Connectivity of blob instances (Betti numbers always use 26).
    iou_threshold : float
        A blob pair can match when its IoU is at least this, in ``(0, 1]``.
    matching : {"greedy", "hungarian"}
        Blob matching (see ``metrics.matching.match_blobs``).

    Examples
    --------
    >>> MetricOptions(matching="hungarian").iou_threshold
    0.3
    >>> MetricOptions(connectivity=8)
    Traceback (most recent call last):
    ...
    ValueError: connectivity must be one of (26, 18, 6). Got 8.
    """

    connectivity: int = 26
    iou_threshold: float = 0.3
    matching: Matching = "greedy"

    def __post_init__(self) -> None:
        check_connectivity(self.connectivity)
        check_threshold(self.iou_threshold)
        check_matching(self.matching)


@dataclass(frozen=True, eq=False)
class PreparedReference:
    """Everything about one reference mask that scoring a prediction needs.

    Arrays are cropped to ``box``; an empty reference holds a 1-voxel empty crop. Built by
    :func:`prepare_reference`, picklable so it can be sent to worker processes.

    Attributes
    ----------
    track : {"vessel", "spot"}
        Decides which metrics are computed (``metrics.TRACK_METRICS``).
    options : MetricOptions
        The options the preparation used.
    shape : tuple of int
        ``(Z, Y, X)`` of the full reference; predictions must match it.
    box : tuple of slice
        Bounding box of the reference foreground in the full volume.
    mask : ndarray of bool or None
        The reference inside ``box`` (vessel track; the spot track keeps ``points``).
    size : int
        Foreground voxels.
    betti0, betti1 : int
        Betti numbers; ``betti1`` is -1 when the track does not use it.
    skeleton : (3, K) ndarray of int32 or None
        Coordinates ``(z, y, x)`` inside ``box`` of the K skeleton voxels (vessel track).
    points : (3, K) ndarray of int32 or None
        Coordinates ``(z, y, x)`` inside ``box`` of the K reference voxels, grouped by blob
        instance (spot track).
    point_labels : (K,) ndarray of unsigned int or None
        The instance (``1..n``) of each point, non-decreasing.
    instance_sizes : ndarray of int64
        Voxels per instance, index ``i`` for label ``i + 1``; empty for the vessel track.
    """

    track: Track
    options: MetricOptions
    shape: tuple[int, int, int]
    box: Box
    mask: np.ndarray | None
    size: int
    betti0: int
    betti1: int = -1
    skeleton: np.ndarray | None = None
    points: np.ndarray | None = None
    point_labels: np.ndarray | None = None
    instance_sizes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def n_instances(self) -> int:
        """Number of blob instances (spot track)."""
        return int(self.instance_sizes.size)

    @property
    def columns(self) -> tuple[str, ...]:
        """The metric columns this case gets."""
        return TRACK_METRICS[self.track]


def prepare_reference(
    reference: np.ndarray, *, track: Track, options: MetricOptions | None = None
) -> PreparedReference:
    """Do all reference-only work of a case once.

    Parameters
    ----------
    reference : (Z, Y, X) ndarray
        The reference mask; any value ``> 0`` is foreground.
    track : {"vessel", "spot"}, keyword-only
        vessel: skeleton and Betti numbers b0, b1; spot: blob instances and b0.
    options : MetricOptions, optional, keyword-only
        Defaults to ``MetricOptions()``.

    Returns
    -------
    PreparedReference

    Examples
    --------
    >>> import numpy as np
    >>> r = np.zeros((4, 4, 8), np.uint8); r[1:3, 1:3, 1:7] = 1
    >>> prep = prepare_reference(r, track="vessel")
    >>> prep.box, prep.betti0, prep.betti1
    ((slice(1, 3, None), slice(1, 3, None), slice(1, 7, None)), 1, 0)
    """
    if track not in TRACKS:
        raise ValueError(f"track must be one of {TRACKS}. Got {track!r}.")
    options = options if options is not None else MetricOptions()
    if not isinstance(options, MetricOptions):
        raise TypeError(f"options must be a MetricOptions. Got {type(options).__name__}.")
    full = binarize(reference, name="reference")
    box = bounding_box(full) or _EMPTY_BOX
    mask = full[box]
    labels26, n26 = components(mask, 26)
    common = {
        "track": track,
        "options": options,
        "shape": tuple(int(s) for s in full.shape),
        "box": box,
        "size": int(np.count_nonzero(mask)),
        "betti0": n26,
    }
    if track == "vessel":
        # int32 coordinates: a fraction of a box-sized mask to keep and to send to workers.
        skel = np.array(skeleton_coordinates(mask, labels=labels26, n_labels=n26), np.int32)
        del labels26
        b1 = betti_numbers_of_box(mask, n_components=n26)[1]
        if np.asarray(reference).dtype == bool or mask.shape != full.shape:
            # A copy, so neither the caller's array (binarize passes bool input through) nor
            # the full-size one is kept alive by a view.
            mask = np.array(mask, dtype=bool, copy=True)
        return PreparedReference(**common, mask=mask, betti1=b1, skeleton=skel)
    labels, n = (
        (labels26, n26)
        if options.connectivity == 26
        else components(mask, options.connectivity)
    )
    # The reference's voxels as coordinates grouped by instance: each prediction's overlaps
    # are then read at these K points instead of across a box of labels.
    flat = np.flatnonzero(mask)
    point_labels = smallest_labels(labels.ravel()[flat], n)
    sizes = np.bincount(point_labels, minlength=n + 1)[1:].astype(np.int64)
    order = np.argsort(point_labels, kind="stable")
    points = np.array(np.unravel_index(flat[order], mask.shape), np.int32)
    return PreparedReference(
        **common, mask=None, points=points, point_labels=point_labels[order], instance_sizes=sizes
    )


def score_prediction(prepared: PreparedReference, prediction: np.ndarray) -> dict[str, float | int]:
    """Score one prediction against a prepared reference.

    Parameters
    ----------
    prepared : PreparedReference
        From :func:`prepare_reference`.
    prediction : (Z, Y, X) ndarray
        Same shape as the reference; any value ``> 0`` is foreground.

    Returns
    -------
    dict of str to float or int
        The track's columns (``prepared.columns``), in ``metrics.METRIC_COLUMNS`` order. Equal
        to the values of the single-metric functions (``metrics.dice``, ``metrics.cldice``...)
        on the full masks.

    Examples
    --------
    >>> import numpy as np
    >>> r = np.zeros((3, 3, 9), np.uint8); r[1, 1, [1, 2, 5, 6]] = 1
    >>> p = np.zeros((3, 3, 9), np.uint8); p[1, 1, [1, 2, 5]] = 1
    >>> score_prediction(prepare_reference(r, track="spot"), p)["blob_tp"]
    2
    """
    if not isinstance(prepared, PreparedReference):
        raise TypeError(f"prepared must be a PreparedReference. Got {type(prepared).__name__}.")
    full = binarize(prediction, name="prediction")
    if tuple(full.shape) != prepared.shape:
        raise ValueError(
            f"prediction must have the reference's shape {prepared.shape}. Got {full.shape}."
        )
    pbox = bounding_box(full) or _EMPTY_BOX
    pred = full[pbox]
    size = int(np.count_nonzero(pred))
    # Box corners: coordinates in one crop are met in the other through these offsets.
    p_to_r = tuple(p.start - r.start for p, r in zip(pbox, prepared.box, strict=True))
    r_to_p = tuple(-d for d in p_to_r)
    labels26, n26 = components(pred, 26)
    scores: dict[str, float | int] = {}
    if prepared.track == "vessel":
        s_ref = prepared.skeleton
        if s_ref is None or prepared.mask is None:
            raise ValueError("a vessel-track PreparedReference must hold its mask and skeleton")
        both = intersect_boxes(prepared.box, pbox)
        # Views of each crop restricted to the overlap of the two boxes.
        inter = (
            count_overlap(prepared.mask[relative(both, prepared.box)], pred[relative(both, pbox)])
            if both is not None
            else 0
        )
        scores["dice"] = dice_from_counts(inter, prepared.size, size)
        skel = skeleton_coordinates(pred, labels=labels26, n_labels=n26)
        del labels26
        scores["cldice"] = cldice_from_counts(
            count_at(skel, prepared.mask, offset=p_to_r),
            int(skel[0].size),
            count_at(tuple(s_ref), pred, offset=r_to_p),
            int(s_ref.shape[1]),
        )
        b1 = betti_numbers_of_box(pred, n_components=n26)[1]
        scores["betti0_error"] = abs(n26 - prepared.betti0)
        scores["betti1_error"] = abs(b1 - prepared.betti1)
    else:
        # The prediction's label under each reference voxel gives the Dice overlap and every
        # overlapping blob pair.
        if prepared.points is None or prepared.point_labels is None:
            raise ValueError("a spot-track PreparedReference must hold its points")
        labels, n = (
            (labels26, n26)
            if prepared.options.connectivity == 26
            else components(pred, prepared.options.connectivity)
        )
        under = values_at(tuple(prepared.points), labels, offset=r_to_p)
        scores["dice"] = dice_from_counts(int(np.count_nonzero(under)), prepared.size, size)
        match = _match(prepared, labels, n, pred, under)
        scores.update(
            blob_f1=match.f1,
            blob_precision=match.precision,
            blob_recall=match.recall,
            blob_tp=match.tp,
            blob_fp=match.fp,
            blob_fn=match.fn,
            pq=panoptic_quality_from_match(match),
            betti0_error=abs(n26 - prepared.betti0),
        )
    return {name: scores[name] for name in prepared.columns}


def missing_scores(prepared: PreparedReference) -> dict[str, float | int]:
    """Worst values of a case whose prediction is missing or invalid (``MetricSpec.worst``).

    The registry's values: 0 for every ratio (Dice, clDice, blob F1, precision, recall, PQ),
    ``blob_tp = blob_fp = 0``; and the ones it names after the reference: ``blob_fn`` = the
    reference's instances and the Betti errors of an empty prediction (the reference's own
    Betti numbers). Unlike an *empty* prediction of an empty reference, a missing prediction
    never scores well.

    Examples
    --------
    >>> import numpy as np
    >>> r = np.zeros((3, 3, 9), np.uint8); r[1, 1, [1, 2, 5, 6]] = 1
    >>> missing_scores(prepare_reference(r, track="spot"))["blob_fn"]
    2
    """
    if not isinstance(prepared, PreparedReference):
        raise TypeError(f"prepared must be a PreparedReference. Got {type(prepared).__name__}.")
    of_reference = {
        "n_reference": prepared.n_instances,
        "b0(R)": prepared.betti0,
        "b1(R)": prepared.betti1,
    }
    worst: dict[str, float | int] = {}
    for name in prepared.columns:
        spec = METRICS[name]
        value = of_reference[spec.worst] if isinstance(spec.worst, str) else spec.worst
        worst[name] = int(value) if spec.integer else float(value)
    return worst


def _instance_sizes(labels: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    # Only foreground voxels are counted: blobs fill a few percent of a volume.
    return np.bincount(labels[mask], minlength=n + 1)[1:].astype(np.int64)


def _match(
    prepared: PreparedReference,
    labels: np.ndarray,
    n: int,
    pred: np.ndarray,
    under: np.ndarray,
) -> BlobMatch:
    options = prepared.options
    pair_r, pair_p, inter = pair_overlaps_at_points(prepared.point_labels, under)  # type: ignore[arg-type]
    return match_from_overlaps(
        np.arange(1, prepared.n_instances + 1),
        prepared.instance_sizes,
        np.arange(1, n + 1),
        _instance_sizes(labels, pred, n),
        pair_r,
        pair_p,
        inter,
        iou_threshold=options.iou_threshold,
        matching=options.matching,
    )
