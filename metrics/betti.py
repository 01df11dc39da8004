"""Betti numbers of a 3D binary mask and the Betti-number errors between two masks."""

from __future__ import annotations

import numpy as np

from metrics._bitpacked import cavities, euler_characteristic_packed, pack
from metrics._masks import binarize, bounding_box, check_pair, components

__all__ = [
    "betti0_error",
    "betti1_error",
    "betti_numbers",
    "betti_numbers_of_box",
    "euler_characteristic",
]

def euler_characteristic(mask: np.ndarray) -> int:
    """Euler characteristic of the union of the closed foreground voxels (26-connectivity).

    Parameters
    ----------
    mask : (Z, Y, X) ndarray
        Any value ``> 0`` is foreground.

    Returns
    -------
    int
        ``χ = V - E + F - C``: vertices, edges, faces and cubes of the cubical complex made of
        every foreground voxel as a closed unit cube. Equals
        ``skimage.measure.euler_number(mask, connectivity=3)``.

    Notes
    -----
    A lattice cell belongs to the complex when any voxel it bounds is foreground: a face when
    either of its 2 voxels is, an edge when any of its 4 is, a vertex when any of its 8 is.
    The counts are taken on the bounding box packed eight voxels to a byte, with bitwise ORs
    and population counts, so memory stays at a few bits per voxel (scikit-image's
    ``euler_number`` converts the whole image to int64 and convolves it, which at 512³
    needs several GB).

    Examples
    --------
    >>> import numpy as np
    >>> shell = np.ones((3, 3, 3), bool); shell[1, 1, 1] = False  # a sphere: 1 - 0 + 1
    >>> euler_characteristic(shell)
    2
    >>> ring = np.ones((1, 3, 3), bool); ring[0, 1, 1] = False  # a circle: 1 - 1
    >>> euler_characteristic(ring)
    0
    """
    mask = binarize(mask, name="mask")
    box = bounding_box(mask)
    if box is None:
        return 0
    return euler_characteristic_packed(pack(mask[box]))


def betti_numbers(
    mask: np.ndarray, *, n_components: int | None = None
) -> tuple[int, int, int]:
    """Betti numbers ``(b0, b1, b2)`` of a 3D mask: components, tunnels (loops), cavities.

    Parameters
    ----------
    mask : (Z, Y, X) ndarray
        Any value ``> 0`` is foreground.
    n_components : int, optional, keyword-only
        The number of 26-connected foreground components, when the caller already knows it.

    Returns
    -------
    tuple of int
        ``b0`` = 26-connected foreground components; ``b2`` = 6-connected background components
        minus one (the outside), after padding by one voxel; ``b1 = b0 + b2 - χ``.

    Notes
    -----
    This is the SELMA3D 2024 definition. 26-connected foreground and 6-connected background
    are the dual pair for which these numbers are those of the union of closed voxel cubes, so
    the Euler characteristic is :func:`euler_characteristic` and ``χ = b0 - b1 + b2``. Only the
    mask's bounding box (padded by one voxel) is processed. Cavities are counted without
    labelling the background: background voxels are reached from the padding in sweeps over
    the bit-packed box, and only the few left unreached are grouped into components (those
    touching a reached voxel are not cavities).

    References
    ----------
    .. [1] T. Y. Kong, A. Rosenfeld, "Digital topology: introduction and survey", CVGIP 48(3),
       1989. doi:10.1016/0734-189X(89)90147-3

    Examples
    --------
    >>> import numpy as np
    >>> ring = np.zeros((3, 5, 5), bool); ring[1, 1:4, 1:4] = True; ring[1, 2, 2] = False
    >>> betti_numbers(ring)
    (1, 1, 0)
    >>> shell = np.ones((3, 3, 3), bool); shell[1, 1, 1] = False
    >>> betti_numbers(shell)
    (1, 0, 1)
    """
    mask = binarize(mask, name="mask")
    box = bounding_box(mask)
    if box is None:
        return (0, 0, 0)
    crop = mask[box]
    b0 = int(components(crop, 26)[1]) if n_components is None else int(n_components)
    return betti_numbers_of_box(crop, n_components=b0)


def betti_numbers_of_box(crop: np.ndarray, *, n_components: int) -> tuple[int, int, int]:
    """:func:`betti_numbers` of a bool mask already cropped to its bounding box.

    Parameters
    ----------
    crop : (Z, Y, X) ndarray of bool
        A mask cropped to its bounding box, or any bool mask: the padding that the
        definition asks for is added here, so a looser box gives the same numbers.
    n_components : int, keyword-only
        Its number of 26-connected components.

    Returns
    -------
    tuple of int
        ``(b0, b1, b2)``.
    """
    packed = pack(crop)
    b2 = cavities(packed, crop.shape[2])
    b1 = n_components + b2 - euler_characteristic_packed(packed)
    return (int(n_components), b1, b2)


def betti0_error(reference: np.ndarray, prediction: np.ndarray) -> int:
    """Absolute difference of the number of 26-connected components, ``|b0(P) - b0(R)|``.

    Parameters
    ----------
    reference, prediction : (Z, Y, X) ndarray
        Masks of the same shape; any value ``> 0`` is foreground.

    Returns
    -------
    int
        0 for identical masks, also when both are empty; lower is better.

    Examples
    --------
    >>> import numpy as np
    >>> r = np.zeros((1, 1, 5), bool); r[0, 0, :] = True
    >>> p = r.copy(); p[0, 0, 2] = False  # one gap: two pieces
    >>> betti0_error(r, p)
    1
    """
    ref, pred = check_pair(reference, prediction)
    return abs(_b0(pred) - _b0(ref))


def betti1_error(reference: np.ndarray, prediction: np.ndarray) -> int:
    """Absolute difference of the number of tunnels (loops), ``|b1(P) - b1(R)|``.

    Parameters
    ----------
    reference, prediction : (Z, Y, X) ndarray
        Masks of the same shape; any value ``> 0`` is foreground.

    Returns
    -------
    int
        0 for identical masks, also when both are empty; lower is better. ``b1`` is defined in
        :func:`betti_numbers`.

    Examples
    --------
    >>> import numpy as np
    >>> ring = np.zeros((3, 5, 5), bool); ring[1, 1:4, 1:4] = True; ring[1, 2, 2] = False
    >>> disc = ring.copy(); disc[1, 2, 2] = True
    >>> betti1_error(ring, disc)
    1
    """
    ref, pred = check_pair(reference, prediction)
    return abs(betti_numbers(pred)[1] - betti_numbers(ref)[1])


def _b0(mask: np.ndarray) -> int:
    return components(mask, 26)[1]
