"""Rasterise geometric primitives into a scene: tapered capsules and ellipsoids.

A :class:`Scene` holds two arrays on the same voxel grid:

- ``label`` (uint8): the exact binary truth, a voxel is 1 when its centre lies inside a labeled
  object;
- ``density`` (float32): the fluorophore density the microscope sees, with a half-voxel linear
  ramp at object borders (a cheap partial-volume model) and a brightness per object. Unlabeled
  objects (dim cells, autofluorescent granules) are drawn into ``density`` only.

Shapes are described in physical units (``spacing`` gives the voxel size along z, y, x), so a
sphere drawn on an anisotropic grid is flattened along z in voxels, as in real light-sheet stacks
whose z step is larger than the pixel size. Each primitive touches only its bounding box, so the
cost of drawing is proportional to the object's size, not to the volume's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Scene", "draw_capsule", "draw_ellipsoid", "new_scene"]


@dataclass(frozen=True, eq=False)
class Scene:
    """Truth and fluorophore density of one synthetic patch.

    Attributes
    ----------
    label : (Z, Y, X) ndarray of uint8
        Binary truth.
    density : (Z, Y, X) ndarray of float32
        Fluorophore density (arbitrary units, about 1 for a typical labeled object).
    spacing : tuple of float
        Voxel size ``(z, y, x)`` in physical units.
    """

    label: np.ndarray
    density: np.ndarray
    spacing: tuple[float, float, float]

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(Z, Y, X)``."""
        return tuple(int(s) for s in self.label.shape)  # type: ignore[return-value]

    @property
    def extent(self) -> np.ndarray:
        """Physical size of the patch along ``(z, y, x)``."""
        return np.asarray(self.shape, dtype=float) * np.asarray(self.spacing)


def new_scene(shape: tuple[int, int, int], *, spacing: tuple[float, float, float]) -> Scene:
    """Return an empty scene.

    Examples
    --------
    >>> s = new_scene((4, 5, 6), spacing=(2.0, 1.0, 1.0))
    >>> s.label.shape, s.density.dtype, s.extent.tolist()
    ((4, 5, 6), dtype('float32'), [8.0, 5.0, 6.0])
    """
    return Scene(
        label=np.zeros(shape, dtype=np.uint8),
        density=np.zeros(shape, dtype=np.float32),
        spacing=tuple(float(s) for s in spacing),  # type: ignore[arg-type]
    )


def _box(scene: Scene, lo: np.ndarray, hi: np.ndarray) -> tuple[slice, ...] | None:
    """Voxel slices covering the physical box ``[lo, hi]``, or None if it misses the patch."""
    box = []
    # Plain floats: this runs once per primitive, thousands of times per patch.
    for a, b, sp, n in zip(lo.tolist(), hi.tolist(), scene.spacing, scene.label.shape, strict=True):
        # Voxel i has its centre at (i + 0.5) * spacing.
        start = max(math.floor(a / sp - 0.5), 0)
        stop = min(math.ceil(b / sp + 0.5) + 1, n)
        if stop <= start:
            return None
        box.append(slice(start, stop))
    return tuple(box)


def _centres(scene: Scene, box: tuple[slice, ...]) -> list[np.ndarray]:
    """Physical voxel-centre coordinates of a box, as three broadcastable arrays."""
    return [
        ((np.arange(sl.start, sl.stop, dtype=np.float32) + 0.5) * np.float32(sp)).reshape(shape)
        for sl, sp, shape in zip(box, scene.spacing, ((-1, 1, 1), (1, -1, 1), (1, 1, -1)),
                                 strict=True)
    ]


def _paint(
    scene: Scene, box: tuple[slice, ...], depth: np.ndarray, *, brightness: float, labeled: bool
) -> None:
    """Write an object given ``depth`` = how far inside (positive) each voxel centre is.

    ``depth`` is in voxel-size units, so the ramp ``clip(depth + 0.5, 0, 1)`` is a half-voxel
    partial-volume border.
    """
    ramp = np.clip(depth + np.float32(0.5), 0.0, 1.0) * np.float32(brightness)
    np.maximum(scene.density[box], ramp, out=scene.density[box])
    if labeled:
        scene.label[box] |= (depth >= 0).astype(np.uint8)


