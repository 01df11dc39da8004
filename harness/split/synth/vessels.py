"""Vessel-like structures: blood-vessel trees with loops, and process-bearing microglia.

Blood vessels
-------------
A tree enters the patch through a face, then grows as a persistent random walk (tortuosity)
whose radius shrinks slowly; at the end of a branch it splits in two following Murray's law,
``r^3 = r_1^3 + r_2^3`` (Murray 1926, doi:10.1073/pnas.12.3.207), until the radius reaches the
capillary scale, where capillaries keep branching for a few generations. Branches that leave the
patch are simply cut by it, as in real patches. Capillary anastomoses close loops between
branches of the same tree, which gives the label a first Betti number above zero, as cortical
microvasculature has (Blinder et al. 2013, doi:10.1038/nn.3426). Trees are added until the
expected foreground fraction reaches a target drawn per patch.

Microglia
---------
A soma (ellipsoid) with a handful of thin, tortuous, branching processes (Nimmerjahn et al. 2005,
doi:10.1126/science.1110647), tiled sparsely through the patch.

Capsule radii are at least half the voxel diagonal (:data:`MIN_RADIUS_FACTOR`), so thin tubes
stay 26-connected in the truth while the imaging model blurs them close to the resolution limit.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from harness.split.synth.shapes import Scene, draw_capsule, draw_ellipsoid
from harness.split.synth.spots import random_rotation

__all__ = ["MIN_RADIUS_FACTOR", "Segment", "blood_vessels", "microglia"]

MIN_RADIUS_FACTOR = 0.5
# Volume of a 96^3 patch: densities of objects are given per such patch.
_REFERENCE_VOXELS = 96**3


@dataclass(frozen=True)
class Segment:
    """One straight piece of a vessel: from ``p0`` to ``p1`` (physical ``z, y, x``)."""

    p0: np.ndarray
    p1: np.ndarray
    r0: float
    r1: float
    tree: int
    branch: int
    brightness: float


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else np.array([0.0, 0.0, 1.0])


def _turn(d: np.ndarray, angle: float, rng: np.random.Generator) -> np.ndarray:
    """Rotate direction ``d`` by ``angle`` radians towards a random perpendicular direction."""
    p = _unit(np.cross(d, rng.normal(size=3)))
    return _unit(np.cos(angle) * d + np.sin(angle) * p)


def _inside(p: np.ndarray, extent: np.ndarray, margin: float = 0.0) -> bool:
    return all(-margin <= v <= e + margin for v, e in zip(p.tolist(), extent.tolist(), strict=True))


def _min_radius(scene: Scene) -> float:
    return MIN_RADIUS_FACTOR * float(np.linalg.norm(scene.spacing))


class _Occupancy:
    """Sample points of the structures grown so far, hashed on a coarse grid.

    Lets a growing branch stop before it runs into another one: without it, random trees cross
    each other so often that the truth has tens of times the loops of real vasculature, whose
    loops come from anastomoses. Near its fork a branch may touch its parent and siblings.
    """

    def __init__(self, cell: float = 6.0) -> None:
        self.cell = cell
        self.cells: dict[tuple[int, int, int], list[tuple[tuple[float, ...], float, int]]] = {}
        self.parent: dict[int, int] = {}
        self.fork: dict[int, tuple[np.ndarray, float]] = {}

    def _key(self, p: tuple[float, ...]) -> tuple[int, int, int]:
        return tuple(math.floor(v / self.cell) for v in p)  # type: ignore[return-value]

    def start(self, branch: int, *, parent: int, at: np.ndarray, reach: float) -> None:
        """Register a branch leaving ``parent`` at ``at``; kin are ignored within ``reach``."""
        self.parent[branch] = parent
        self.fork[branch] = (at, reach)

    def add(self, p: np.ndarray, q: np.ndarray, r: float, branch: int) -> None:
        """Record the segment ``p -> q`` of radius ``r``."""
        # Plain floats: this runs for every step of every branch.
        a, b = p.tolist(), q.tolist()
        n = max(1, math.ceil(math.dist(a, b) / 1.5))
        for i in range(1, n + 1):
            t = i / n
            point = tuple(u + t * (v - u) for u, v in zip(a, b, strict=True))
            self.cells.setdefault(self._key(point), []).append((point, r, branch))

    def hits(self, q: np.ndarray, r: float, branch: int) -> bool:
        """True if a ball of radius ``r`` (plus a gap) at ``q`` meets another branch."""
        parent = self.parent.get(branch, -1)
        fork, reach = self.fork.get(branch, (q, 0.0))
        near_fork = float(np.linalg.norm(q - fork)) < reach
        q = tuple(q.tolist())
        kz, ky, kx = self._key(q)
        for dz in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    for point, r2, other in self.cells.get((kz + dz, ky + dy, kx + dx), ()):
                        if other == branch:
                            continue
                        kin = other == parent or self.parent.get(other) in (parent, branch)
                        if kin and near_fork:
                            continue
                        if math.dist(point, q) < r + r2 + 1.5:
                            return True
        return False


def _grow_tree(
    scene: Scene,
    rng: np.random.Generator,
    *,
    tree: int,
    branch_ids: Iterator[int],
    occupancy: _Occupancy,
    r_capillary: float,
    max_segments: int,
) -> list[Segment]:
    """Grow one tree from an entry point on the patch surface or a point inside."""
    extent = scene.extent
    margin = 6.0
    if rng.random() < 0.5:
        # Enters through a face, growing inwards.
        axis = int(rng.integers(3))
        start = rng.uniform(0.1, 0.9, size=3) * extent
        side = int(rng.integers(2))
        start[axis] = -margin / 2 if side == 0 else extent[axis] + margin / 2
        inward = np.zeros(3)
        inward[axis] = 1.0 if side == 0 else -1.0
        starts = [_unit(inward + 0.8 * rng.normal(size=3))]
    else:
        # Passes through a point inside: two trunks grow in opposite directions, so large
        # patches fill from within instead of only from their faces.
        start = rng.uniform(0.0, 1.0, size=3) * extent
        direction = _unit(rng.normal(size=3))
        starts = [direction, -direction]
    # Capillary calibre varies between trees: some near the resolution limit, some wider.
    r_capillary = float(rng.uniform(1.1, 1.8)) * r_capillary
    # Most trees are small; about one in four is a large vessel (arteriole or venule).
    big = rng.random() < 0.25
    radius = float(rng.uniform(3.0, 5.0) if big else rng.uniform(1.3, 2.4)) * r_capillary
    brightness = float(rng.lognormal(0.0, 0.4))
    # Branches still to grow: (start, direction, radius, capillary generation, parent branch).
    stack = [(start, d, radius, 0, -1) for d in starts]
    segments: list[Segment] = []
    while stack and len(segments) < max_segments:
        p, d, r, generation, parent = stack.pop()
        capillary = r <= r_capillary * 1.05
        tortuosity = 0.3 if capillary else 0.15
        n_steps = int(rng.integers(3, 7) if capillary else rng.integers(4, 10))
        step = 3.5
        branch = next(branch_ids)
        occupancy.start(branch, parent=parent, at=p, reach=2 * r + step)
        b = brightness * float(rng.uniform(0.8, 1.15)) * (0.8 if capillary else 1.0)
        blocked = False
        for _ in range(n_steps):
            r_next = max(r * float(rng.uniform(0.95, 1.01)), r_capillary)
            # Steer around other vessels: try a few turns before giving up, so that large
            # vessels rarely end bluntly in the middle of the patch.
            for attempt in range(4):
                trial = _unit(d + tortuosity * rng.normal(size=3))
                if attempt:
                    trial = _turn(trial, float(rng.uniform(0.4, 1.2)), rng)
                q = p + step * trial
                blocked = occupancy.hits(q, r_next, branch)
                if not blocked:
                    d = trial
                    break
            if blocked:
                break
            segments.append(Segment(p, q, r, r_next, tree, branch,
                                    b * float(rng.uniform(0.85, 1.15))))
            occupancy.add(p, q, max(r, r_next), branch)
            p, r = q, r_next
            if not _inside(p, extent, margin):
                break
        if blocked or not _inside(p, extent, margin):
            continue
        if not capillary:
            share = float(rng.uniform(0.25, 0.75))
            # Murray's law: r^3 = r1^3 + r2^3.
            r1 = max(r * share ** (1 / 3), r_capillary)
            r2 = max(r * (1 - share) ** (1 / 3), r_capillary)
            angle = float(rng.uniform(0.5, 1.1))
            stack.append((p, _turn(d, angle, rng), r1, 0, branch))
            stack.append((p, _turn(d, -angle, rng), r2, 0, branch))
        elif generation < 2 and rng.random() < 0.7:
            stack.append((p, _turn(d, float(rng.uniform(0.6, 1.2)), rng), r_capillary,
                          generation + 1, branch))
            stack.append((p, _turn(d, -float(rng.uniform(0.6, 1.2)), rng), r_capillary,
                          generation + 1, branch))
    return segments


def _anastomoses(
    segments: list[Segment],
    scene: Scene,
    rng: np.random.Generator,
    *,
    count: int,
    r_capillary: float,
    branch_ids: Iterator[int],
) -> list[Segment]:
    """Join pairs of points on different branches of one tree with tortuous capillaries.

    Both ends lie inside the patch and the path is a biased random walk towards the target, so
    each join closes a cycle in the truth (the tree was already connected).
    """
    extent = scene.extent
    inside = [s for s in segments if _inside(s.p1, extent, -2.0)]
    if len(inside) < 2:
        return []
    ends = np.array([s.p1 for s in inside])
    trees = np.array([s.tree for s in inside])
    branches = np.array([s.branch for s in inside])
    out: list[Segment] = []
    joined = 0
    for _ in range(count * 6):
        if joined >= count:
            break
        i = int(rng.integers(len(inside)))
        dist = np.linalg.norm(ends - ends[i], axis=1)
        ok = (trees == trees[i]) & (branches != branches[i]) & (dist > 6) & (dist < 28)
        candidates = np.flatnonzero(ok)
        if candidates.size == 0:
            continue
        j = int(candidates[rng.integers(candidates.size)])
        branch = next(branch_ids)
        joined += 1
        p, target = ends[i].copy(), ends[j]
        b = inside[i].brightness * 0.8
        for _ in range(40):
            to_target = target - p
            if float(np.linalg.norm(to_target)) <= 2.5:
                break
            q = p + 2.0 * _unit(_unit(to_target) + 0.6 * rng.normal(size=3))
            out.append(Segment(p, q, r_capillary, r_capillary, int(trees[i]), branch, b))
            p = q
        out.append(Segment(p, target.copy(), r_capillary, r_capillary, int(trees[i]), branch, b))
    return out


def _expected_fraction(segments: list[Segment], scene: Scene) -> float:
    """Rough foreground fraction of segments whose midpoint is inside the patch."""
    extent = scene.extent
    volume = 0.0
    for s in segments:
        if _inside((s.p0 + s.p1) / 2, extent):
            r = (s.r0 + s.r1) / 2
            volume += np.pi * r * r * float(np.linalg.norm(s.p1 - s.p0))
    return volume / float(np.prod(extent))


def blood_vessels(scene: Scene, rng: np.random.Generator) -> dict[str, float]:
    """Draw branching vessel trees with loops into ``scene``.

    Parameters
    ----------
    scene : Scene
        Modified in place (truth and density).
    rng : numpy.random.Generator
        The only source of randomness.

    Returns
    -------
    dict
        What was drawn: ``trees``, ``segments``, ``loops`` (anastomoses drawn), ``target_fraction``.

    Examples
    --------
    >>> from harness.split.synth.shapes import new_scene
    >>> s = new_scene((48, 48, 48), spacing=(1.0, 1.0, 1.0))
    >>> info = blood_vessels(s, np.random.default_rng(0))
    >>> bool(s.label.any()), info["loops"] > 0
    (True, True)
    """
    r_cap = max(_min_radius(scene) * 1.05, 1.25)
    scale = scene.label.size / _REFERENCE_VOXELS
    target = float(rng.uniform(0.045, 0.11))
    segments: list[Segment] = []
    branch_ids = itertools.count()
    occupancy = _Occupancy()
    trees = 0
    fraction = 0.0
    while fraction < target and trees < 6 + int(40 * scale):
        grown = _grow_tree(scene, rng, tree=trees, branch_ids=branch_ids, occupancy=occupancy,
                           r_capillary=r_cap, max_segments=150)
        segments.extend(grown)
        fraction += _expected_fraction(grown, scene)
        trees += 1
    n_loops = max(2, round(rng.uniform(8, 16) * scale))
    loops = _anastomoses(segments, scene, rng, count=n_loops, r_capillary=r_cap,
                         branch_ids=branch_ids)
    for s in (*segments, *loops):
        draw_capsule(scene, s.p0, s.p1, s.r0, s.r1, brightness=s.brightness)
    return {
        "trees": trees,
        "segments": len(segments) + len(loops),
        "loops": len({s.branch for s in loops}),
        "target_fraction": round(target, 4),
    }


def _spread_directions(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``n`` roughly evenly spread unit vectors (a randomly rotated Fibonacci sphere)."""
    i = np.arange(n) + 0.5
    polar = np.arccos(1 - 2 * i / n)
    azimuth = np.pi * (1 + 5**0.5) * i
    points = np.stack([np.cos(polar), np.sin(polar) * np.sin(azimuth),
                       np.sin(polar) * np.cos(azimuth)], axis=1)
    return list(points @ random_rotation(rng).T)


