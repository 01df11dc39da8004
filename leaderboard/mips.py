"""Maximum-intensity projections of a case: image, reference and each team's errors.

Projections run along z (axis 0 of ``(Z, Y, X)`` arrays) and are pooled down to at most ``size``
pixels per side (max-pooling for images, so thin vessels stay visible). Prediction panels colour
each pixel by the voxels on its ray (and in its pooled block): the mix of true positive (white),
false positive (magenta) and false negative (green) in proportion to their counts, so a one-voxel
dilation shows as a pink rim rather than a magenta wall, and a ray holding only errors is pure
error colour.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "FN_RGB",
    "FP_RGB",
    "TP_RGB",
    "error_projection",
    "image_projection",
    "pool_max",
    "pool_sum",
]

TP_RGB = (1.0, 1.0, 1.0)
FP_RGB = (1.0, 0.0, 1.0)
FN_RGB = (0.0, 0.75, 0.0)


def pool_max(plane: np.ndarray, *, size: int) -> np.ndarray:
    """Max-pool a 2D array so that its longest side is at most ``size``.

    Parameters
    ----------
    plane : (H, W) ndarray
    size : int, keyword-only

    Returns
    -------
    (ceil(H / f), ceil(W / f)) ndarray
        With ``f = ceil(max(H, W) / size)``; edges are padded with the array's minimum.

    Examples
    --------
    >>> pool_max(np.arange(16).reshape(4, 4), size=2).tolist()
    [[5, 7], [13, 15]]
    """
    return _pool(plane, size=size, name="pool_max", fill=plane.min(), reduce=np.max)


def image_projection(image: np.ndarray, *, size: int) -> np.ndarray:
    """Grey RGB projection of an image, contrast from its 1st to 99.5th percentile.

    Parameters
    ----------
    image : (Z, Y, X) ndarray
    size : int, keyword-only

    Returns
    -------
    (H, W, 3) ndarray of float in [0, 1]

    Examples
    --------
    >>> image_projection(np.zeros((2, 3, 3)), size=8).shape
    (3, 3, 3)
    """
    mip = pool_max(np.asarray(image, dtype=np.float32).max(axis=0), size=size)
    lo, hi = np.percentile(mip, [1.0, 99.5])
    grey = np.clip((mip - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.zeros_like(mip)
    return np.repeat(grey[..., None], 3, axis=2).astype(float)


def pool_sum(plane: np.ndarray, *, size: int) -> np.ndarray:
    """Sum-pool a 2D array so that its longest side is at most ``size`` (as ``pool_max``).

    Examples
    --------
    >>> pool_sum(np.ones((4, 4)), size=2).tolist()
    [[4.0, 4.0], [4.0, 4.0]]
    """
    return _pool(plane, size=size, name="pool_sum", fill=0, reduce=np.sum)


def _pool(plane: np.ndarray, *, size: int, name: str, fill: object, reduce: Any) -> np.ndarray:
    """Pool ``f x f`` blocks with ``reduce``, ``f = ceil(max(H, W) / size)``; pad with ``fill``."""
    if plane.ndim != 2:
        raise ValueError(f"{name}: expected a 2D array, got shape {plane.shape}")
    factor = max(1, math.ceil(max(plane.shape) / size))
    if factor == 1:
        return plane
    h = math.ceil(plane.shape[0] / factor) * factor
    w = math.ceil(plane.shape[1] / factor) * factor
    padded = np.full((h, w), fill, dtype=plane.dtype)
    padded[: plane.shape[0], : plane.shape[1]] = plane
    return reduce(padded.reshape(h // factor, factor, w // factor, factor), axis=(1, 3))


def error_projection(
    reference: np.ndarray, prediction: np.ndarray | None, *, size: int
) -> np.ndarray:
    """Coloured projection of true positives, false positives and false negatives.

    Parameters
    ----------
    reference : (Z, Y, X) ndarray
        Reference mask (``> 0`` is foreground).
    prediction : (Z, Y, X) ndarray or None
        Prediction mask; None draws the reference alone in white.
    size : int, keyword-only

    Returns
    -------
    (H, W, 3) ndarray of float in [0, 1]
        ``(n_tp TP_RGB + n_fp FP_RGB + n_fn FN_RGB) / (n_tp + n_fp + n_fn)`` per pixel, with the
        counts taken over the ray and the pooled block; black where all counts are 0.

    Examples
    --------
    >>> ref = np.zeros((2, 1, 3), bool); ref[0, 0, :2] = True
    >>> pred = np.zeros((2, 1, 3), bool); pred[0, 0, 1:] = True
    >>> error_projection(ref, pred, size=8)[0].tolist()
    [[0.0, 0.75, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 1.0]]
    """
    ref = np.asarray(reference) > 0
    if prediction is None:
        pred = ref
    else:
        pred = np.asarray(prediction) > 0
        if pred.shape != ref.shape:
            raise ValueError(f"prediction shape {pred.shape} differs from reference {ref.shape}")
    counts = [
        (pool_sum((ref & pred).sum(axis=0, dtype=np.int64), size=size), TP_RGB),
        (pool_sum((pred & ~ref).sum(axis=0, dtype=np.int64), size=size), FP_RGB),
        (pool_sum((ref & ~pred).sum(axis=0, dtype=np.int64), size=size), FN_RGB),
    ]
    total = sum(c for c, _ in counts).astype(float)
    rgb = np.zeros((*total.shape, 3))
    for count, colour in counts:
        rgb += count[..., None] * np.asarray(colour)
    return np.divide(rgb, total[..., None], out=np.zeros_like(rgb), where=total[..., None] > 0)
