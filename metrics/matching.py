"""Instances and their one-to-one matching: connected components paired by IoU.

The blob metrics (``metrics.blob_f1``, ``metrics.pq``) and the per-case suite read their counts
from a :class:`BlobMatch`. :func:`instances` labels a mask's components; :func:`match_instances`
matches two label images; :func:`match_blobs` does both; :func:`match_from_overlaps` matches from
the sufficient statistics (instance sizes and pairwise overlaps, :func:`pair_overlaps`), which
is how the suite matches without building per-pair masks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from metrics._masks import binarize, check_pair, components, smallest_labels

__all__ = [
    "CONNECTIVITIES",
    "MATCHINGS",
    "BlobMatch",
    "MatchedPair",
    "Matching",
    "check_connectivity",
    "check_matching",
    "check_threshold",
    "instances",
    "match_blobs",
    "match_from_overlaps",
    "match_instances",
    "pair_overlaps",
    "pair_overlaps_at_points",
]

CONNECTIVITIES: tuple[int, ...] = (26, 18, 6)
MATCHINGS: tuple[str, ...] = ("greedy", "hungarian")
Matching = Literal["greedy", "hungarian"]
"""The matching rules of :func:`match_blobs`."""


@dataclass(frozen=True)
class MatchedPair:
    """One matched (reference, prediction) pair of instances.

    Attributes
    ----------
    reference_label, prediction_label : int
        Component ids in the label images the match was computed on.
    iou : float
        ``|r ∩ p| / (|r| + |p| - |r ∩ p|)``, at least the matching threshold.
    dice : float
        ``2 |r ∩ p| / (|r| + |p|)``.
    """

    reference_label: int
    prediction_label: int
    iou: float
    dice: float


@dataclass(frozen=True)
class BlobMatch:
    """Result of a one-to-one instance matching, with its sufficient statistics.

    Attributes
    ----------
    tp, fp, fn : int
        Matched pairs, unmatched prediction instances, unmatched reference instances.
    n_reference, n_prediction : int
        Instances in each mask; ``tp + fn == n_reference`` and ``tp + fp == n_prediction`` are
        checked on construction.
    pairs : tuple of MatchedPair
        The matched pairs, sorted by reference label.
    precision, recall, f1 : float
        ``tp / n_prediction``, ``tp / n_reference`` and ``tp / (tp + (fp + fn) / 2)``; 1.0 when
        both masks have no instance and 0.0 when exactly one has none (``metrics.empty``).
    """

    tp: int
    fp: int
    fn: int
    n_reference: int
    n_prediction: int
    pairs: tuple[MatchedPair, ...]
    precision: float
    recall: float
    f1: float

    def __post_init__(self) -> None:
        # The matching's own arithmetic, checked as stardist's matching does: a violation is a
        # bug in the matcher, never a property of the input.
        if self.tp + self.fn != self.n_reference or self.tp + self.fp != self.n_prediction:
            raise RuntimeError(
                f"inconsistent matching: tp={self.tp}, fp={self.fp}, fn={self.fn} for "
                f"{self.n_reference} reference and {self.n_prediction} prediction instances."
            )
        if self.tp != len(self.pairs):
            raise RuntimeError(f"inconsistent matching: tp={self.tp} but {len(self.pairs)} pairs.")

    @property
    def mean_pair_dice(self) -> float:
        """Mean Dice of the matched pairs; 0.0 when there is none."""
        if not self.pairs:
            return 0.0
        return float(np.mean([p.dice for p in self.pairs]))

    @classmethod
    def from_pairs(
        cls, pairs: tuple[MatchedPair, ...], *, n_reference: int, n_prediction: int
    ) -> BlobMatch:
        """Build the result from the matched pairs and the instance counts.

        Examples
        --------
        >>> m = BlobMatch.from_pairs((MatchedPair(1, 1, 0.5, 2 / 3),), n_reference=2,
        ...                          n_prediction=1)
        >>> m.tp, m.fp, m.fn, m.precision, m.recall, round(m.f1, 4)
        (1, 0, 1, 1.0, 0.5, 0.6667)
        """
        tp = len(pairs)
        fp, fn = n_prediction - tp, n_reference - tp
        if n_reference == 0 and n_prediction == 0:
            precision = recall = f1 = 1.0
        else:
            precision = tp / n_prediction if n_prediction else 0.0
            recall = tp / n_reference if n_reference else 0.0
            f1 = tp / (tp + (fp + fn) / 2)
        return cls(
            tp=tp,
            fp=fp,
            fn=fn,
            n_reference=n_reference,
            n_prediction=n_prediction,
            pairs=tuple(sorted(pairs, key=lambda p: p.reference_label)),
            precision=precision,
            recall=recall,
            f1=f1,
        )


def instances(mask: np.ndarray, *, connectivity: int = 26) -> tuple[np.ndarray, int]:
    """Connected components of a mask, labeled ``1..n`` in raster order.

    Parameters
    ----------
    mask : (Z, Y, X) ndarray
        Any value ``> 0`` is foreground.
    connectivity : {26, 18, 6}, keyword-only
        Voxels sharing a corner (26), an edge (18) or a face (6) belong to one component.

    Returns
    -------
    labels : (Z, Y, X) ndarray of unsigned int
        0 for background; the smallest unsigned dtype that holds ``n``.
    n : int
        Number of components.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((1, 2, 2), bool); m[0, 0, 0] = m[0, 1, 1] = True  # diagonal neighbours
    >>> instances(m)[1], instances(m, connectivity=6)[1]
    (1, 2)
    """
    check_connectivity(connectivity)
    mask = binarize(mask, name="mask")
    labels, n = components(mask, connectivity)
    return smallest_labels(labels, n), n


def match_instances(
    reference_labels: np.ndarray,
    prediction_labels: np.ndarray,
    *,
    iou_threshold: float = 0.3,
    matching: Matching = "greedy",
) -> BlobMatch:
    """Match two label images one-to-one by IoU.

    Parameters
    ----------
    reference_labels, prediction_labels : (Z, Y, X) ndarray of int
        Instance label images of the same shape; 0 is background, every other value one
        instance (values need not be consecutive).
    iou_threshold : float, keyword-only
        A pair can match when its IoU is at least this, in ``(0, 1]``.
    matching : {"greedy", "hungarian"}, keyword-only
        See :func:`match_blobs`.

    Returns
    -------
    BlobMatch
        Pairs carry the label values of the inputs.

    Examples
    --------
    >>> import numpy as np
    >>> r = np.array([[[1, 1, 0, 2, 2, 0]]]); p = np.array([[[7, 0, 0, 0, 3, 3]]])
    >>> m = match_instances(r, p)  # IoU(1, 7) = 1/2, IoU(2, 3) = 1/3
    >>> [(q.reference_label, q.prediction_label, round(q.iou, 3)) for q in m.pairs]
    [(1, 7, 0.5), (2, 3, 0.333)]
    """
    check_threshold(iou_threshold)
    check_matching(matching)
    ref = np.asarray(reference_labels)
    pred = np.asarray(prediction_labels)
    if ref.shape != pred.shape:
        raise ValueError(
            "reference_labels and prediction_labels must have the same shape. "
            f"Got {ref.shape} and {pred.shape}."
        )
    for name, arr in (("reference_labels", ref), ("prediction_labels", pred)):
        if not np.issubdtype(arr.dtype, np.integer) or (arr.size and arr.min() < 0):
            raise ValueError(f"{name} must hold non-negative integers. Got dtype {arr.dtype}.")
    ref_ids, ref_sizes = np.unique(ref[ref > 0], return_counts=True)
    pred_ids, pred_sizes = np.unique(pred[pred > 0], return_counts=True)
    pair_ref, pair_pred, inter = pair_overlaps(ref, pred)
    return match_from_overlaps(
        ref_ids,
        ref_sizes,
        pred_ids,
        pred_sizes,
        pair_ref,
        pair_pred,
        inter,
        iou_threshold=iou_threshold,
        matching=matching,
    )


def match_blobs(
    reference: np.ndarray,
    prediction: np.ndarray,
    *,
    connectivity: int = 26,
    iou_threshold: float = 0.3,
    matching: Matching = "greedy",
) -> BlobMatch:
    r"""Detect blobs as connected components and match them one-to-one by IoU.

    Parameters
    ----------
    reference, prediction : (Z, Y, X) ndarray
        Masks of the same shape; any value ``> 0`` is foreground.
    connectivity : {26, 18, 6}, keyword-only
        Connectivity of the components (see :func:`instances`).
    iou_threshold : float, keyword-only
        A pair can match when ``IoU >= iou_threshold``; 0.3 is the SELMA3D 2026 rule.
    matching : {"greedy", "hungarian"}, keyword-only
        ``"greedy"``: candidate pairs are taken by descending IoU (ties by reference, then
        prediction label), skipping pairs whose instance is already matched; this is
        panoptica's ``NaiveThresholdMatching``. ``"hungarian"``: an optimal assignment
        (``scipy.optimize.linear_sum_assignment``) that maximises the number of matched pairs
        and, among those, their total IoU (as stardist's matching does). Both agree whenever
        ``iou_threshold > 0.5``, where an instance has at most one candidate.

    Returns
    -------
    BlobMatch
        tp, fp, fn, precision, recall, F1 and the matched pairs (component labels as
        :func:`instances` numbers them).

    Examples
    --------
    Two reference blobs; the prediction finds one exactly and adds a false one:

    >>> import numpy as np
    >>> r = np.zeros((1, 1, 9), bool); r[0, 0, [0, 1, 4, 5]] = True
    >>> p = np.zeros((1, 1, 9), bool); p[0, 0, [0, 1, 8]] = True
    >>> m = match_blobs(r, p)
    >>> m.tp, m.fp, m.fn, m.f1
    (1, 1, 1, 0.5)
    """
    check_connectivity(connectivity)
    ref, pred = check_pair(reference, prediction)
    ref_labels, _ = instances(ref, connectivity=connectivity)
    pred_labels, _ = instances(pred, connectivity=connectivity)
    return match_instances(
        ref_labels, pred_labels, iou_threshold=iou_threshold, matching=matching
    )


def pair_overlaps(
    reference_labels: np.ndarray, prediction_labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every overlapping (reference, prediction) label pair and its voxel count.

    One pass over the voxels where both are foreground (a joint histogram through
    ``np.unique`` of combined keys): no per-pair mask is ever built.
    """
    both = (reference_labels > 0) & (prediction_labels > 0)
    r = reference_labels[both].astype(np.int64)
    p = prediction_labels[both].astype(np.int64)
    if r.size == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    stride = int(p.max()) + 1
    keys, counts = np.unique(r * stride + p, return_counts=True)
    return keys // stride, keys % stride, counts.astype(np.int64)


def pair_overlaps_at_points(
    reference_labels: np.ndarray, prediction_labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`pair_overlaps` from the labels at the reference's foreground voxels only.

    Parameters
    ----------
    reference_labels : (K,) ndarray of int
        The reference instance of each of its K foreground voxels, non-decreasing (the voxels
        grouped by instance, as ``metrics.suite.prepare_reference`` keeps them).
    prediction_labels : (K,) ndarray of int
        The prediction's label at those voxels, 0 for background.

    Returns
    -------
    tuple of three (M,) ndarrays of int64
        Reference label, prediction label and voxel count of each overlapping pair, sorted.

    Notes
    -----
    Grouped by reference instance, equal pairs mostly sit next to each other: runs are counted
    first, and only the run keys (a few per instance) are sorted, not one key per voxel.
    """
    if reference_labels.shape != prediction_labels.shape or reference_labels.ndim != 1:
        raise ValueError(
            "reference_labels and prediction_labels must be 1-D and of one length. Got "
            f"{reference_labels.shape} and {prediction_labels.shape}."
        )
    hit = prediction_labels > 0
    r = reference_labels[hit].astype(np.int64)
    p = prediction_labels[hit].astype(np.int64)
    if r.size == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    if np.any(r[1:] < r[:-1]):
        raise ValueError("reference_labels must be non-decreasing (voxels grouped by instance).")
    stride = int(p.max()) + 1
    key = r * stride + p
    starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    runs = np.diff(np.append(starts, key.size))
    keys, which = np.unique(key[starts], return_inverse=True)
    counts = np.bincount(which, weights=runs, minlength=keys.size).astype(np.int64)
    return keys // stride, keys % stride, counts


def match_from_overlaps(
    reference_ids: np.ndarray,
    reference_sizes: np.ndarray,
    prediction_ids: np.ndarray,
    prediction_sizes: np.ndarray,
    pair_reference: np.ndarray,
    pair_prediction: np.ndarray,
    pair_intersection: np.ndarray,
    *,
    iou_threshold: float,
    matching: Matching,
) -> BlobMatch:
    """Match instances from their sizes and pairwise overlaps (the sufficient statistics).

    ``reference_ids``/``prediction_ids`` are sorted label values with their voxel counts;
    ``pair_*`` list every overlapping pair (as :func:`pair_overlaps` returns them).
    """
    n_ref, n_pred = int(reference_ids.size), int(prediction_ids.size)
    if pair_reference.size == 0:
        return BlobMatch.from_pairs((), n_reference=n_ref, n_prediction=n_pred)
    size_r = reference_sizes[np.searchsorted(reference_ids, pair_reference)].astype(np.int64)
    size_p = prediction_sizes[np.searchsorted(prediction_ids, pair_prediction)].astype(np.int64)
    union = size_r + size_p - pair_intersection
    iou = pair_intersection / union
    keep = iou >= iou_threshold
    cand_r, cand_p = pair_reference[keep], pair_prediction[keep]
    cand_iou, cand_dice = iou[keep], 2.0 * pair_intersection[keep] / (size_r + size_p)[keep]
    if matching == "greedy":
        chosen = _greedy(cand_r, cand_p, cand_iou)
    else:
        chosen = _hungarian(cand_r, cand_p, cand_iou)
    pairs = tuple(
        MatchedPair(
            reference_label=int(cand_r[i]),
            prediction_label=int(cand_p[i]),
            iou=float(cand_iou[i]),
            dice=float(cand_dice[i]),
        )
        for i in chosen
    )
    return BlobMatch.from_pairs(pairs, n_reference=n_ref, n_prediction=n_pred)


def _greedy(cand_r: np.ndarray, cand_p: np.ndarray, cand_iou: np.ndarray) -> list[int]:
    order = np.lexsort((cand_p, cand_r, -cand_iou))
    used_r: set[int] = set()
    used_p: set[int] = set()
    chosen = []
    for i in order:
        r, p = int(cand_r[i]), int(cand_p[i])
        if r in used_r or p in used_p:
            continue
        used_r.add(r)
        used_p.add(p)
        chosen.append(int(i))
    return chosen


def _hungarian(cand_r: np.ndarray, cand_p: np.ndarray, cand_iou: np.ndarray) -> list[int]:
    if cand_r.size == 0:
        return []
    rows, r_index = np.unique(cand_r, return_inverse=True)
    cols, p_index = np.unique(cand_p, return_inverse=True)
    # The candidate graph falls apart into small independent groups of instances; solving each
    # group alone keeps the assignment matrices tiny even with thousands of blobs.
    graph = coo_matrix(
        (np.ones(cand_r.size), (r_index, rows.size + p_index)),
        shape=(rows.size + cols.size,) * 2,
    )
    _, group = connected_components(graph, directed=False)
    chosen = []
    pair_group = group[r_index]
    for g in np.unique(pair_group):
        idx = np.flatnonzero(pair_group == g)
        gr, r_local = np.unique(r_index[idx], return_inverse=True)
        gp, p_local = np.unique(p_index[idx], return_inverse=True)
        # Lexicographic objective: every candidate pair is worth 1 plus a share of its IoU that
        # cannot outweigh one more pair (IoU sums to less than 1 after the scaling).
        scale = 2.0 * min(gr.size, gp.size)
        weight = np.zeros((gr.size, gp.size))
        weight[r_local, p_local] = 1.0 + cand_iou[idx] / scale
        lookup = -np.ones((gr.size, gp.size), dtype=np.int64)
        lookup[r_local, p_local] = idx
        row_ind, col_ind = linear_sum_assignment(weight, maximize=True)
        for a, b in zip(row_ind, col_ind, strict=True):
            if lookup[a, b] >= 0:
                chosen.append(int(lookup[a, b]))
    return chosen


def check_connectivity(connectivity: int) -> None:
    """Raise ValueError unless ``connectivity`` is one of ``CONNECTIVITIES``."""
    if connectivity not in CONNECTIVITIES:
        raise ValueError(f"connectivity must be one of {CONNECTIVITIES}. Got {connectivity!r}.")


def check_threshold(iou_threshold: float) -> None:
    """Raise ValueError unless ``iou_threshold`` is a number in ``(0, 1]``."""
    if not (isinstance(iou_threshold, int | float) and 0 < iou_threshold <= 1):
        raise ValueError(f"iou_threshold must be a number in (0, 1]. Got {iou_threshold!r}.")


def check_matching(matching: str) -> None:
    """Raise ValueError unless ``matching`` is one of ``MATCHINGS``."""
    if matching not in MATCHINGS:
        raise ValueError(f"matching must be one of {MATCHINGS}. Got {matching!r}.")
