"""Private helpers shared by the metric modules: binarizing, checking and cropping masks."""

from __future__ import annotations

import cc3d
import numpy as np

__all__ = [
    "binarize",
    "bounding_box",
    "check_pair",
    "components",
    "count_at",
    "count_overlap",
    "intersect_boxes",
    "relative",
    "smallest_labels",
    "values_at",
]

Box = tuple[slice, slice, slice]


def binarize(mask: np.ndarray, *, name: str) -> np.ndarray:
    """Return ``mask > 0`` as a bool array, checking that it is 3D.

    Released SELMA3D masks hold 0/1, 0/255 and even 0/95/255, so every positive value is
    foreground. NaN compares false and so counts as background.
    """
    array = np.asarray(mask)
    if array.ndim != 3:
        raise ValueError(f"{name} must be a 3D array (z, y, x). Got shape {array.shape}.")
    if array.dtype == bool:
        return array
    if not (np.issubdtype(array.dtype, np.number)):
        raise TypeError(f"{name} must be a numeric or bool array. Got dtype {array.dtype}.")
    return array > 0


def components(mask: np.ndarray, connectivity: int) -> tuple[np.ndarray, int]:
    """Connected components of a bool mask with cc3d: ``(labels, n)``, labels ``1..n``.

    Labels come in cc3d's dtype, sized for the worst case (see :func:`smallest_labels`). A
    mask with a singleton axis is labeled with 18-connectivity when 26 is asked for: the two
    are the same there (the 8 neighbours 26 adds differ in all three coordinates), and cc3d
    4.1.1 fails with "maximum length exception" on some such masks at 26 (for example a
    (3, 3, 1) mask holding its four corners).
    """
    if connectivity == 26 and 1 in mask.shape:
        connectivity = 18
    labels, n = cc3d.connected_components(mask, connectivity=connectivity, return_N=True)
    return labels, int(n)


def smallest_labels(labels: np.ndarray, n: int) -> np.ndarray:
    """``labels`` in the smallest unsigned dtype that holds ``n``.

    Worth its pass only for labels that are kept: it halves or quarters what a prepared
    reference holds (and pickles).
    """
    small = np.min_scalar_type(max(n, 1))
    if small.itemsize < labels.dtype.itemsize:
        return labels.astype(small)
    return labels


def check_pair(reference: np.ndarray, prediction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Binarize both masks and check that they have the same shape."""
    ref = binarize(reference, name="reference")
    pred = binarize(prediction, name="prediction")
    if ref.shape != pred.shape:
        raise ValueError(
            f"reference and prediction must have the same shape. Got {ref.shape} and {pred.shape}."
        )
    return ref, pred


def bounding_box(mask: np.ndarray) -> Box | None:
    """Smallest box holding every ``True`` voxel of a bool mask, or None if it has none."""
    # Two passes over the volume instead of three: the (z, y) projection gives both z and y.
    zy = mask.any(axis=2)
    projections = (zy.any(axis=1), zy.any(axis=0), mask.any(axis=(0, 1)))
    box = []
    for projection in projections:
        hit = np.flatnonzero(projection)
        if hit.size == 0:
            return None
        box.append(slice(int(hit[0]), int(hit[-1]) + 1))
    return tuple(box)  # type: ignore[return-value]


def intersect_boxes(a: Box | None, b: Box | None) -> Box | None:
    """Intersection of two boxes, or None if they do not overlap."""
    if a is None or b is None:
        return None
    out = []
    for sa, sb in zip(a, b, strict=True):
        start, stop = max(sa.start, sb.start), min(sa.stop, sb.stop)
        if start >= stop:
            return None
        out.append(slice(start, stop))
    return tuple(out)  # type: ignore[return-value]


def relative(box: Box, within: Box) -> Box:
    """Express ``box`` (absolute) in the coordinates of the crop ``within``."""
    return tuple(  # type: ignore[return-value]
        slice(s.start - w.start, s.stop - w.start) for s, w in zip(box, within, strict=True)
    )


# Planes per step of :func:`count_overlap`: a buffer of a few MB, reused, instead of one
# temporary the size of the box.
_OVERLAP_PLANES = 16


def count_overlap(a: np.ndarray, b: np.ndarray) -> int:
    """``np.count_nonzero(a & b)`` for two bool arrays of one shape, without a full temporary.

    The AND goes through a small buffer a few planes at a time: on large boxes, allocating
    (and, on virtual machines, faulting in) a box-sized temporary costs more than the AND.
    """
    if a.shape != b.shape:
        raise ValueError(f"count_overlap needs arrays of one shape. Got {a.shape} and {b.shape}.")
    planes = max(1, min(_OVERLAP_PLANES, a.shape[0]))
    buffer = np.empty((planes, *a.shape[1:]), bool)
    total = 0
    for start in range(0, a.shape[0], planes):
        out = buffer[: min(planes, a.shape[0] - start)]
        np.logical_and(a[start : start + planes], b[start : start + planes], out=out)
        total += int(np.count_nonzero(out))
    return total


def values_at(
    coordinates: tuple[np.ndarray, np.ndarray, np.ndarray],
    array: np.ndarray,
    *,
    offset: tuple[int, int, int] = (0, 0, 0),
) -> np.ndarray:
    """The values of ``array`` at the points ``coordinates + offset``; 0 outside ``array``.

    Points held as coordinates in one box meet an array cropped to another box this way:
    ``offset`` is the first box's corner minus the second's.

    Parameters
    ----------
    coordinates : tuple of three (K,) integer ndarrays
        ``(z, y, x)`` of K points.
    array : (Z, Y, X) ndarray
    offset : tuple of int, keyword-only

    Returns
    -------
    (K,) ndarray of ``array.dtype``
    """
    shifted = [np.asarray(c) + o for c, o in zip(coordinates, offset, strict=True)]
    inside = np.ones(shifted[0].shape, bool)
    for c, size in zip(shifted, array.shape, strict=True):
        inside &= (c >= 0) & (c < size)
    values = np.zeros(shifted[0].shape, array.dtype)
    if inside.all():
        values[:] = array[shifted[0], shifted[1], shifted[2]]
    else:
        z, y, x = (c[inside] for c in shifted)
        values[inside] = array[z, y, x]
    return values


def count_at(
    coordinates: tuple[np.ndarray, np.ndarray, np.ndarray],
    mask: np.ndarray,
    *,
    offset: tuple[int, int, int] = (0, 0, 0),
) -> int:
    """Number of the points ``coordinates + offset`` that fall on a ``True`` voxel of ``mask``.

    Points outside ``mask`` count as background. This is how a skeleton, held as coordinates,
    meets a mask cropped to another box (see :func:`values_at`).
    """
    return int(np.count_nonzero(values_at(coordinates, mask, offset=offset)))
