"""Dice similarity coefficient of two binary masks."""

from __future__ import annotations

import numpy as np

from metrics._masks import check_pair

__all__ = ["dice", "dice_from_counts"]


def dice_from_counts(intersection: int, reference_size: int, prediction_size: int) -> float:
    """Dice from its sufficient statistics, applying the empty-mask table.

    Parameters
    ----------
    intersection : int
        ``|P ∩ R|`` in voxels.
    reference_size, prediction_size : int
        ``|R|`` and ``|P|`` in voxels.

    Returns
    -------
    float
        ``2 |P ∩ R| / (|P| + |R|)``; 1.0 when both masks are empty (see ``metrics.empty``).

    Examples
    --------
    >>> dice_from_counts(3, 4, 2)
    1.0
    >>> dice_from_counts(0, 0, 0)
    1.0
    """
    total = int(reference_size) + int(prediction_size)
    if total == 0:
        return 1.0
    return 2.0 * int(intersection) / total


def dice(reference: np.ndarray, prediction: np.ndarray) -> float:
    r"""Dice similarity coefficient (Sørensen-Dice) of two masks.

    Parameters
    ----------
    reference, prediction : (Z, Y, X) ndarray
        Masks of the same shape; any value ``> 0`` is foreground.

    Returns
    -------
    float
        In ``[0, 1]``; 1 for identical masks.

    Notes
    -----
    .. math:: \mathrm{Dice}(R, P) = \frac{2 |P \cap R|}{|P| + |R|}

    Both masks empty gives 1.0, exactly one empty gives 0.0 (the table in ``metrics.empty``).

    References
    ----------
    .. [1] L. R. Dice, "Measures of the amount of ecologic association between species",
       Ecology 26(3), 1945. doi:10.2307/1932409

    Examples
    --------
    >>> import numpy as np
    >>> r = np.zeros((1, 1, 4), np.uint8); r[0, 0, :2] = 1
    >>> p = np.zeros((1, 1, 4), np.uint8); p[0, 0, 1:] = 255
    >>> dice(r, p)  # 2 * 1 / (2 + 3)
    0.4
    """
    ref, pred = check_pair(reference, prediction)
    inter = int(np.count_nonzero(ref & pred))
    return dice_from_counts(inter, int(np.count_nonzero(ref)), int(np.count_nonzero(pred)))
