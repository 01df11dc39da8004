"""Blob-level (instance) detection F1: connected components matched one-to-one by IoU."""

from __future__ import annotations

import numpy as np

from metrics.matching import Matching, match_blobs

__all__ = ["blob_f1"]


def blob_f1(
    reference: np.ndarray,
    prediction: np.ndarray,
    *,
    connectivity: int = 26,
    iou_threshold: float = 0.3,
    matching: Matching = "greedy",
) -> float:
    r"""Blob-level F1 of two masks: ``metrics.matching.match_blobs(...).f1``.

    Parameters
    ----------
    reference, prediction : (Z, Y, X) ndarray
        Masks of the same shape; any value ``> 0`` is foreground.
    connectivity, iou_threshold, matching
        As in :func:`metrics.matching.match_blobs`.

    Returns
    -------
    float
        In ``[0, 1]``; 1 for identical masks, 1 when neither has a blob and 0 when exactly one
        has none (``metrics.empty``).

    Notes
    -----
    .. math:: F_1 = \frac{TP}{TP + (FP + FN) / 2}

    with TP the matched pairs, FP the unmatched predicted blobs and FN the unmatched reference
    blobs; this equals panoptica's recognition quality (RQ) for the same matching.

    Examples
    --------
    Two reference blobs; the prediction finds one exactly and adds a false one, so TP = FP =
    FN = 1 and F1 = 1 / (1 + 1) = 0.5:

    >>> import numpy as np
    >>> r = np.zeros((1, 1, 9), bool); r[0, 0, [0, 1, 4, 5]] = True
    >>> p = np.zeros((1, 1, 9), bool); p[0, 0, [0, 1, 8]] = True
    >>> blob_f1(r, p), blob_f1(r, r)
    (0.5, 1.0)
    """
    return match_blobs(
        reference,
        prediction,
        connectivity=connectivity,
        iou_threshold=iou_threshold,
        matching=matching,
    ).f1
