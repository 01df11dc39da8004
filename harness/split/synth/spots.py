"""Spot-like structures: c-Fos+ cells, cell nuclei and amyloid plaques.

Each labeled blob is an ellipsoid (cells, nuclei) or a lumpy union of ellipsoids (plaques) with
its own size, shape, orientation and brightness. A share of blobs is placed next to an earlier
one so that touching and clustered objects occur; a few are tiny (a handful of voxels, centred on
a voxel so they always exist in the truth). Dim, unlabeled objects of the same kind (cells below
the annotation's intensity threshold, autofluorescent granules) are drawn into the density only,
as in real stacks, where annotators mark the bright objects of interest.

Counts are given per 96^3 patch and scale with the volume.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.split.synth.shapes import Scene, draw_ellipsoid

__all__ = ["SPOT_STYLES", "SpotStyle", "random_rotation", "spots"]

_REFERENCE_VOXELS = 96**3


@dataclass(frozen=True)
class SpotStyle:
    """How one spot-like structure looks.

    Attributes
    ----------
    count : (float, float)
        Range of labeled blobs per 96^3 patch.
    radius : (float, float)
        Range of the mean semi-axis, physical units.
    aspect : float
        Largest ratio between semi-axes (1 = spheres).
    lobes : (int, int)
        Range of extra lobes added to each blob (plaques are lumpy; 0 for cells).
    clustered : float
        Share of blobs placed touching an earlier blob.
    tiny : float
        Share of blobs of a few voxels.
    distractors : (float, float)
        Range of dim unlabeled objects per 96^3 patch.
    """

    count: tuple[float, float]
    radius: tuple[float, float]
    aspect: float
    lobes: tuple[int, int]
    clustered: float
    tiny: float
    distractors: tuple[float, float]


SPOT_STYLES: dict[str, SpotStyle] = {
    "cfos": SpotStyle(count=(15, 80), radius=(2.0, 3.8), aspect=1.5, lobes=(0, 0),
                      clustered=0.25, tiny=0.08, distractors=(60, 200)),
    "cell_nucleus": SpotStyle(count=(220, 340), radius=(2.1, 4.4), aspect=1.4, lobes=(0, 0),
                              clustered=0.12, tiny=0.06, distractors=(250, 450)),
    "amyloid_plaque": SpotStyle(count=(1, 9), radius=(1.4, 4.5), aspect=1.6, lobes=(0, 3),
                                clustered=0.2, tiny=0.1, distractors=(20, 80)),
}


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly distributed 3x3 rotation matrix (QR of a Gaussian matrix, sign-corrected).

    Examples
    --------
    >>> r = random_rotation(np.random.default_rng(0))
    >>> bool(np.allclose(r @ r.T, np.eye(3)))
    True
    """
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.diag(r))


def _blob(
    scene: Scene,
    rng: np.random.Generator,
    centre: np.ndarray,
    radius: float,
    style: SpotStyle,
    *,
    brightness: float,
    labeled: bool,
) -> None:
    radii = radius * rng.uniform(1.0, style.aspect, size=3) / np.sqrt(style.aspect)
    draw_ellipsoid(scene, centre, radii, rotation=random_rotation(rng), brightness=brightness,
                   labeled=labeled)
    lo, hi = style.lobes
    for _ in range(int(rng.integers(lo, hi + 1)) if hi > 0 else 0):
        # Lobes overlap the core (offset below the core radius), so the blob stays one piece.
        offset = radius * 0.7 * _unit3(rng)
        draw_ellipsoid(scene, centre + offset, radii * rng.uniform(0.5, 0.8),
                       rotation=random_rotation(rng), brightness=brightness, labeled=labeled)


def _unit3(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=3)
    return v / np.linalg.norm(v)


def _voxel_centre(scene: Scene, p: np.ndarray) -> np.ndarray:
    sp = np.asarray(scene.spacing)
    idx = np.clip(np.floor(p / sp), 0, np.asarray(scene.shape) - 1)
    return (idx + 0.5) * sp


def spots(
    scene: Scene,
    rng: np.random.Generator,
    *,
    structure: str,
    count: int | None = None,
) -> dict[str, float]:
    """Draw labeled blobs and dim unlabeled look-alikes into ``scene``.

    Parameters
    ----------
    scene : Scene
        Modified in place.
    rng : numpy.random.Generator
        The only source of randomness.
    structure : str
        A key of :data:`SPOT_STYLES`.
    count : int, optional
        Labeled blobs to draw; drawn from the style's range (scaled to the volume) if omitted.
        0 gives a patch with no object of interest (only unlabeled look-alikes).

    Returns
    -------
    dict
        ``blobs`` (labeled blobs drawn, each with its centre voxel in the truth, so the truth has
        at most that many connected components, fewer where blobs touch) and ``distractors``.

    Examples
    --------
    >>> from harness.split.synth.shapes import new_scene
    >>> s = new_scene((32, 32, 32), spacing=(1.0, 1.0, 1.0))
    >>> spots(s, np.random.default_rng(0), structure="cfos", count=5)["blobs"]
    5
    """
    if structure not in SPOT_STYLES:
        raise ValueError(f"structure must be one of {sorted(SPOT_STYLES)}. Got {structure!r}.")
    if count is not None and count < 0:
        raise ValueError(f"count must be >= 0. Got {count}.")
    style = SPOT_STYLES[structure]
    scale = scene.label.size / _REFERENCE_VOXELS
    if count is None:
        count = round(rng.uniform(*style.count) * scale)
    extent = scene.extent
    centres: list[np.ndarray] = []
    radii: list[float] = []
    for _ in range(count):
        tiny = rng.random() < style.tiny
        radius = float(rng.uniform(0.9, 1.3) if tiny else rng.uniform(*style.radius))
        if centres and rng.random() < style.clustered:
            k = int(rng.integers(len(centres)))
            # Touching or slightly overlapping a neighbour.
            centre = centres[k] + (radii[k] + radius) * rng.uniform(0.75, 1.05) * _unit3(rng)
            centre = np.clip(centre, 0.0, extent - 1e-3)
        else:
            centre = rng.uniform(0.0, 1.0, size=3) * extent
        # On a voxel centre, every blob has at least that voxel in the truth.
        centre = _voxel_centre(scene, centre)
        if tiny:
            draw_ellipsoid(scene, centre, np.full(3, radius),
                           brightness=float(rng.uniform(0.5, 1.0)))
        else:
            _blob(scene, rng, centre, radius, style, brightness=float(rng.lognormal(0.0, 0.35)),
                  labeled=True)
        centres.append(centre)
        radii.append(radius)
    n_distractors = round(rng.uniform(*style.distractors) * scale)
    for _ in range(n_distractors):
        centre = rng.uniform(0.0, 1.0, size=3) * extent
        radius = float(rng.uniform(*style.radius))
        _blob(scene, rng, centre, radius, style, brightness=float(rng.uniform(0.05, 0.3)),
              labeled=False)
    return {"blobs": count, "distractors": n_distractors}