def draw_capsule(
    scene: Scene,
    p0: np.ndarray,
    p1: np.ndarray,
    r0: float,
    r1: float,
    *,
    brightness: float = 1.0,
    labeled: bool = True,
) -> None:
    """Draw a tapered capsule (a cone frustum with round caps) between two physical points.

    Parameters
    ----------
    scene : Scene
        Modified in place.
    p0, p1 : (3,) array_like
        End points ``(z, y, x)`` in physical units.
    r0, r1 : float
        Radii at ``p0`` and ``p1``; the radius varies linearly in between.
    brightness : float, keyword-only
        Fluorophore density inside.
    labeled : bool, keyword-only
        Also set the truth (False draws a structure the annotation does not include).

    Notes
    -----
    A voxel belongs to the capsule when the distance ``d`` from its centre to the segment is at
    most ``r(t) = r0 + t (r1 - r0)``, ``t`` being the position of the closest point on the
    segment. With ``r >= sqrt(sz^2 + sy^2 + sx^2) / 2`` every voxel the centre line passes through
    is included, so thin tubes stay 26-connected.

    Examples
    --------
    >>> s = new_scene((5, 5, 9), spacing=(1.0, 1.0, 1.0))
    >>> draw_capsule(s, [2.5, 2.5, 1.5], [2.5, 2.5, 7.5], 0.9, 0.9)
    >>> int(s.label.sum()), s.label[2, 2].tolist()
    (7, [0, 1, 1, 1, 1, 1, 1, 1, 0])
    """
    p0 = np.asarray(p0, dtype=np.float32)
    p1 = np.asarray(p1, dtype=np.float32)
    rmax = max(r0, r1) + 1.0
    box = _box(scene, np.minimum(p0, p1) - rmax, np.maximum(p0, p1) + rmax)
    if box is None:
        return
    z, y, x = _centres(scene, box)
    d = p1 - p0
    length2 = float(d @ d)
    vz, vy, vx = z - p0[0], y - p0[1], x - p0[2]
    if length2 > 0:
        t = np.clip((vz * d[0] + vy * d[1] + vx * d[2]) / np.float32(length2), 0.0, 1.0)
    else:
        t = np.zeros((1, 1, 1), dtype=np.float32)
    dist = np.sqrt((vz - t * d[0]) ** 2 + (vy - t * d[1]) ** 2 + (vx - t * d[2]) ** 2)
    radius = np.float32(r0) + t * np.float32(r1 - r0)
    # Depth in units of the finest voxel size keeps the partial-volume ramp one voxel wide.
    depth = (radius - dist) / np.float32(min(scene.spacing))
    _paint(scene, box, depth, brightness=brightness, labeled=labeled)


def draw_ellipsoid(
    scene: Scene,
    centre: np.ndarray,
    radii: np.ndarray,
    *,
    rotation: np.ndarray | None = None,
    brightness: float = 1.0,
    labeled: bool = True,
) -> None:
    """Draw a (rotated) ellipsoid.

    Parameters
    ----------
    scene : Scene
        Modified in place.
    centre : (3,) array_like
        ``(z, y, x)`` in physical units.
    radii : (3,) array_like
        Semi-axes in physical units, along the rotated axes.
    rotation : (3, 3) ndarray, optional
        Rows are the ellipsoid's axes in ``(z, y, x)`` coordinates; identity if omitted.
    brightness, labeled
        As in :func:`draw_capsule`.

    Notes
    -----
    Inside means ``q = sum_i (u_i / a_i)^2 <= 1`` with ``u = R (x - c)``. The depth used for the
    border ramp is ``(1 - sqrt(q)) * min(a)``, an approximation of the distance to the surface
    that is exact on the shortest axis.

    Examples
    --------
    >>> s = new_scene((7, 7, 7), spacing=(1.0, 1.0, 1.0))
    >>> draw_ellipsoid(s, [3.5, 3.5, 3.5], [1.0, 1.0, 1.0])
    >>> int(s.label.sum())  # the centre voxel and its 6 face neighbours
    7
    """
    centre = np.asarray(centre, dtype=np.float32)
    radii = np.asarray(radii, dtype=np.float32)
    reach = float(radii.max()) + 1.0
    box = _box(scene, centre - reach, centre + reach)
    if box is None:
        return
    z, y, x = _centres(scene, box)
    v = (z - centre[0], y - centre[1], x - centre[2])
    rot = np.eye(3, dtype=np.float32) if rotation is None else np.asarray(rotation, np.float32)
    q = np.zeros(np.broadcast_shapes(*(c.shape for c in v)), dtype=np.float32)
    for i in range(3):
        u = rot[i, 0] * v[0] + rot[i, 1] * v[1] + rot[i, 2] * v[2]
        q += (u / radii[i]) ** 2
    depth = (np.float32(1.0) - np.sqrt(q)) * radii.min() / np.float32(min(scene.spacing))
    _paint(scene, box, depth, brightness=brightness, labeled=labeled)
