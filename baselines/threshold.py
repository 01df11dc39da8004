"""Threshold baseline: percentile normalisation, Otsu's threshold, small-object removal.

The naive floor every other method should beat. Runs inside the ``selma3d/baselines`` image.
"""

from __future__ import annotations

import numpy as np
from skimage.filters import threshold_otsu

from baselines._common import normalise, remove_small_objects

__all__ = ["segment"]


def segment(
    image: np.ndarray, *, min_size: int = 10, low: float = 1.0, high: float = 99.9
) -> np.ndarray:
    """Segment the bright structures of a patch with one global Otsu threshold.

    Parameters
    ----------
    image : (Z, Y, X) ndarray
        Raw intensities.
    min_size : int
        Connected components (26-connectivity) with fewer voxels are removed.
    low, high : float
        Percentiles of the per-patch normalisation (see :func:`baselines._common.normalise`).

    Returns
    -------
    (Z, Y, X) ndarray of uint8
        1 inside the structure, 0 elsewhere; all zeros for a constant patch.

    Notes
    -----
    Otsu's threshold maximises the between-class variance of the intensity histogram
    (N. Otsu, IEEE Trans. SMC 9(1), 1979, doi:10.1109/TSMC.1979.4310076).

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((8, 8, 8)); img[2:5, 2:5, 2:5] = 10.0; img[7, 7, 7] = 10.0
    >>> int(segment(img, min_size=2).sum())
    27
    """
    if min_size < 0:
        raise ValueError(f"min_size must be >= 0; got {min_size}.")
    norm = normalise(image, low=low, high=high)
    if norm.max() <= norm.min():
        return np.zeros(norm.shape, dtype=np.uint8)
    mask = norm > threshold_otsu(norm)
    return remove_small_objects(mask, min_size=min_size).astype(np.uint8)
