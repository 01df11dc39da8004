"""Bit-packed 3D masks: 64 voxels per word along x, for counting cells and reaching voxels.

A packed mask holds the mask with one background voxel of margin on every side, as an
array of ``uint64`` of shape ``(Z + 2, Y + 2, ceil((X + 3) / 64))``: voxel ``(z, y, x)`` of
the mask is bit ``(x + 1) % 64`` of word ``(z + 1, y + 1, (x + 1) // 64)``. Each row ends
with at least one spare bit past the margin that no operation here sets, so moving voxels
along x can treat the whole array as one long row: what crosses from one row into the next
is always 0, or lands on a spare or margin bit that is masked out. Whole-volume boolean
operations then touch a 64th of the elements (an eighth of the bytes of a bool array),
which is what makes the Euler characteristic and the cavity count cheap next to labelling.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["cavities", "euler_characteristic_packed", "pack", "popcount"]

# Sweeps before the background voxels not yet reached are grouped one by one; a sweep is
# cheap, grouping costs per voxel, and a sweep rarely leaves more than this many.
_MAX_SWEEPS = 8
_FEW_LEFT = 1 << 16
_ONE = np.uint64(1)
_LAST = np.uint64(63)


def pack(mask: np.ndarray) -> np.ndarray:
    """Pack a bool ``(Z, Y, X)`` mask with one voxel of background margin on every side.

    Examples
    --------
    >>> import numpy as np
    >>> bin(int(pack(np.ones((1, 1, 3), bool))[1, 1, 0]))  # margin, three voxels, margin
    '0b1110'
    """
    depth, height, width = mask.shape
    n_words = (width + 3 + 63) // 64  # the voxels, two margin bits and a spare bit
    out = np.zeros((depth + 2, height + 2, n_words), "<u8")
    as_bytes = out.view(np.uint8)  # little-endian words: byte k holds voxels 8k..8k+7
    packed = np.packbits(mask, axis=-1, bitorder="little")
    as_bytes[1:-1, 1:-1, : packed.shape[-1]] = packed
    # The left margin moves every voxel one bit along x.
    return _up_x(out)


def popcount(packed: np.ndarray) -> int:
    """Number of set bits."""
    return int(np.bitwise_count(packed).sum(dtype=np.int64))


def _up_x(packed: np.ndarray) -> np.ndarray:
    """Each voxel moved one step towards larger x."""
    out = packed << _ONE
    # On the flat array (see the module notes): one numpy loop instead of one per row.
    out.reshape(-1)[1:] |= packed.reshape(-1)[:-1] >> _LAST
    return out


def _down_x(packed: np.ndarray) -> np.ndarray:
    """Each voxel moved one step towards smaller x."""
    out = packed >> _ONE
    out.reshape(-1)[:-1] |= packed.reshape(-1)[1:] << _LAST
    return out


def _close_x(packed: np.ndarray) -> np.ndarray:
    out = _up_x(packed)
    out |= packed
    return out


def _close_y(packed: np.ndarray) -> np.ndarray:
    out = packed.copy()
    out[:, 1:] |= packed[:, :-1]
    return out


def _close_z(packed: np.ndarray) -> np.ndarray:
    out = packed.copy()
    out[1:] |= packed[:-1]
    return out


def euler_characteristic_packed(packed: np.ndarray) -> int:
    """Euler characteristic ``V - E + F - C`` of the closed voxels of a packed mask.

    A lattice cell is indexed by the voxel on its larger side along each axis it does not
    extend in; it belongs to the complex when any voxel it bounds is set: a face when either
    of its 2 voxels is, an edge when any of its 4 is, a vertex when any of its 8 is. Those
    are ORs of the mask with itself moved one step along one, two or three axes. The upper
    margin holds the cells on the far side of the last voxels.
    """
    x = _close_x(packed)
    y = _close_y(packed)
    xy = _close_y(x)
    cubes = popcount(packed)
    faces = popcount(x) + popcount(y) + popcount(_close_z(packed))
    edges = popcount(xy) + popcount(_close_z(x)) + popcount(_close_z(y))
    vertices = popcount(_close_z(xy))
    return vertices - edges + faces - cubes


def _row_bits(n_words: int, positions: slice | list[int]) -> np.ndarray:
    """One packed row with the given voxel positions set (positions count the margin)."""
    row = np.zeros(n_words * 64, bool)
    row[positions] = True
    return np.packbits(row, bitorder="little").view("<u8")


def _sweep(reached: np.ndarray, open_: np.ndarray) -> None:
    """Extend ``reached`` through ``open_`` along whole z and y runs, then one step along x.

    Planes are visited in order, so one pass carries a voxel's reach to the end of its run;
    each step works on one packed plane or row, so the Python loop stays cheap.
    """
    depth, height = reached.shape[:2]
    step = np.empty_like(reached[0])
    for k in range(1, depth):
        np.bitwise_and(reached[k - 1], open_[k], out=step)
        reached[k] |= step
    for k in range(depth - 2, -1, -1):
        np.bitwise_and(reached[k + 1], open_[k], out=step)
        reached[k] |= step
    step = np.empty_like(reached[:, 0])
    for k in range(1, height):
        np.bitwise_and(reached[:, k - 1], open_[:, k], out=step)
        reached[:, k] |= step
    for k in range(height - 2, -1, -1):
        np.bitwise_and(reached[:, k + 1], open_[:, k], out=step)
        reached[:, k] |= step
    reached |= (_up_x(reached) | _down_x(reached)) & open_


def _set_bits(packed: np.ndarray) -> np.ndarray:
    """Sorted flat indices of the set bits, in the ``(Z + 2, Y + 2, 64 * n_words)`` grid."""
    flat = packed.reshape(-1)
    words = np.flatnonzero(flat)
    word, bit = np.nonzero((flat[words][:, None] >> np.arange(64, dtype=np.uint64)) & _ONE)
    return words[word].astype(np.int64) * 64 + bit


def _bits_at(packed: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The bits at flat indices ``index`` (as from :func:`_set_bits`), as bool."""
    words = packed.reshape(-1)[index >> 6]
    return ((words >> (index & 63).astype(np.uint64)) & _ONE).astype(bool)