def microglia(scene: Scene, rng: np.random.Generator) -> dict[str, float]:
    """Draw process-bearing microglia (soma plus thin branching processes) into ``scene``.

    Returns
    -------
    dict
        ``cells``: how many cells were placed (some may be cut by the patch border).

    Examples
    --------
    >>> from harness.split.synth.shapes import new_scene
    >>> s = new_scene((40, 40, 40), spacing=(1.0, 1.0, 1.0))
    >>> microglia(s, np.random.default_rng(1))["cells"] >= 1
    True
    """
    r_min = _min_radius(scene)
    scale = scene.label.size / _REFERENCE_VOXELS
    n_cells = max(1, round(rng.uniform(5, 14) * scale))
    extent = scene.extent
    occupancy = _Occupancy()
    branch_ids = itertools.count()
    for _ in range(n_cells):
        centre = rng.uniform(0.0, 1.0, size=3) * extent
        soma = rng.uniform(2.8, 4.5) * np.array([1.0, *rng.uniform(0.8, 1.2, size=2)])
        brightness = float(rng.uniform(0.6, 1.3))
        draw_ellipsoid(scene, centre, soma, brightness=brightness)
        # Primary processes leave the soma in well-spread directions, as they tile the space
        # around the cell rather than bundle.
        n_primary = int(rng.integers(4, 9))
        cell = next(branch_ids)
        stack = [
            (centre.copy(), d, float(rng.uniform(1.4, 1.9)) * r_min, 0, cell)
            for d in _spread_directions(n_primary, rng)
        ]
        while stack:
            p, d, r, order, parent = stack.pop()
            branch = next(branch_ids)
            occupancy.start(branch, parent=parent, at=p, reach=float(soma.max()) + 2 * r + 2.0)
            for _ in range(int(rng.integers(4, 11))):
                d = _unit(d + 0.3 * rng.normal(size=3))
                q = p + 2.0 * d
                r_next = max(r * 0.94, r_min)
                if occupancy.hits(q, r_next, branch):
                    break
                draw_capsule(scene, p, q, r, r_next, brightness=brightness * 0.8)
                occupancy.add(p, q, max(r, r_next), branch)
                p, r = q, r_next
                if order < 2 and rng.random() < 0.18:
                    stack.append((p.copy(), _turn(d, float(rng.uniform(0.5, 1.1)), rng), r,
                                  order + 1, branch))
    return {"cells": n_cells}