def cavities(packed: np.ndarray, width: int) -> int:
    """Number of 6-connected background components that the margin does not reach.

    Parameters
    ----------
    packed : ndarray of uint64
        From :func:`pack`.
    width : int
        ``X`` of the mask that was packed.

    Returns
    -------
    int
        ``b2``: the cavities of the mask, for a 26-connected foreground.

    Notes
    -----
    Background voxels are reached from the margin in sweeps (whole runs along z and y, a
    step along x) until few are left. Those left, U, hold every cavity, and everything
    reached is connected to the outside, so a 6-connected component of U is a cavity exactly
    when none of its voxels has a reached 6-neighbour. U's components come from a sparse
    graph of its voxels, so the cost follows U, not the volume.
    """
    height, n_words = packed.shape[1:]
    open_ = ~packed & _row_bits(n_words, slice(0, width + 2))
    reached = np.zeros_like(packed)
    reached[0], reached[-1] = open_[0], open_[-1]
    reached[:, 0], reached[:, -1] = open_[:, 0], open_[:, -1]
    reached |= open_ & _row_bits(n_words, [0, width + 1])
    total = popcount(open_)
    left = total - popcount(reached)
    for _ in range(_MAX_SWEEPS):
        _sweep(reached, open_)
        now = total - popcount(reached)
        if now == 0:
            return 0
        if now <= _FEW_LEFT or now == left:
            break
        left = now
    voxels = _set_bits(open_ & ~reached)
    n = voxels.size
    # Margins keep every neighbour index inside the array.
    steps = (1, 64 * n_words, 64 * n_words * height)
    rows, cols = [], []
    leaking = np.zeros(n, bool)
    for step in steps:
        for neighbour in (voxels + step, voxels - step):
            leaking |= _bits_at(reached, neighbour)
        up = voxels + step
        at = np.minimum(np.searchsorted(voxels, up), n - 1)
        hit = voxels[at] == up
        rows.append(np.flatnonzero(hit))
        cols.append(at[hit])
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(r.size, np.int8), (r, c)), shape=(n, n))
    n_parts, part = connected_components(graph, directed=False)
    return int(n_parts - np.unique(part[leaking]).size)
