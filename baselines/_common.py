"""Pieces shared by the baselines: intensity normalisation, small-object removal, track choice.

Runs inside the baseline containers, so it imports only numpy, scipy, scikit-image and cc3d.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import cc3d
import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import skeletonize

__all__ = [
    "STRUCTURE_TRACKS",
    "TRACKS",
    "TrackChoice",
    "canonical_structure",
    "choose_track",
    "infer_track",
    "normalise",
    "normalise_structure",
    "remove_small_objects",
    "track_of_structure",
    "tubularity",
]

# A copy of metrics.registry.TRACKS, not an import: this module runs in containers that hold the
# baselines package alone. tests/baselines/test_package.py checks that the two agree.
Track = Literal["vessel", "spot"]
TRACKS: tuple[str, ...] = ("vessel", "spot")

# Spellings a round may send in ``biological-structure`` -> the canonical structure name.
_ALIASES: dict[str, str] = {
    "blood_vessel": "blood_vessel",
    "blood_vessels": "blood_vessel",
    "vessel": "blood_vessel",
    "vessels": "blood_vessel",
    "microglia": "microglia",
    "cfos": "cfos",
    "c_fos": "cfos",
    "c_fos_cell": "cfos",
    "cell_nucleus": "cell_nucleus",
    "cell_nuclei": "cell_nucleus",
    "nucleus": "cell_nucleus",
    "nuclei": "cell_nucleus",
    "amyloid_plaque": "amyloid_plaque",
    "amyloid_plaques": "amyloid_plaque",
    "amyloid_beta_plaque": "amyloid_plaque",
    "amyloid_beta_plaques": "amyloid_plaque",
    "plaque": "amyloid_plaque",
    "plaques": "amyloid_plaque",
}

# Canonical structure -> track, as SELMA3D groups them (topology matters for the vessel track).
STRUCTURE_TRACKS: dict[str, str] = {
    "blood_vessel": "vessel",
    "microglia": "vessel",
    "cfos": "spot",
    "cell_nucleus": "spot",
    "amyloid_plaque": "spot",
}

# Tubularity above which an image is treated as vessel-like when no structure is given: between
# the real nuclei patches (0.7-0.8) and the real vessel patches (2.3-11); see tubularity().
TUBULARITY_THRESHOLD = 2.0


def normalise(image: np.ndarray, *, low: float = 1.0, high: float = 99.9) -> np.ndarray:
    """Map intensities to ``[0, 1]`` between two percentiles of the patch.

    Parameters
    ----------
    image : (Z, Y, X) ndarray
        Raw intensities of any real dtype.
    low, high : float
        Percentiles mapped to 0 and 1; values outside are clipped.

    Returns
    -------
    (Z, Y, X) ndarray of float32
        ``clip((image - p_low) / (p_high - p_low), 0, 1)``; all zeros for a constant patch.

    Examples
    --------
    >>> import numpy as np
    >>> normalise(np.arange(8, dtype=float).reshape(2, 2, 2), low=0, high=100).max()
    np.float32(1.0)
    """
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"image must be a 3D array (Z, Y, X); got shape {image.shape}.")
    if not 0 <= low < high <= 100:
        raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100; got {low}, {high}.")
    data = image.astype(np.float32, copy=False)
    if not np.all(np.isfinite(data)):
        raise ValueError("image contains NaN or infinite values.")
    p_low, p_high = np.percentile(data, [low, high])
    if p_high <= p_low:
        return np.zeros(data.shape, dtype=np.float32)
    out = (data - np.float32(p_low)) / np.float32(p_high - p_low)
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def remove_small_objects(mask: np.ndarray, *, min_size: int, connectivity: int = 26) -> np.ndarray:
    """Drop connected components smaller than ``min_size`` voxels.

    Parameters
    ----------
    mask : (Z, Y, X) ndarray of bool
    min_size : int
        Components with fewer voxels are removed; 0 or 1 keeps everything.
    connectivity : {6, 18, 26}

    Returns
    -------
    (Z, Y, X) ndarray of bool
    """
    mask = np.asarray(mask, dtype=bool)
    if min_size <= 1 or not mask.any():
        return mask.copy()
    return cc3d.dust(mask, threshold=int(min_size), connectivity=connectivity, in_place=False)


def normalise_structure(structure: str) -> str:
    """Lower-case a structure name and join its words with ``_``.

    Examples
    --------
    >>> normalise_structure("Amyloid-beta plaque")
    'amyloid_beta_plaque'
    """
    return re.sub(r"[^a-z0-9]+", "_", structure.strip().lower()).strip("_")


def canonical_structure(structure: str) -> str:
    """The canonical name of a structure; unknown names are only normalised.

    Examples
    --------
    >>> canonical_structure("Vessels"), canonical_structure("c-Fos"), canonical_structure("Glia X")
    ('blood_vessel', 'cfos', 'glia_x')
    """
    name = normalise_structure(structure)
    return _ALIASES.get(name, name)


def track_of_structure(structure: str) -> str | None:
    """The track of a known structure name, or None when the name is not known.

    Examples
    --------
    >>> track_of_structure("blood-vessel"), track_of_structure("cfos"), track_of_structure("x")
    ('vessel', 'spot', None)
    """
    return STRUCTURE_TRACKS.get(canonical_structure(structure))


def tubularity(image: np.ndarray, *, percentile: float = 95.0, min_size: int = 20) -> float:
    """How tube-like the bright structures of a patch are: mean skeleton length over diameter.

    The normalised image is smoothed (Gaussian, sigma 1 voxel) and cut at its ``percentile``;
    components smaller than ``min_size`` voxels are dropped. With ``V`` the kept volume, ``L`` its
    skeleton length in voxels and ``n`` its number of components, the mean radius of a tube of
    that volume and length is ``r = sqrt(V / (pi L))`` and the score is ``L / (2 r) / n``: the
    length-to-width ratio per component. Round blobs score below 1, branching vessels far above.

    Parameters
    ----------
    image : (Z, Y, X) ndarray
    percentile : float
        Share of the patch taken as bright structure (100 - percentile per cent of the voxels).
    min_size : int
        Components below this many voxels are noise.

    Returns
    -------
    float
        Non-negative; 0 when nothing bright survives.

    Notes
    -----
    Measured on the six real sample patches: nuclei 0.7-0.8, vessels 2.3-11, and the two
    amyloid-plaque patches 9-16 because their speckled background survives the cut. The score
    therefore misreads plaques as vessel-like; a round that sends ``biological-structure`` avoids
    the guess altogether.
    """
    smooth = ndi.gaussian_filter(normalise(image), 1.0)
    mask = smooth > np.percentile(smooth, percentile)
    mask = remove_small_objects(mask, min_size=min_size)
    if not mask.any():
        return 0.0
    length = int(skeletonize(mask).sum())
    volume = int(mask.sum())
    n = int(cc3d.connected_components(mask, connectivity=26).max())
    radius = float(np.sqrt(volume / (np.pi * max(length, 1))))
    return length / (2.0 * radius) / n


@dataclass(frozen=True)
class TrackChoice:
    """Which track a case is segmented as, and why.

    Attributes
    ----------
    track : {"vessel", "spot"}
    structure : str or None
        The normalised structure name when one was given.
    reason : str
        One line for the container's log.
    """

    track: str
    structure: str | None
    reason: str


def infer_track(image: np.ndarray) -> TrackChoice:
    """Guess the track from the image alone with :func:`tubularity`.

    Returns
    -------
    TrackChoice
        ``vessel`` when the tubularity exceeds ``TUBULARITY_THRESHOLD``, else ``spot``.
    """
    score = tubularity(image)
    track = "vessel" if score > TUBULARITY_THRESHOLD else "spot"
    reason = (
        f"no structure given: inferred track {track!r} from the image "
        f"(tubularity {score:.3f}, threshold {TUBULARITY_THRESHOLD})"
    )
    return TrackChoice(track=track, structure=None, reason=reason)


def choose_track(
    image: np.ndarray, *, structure: str | None = None, track: str | None = None
) -> TrackChoice:
    """Decide the track from what the contract provides, in this order: track, structure, image.

    Parameters
    ----------
    image : (Z, Y, X) ndarray
    structure : str, optional
        The ``biological-structure`` input; an unknown name falls back to the image.
    track : {"vessel", "spot"}, optional
        Forces the track.

    Returns
    -------
    TrackChoice
    """
    if track is not None:
        if track not in TRACKS:
            raise ValueError(f"track must be one of {TRACKS}; got {track!r}.")
        name = canonical_structure(structure) if structure else None
        return TrackChoice(track=track, structure=name, reason=f"track {track!r} given")
    if structure:
        name = canonical_structure(structure)
        known = STRUCTURE_TRACKS.get(name)
        if known is not None:
            return TrackChoice(
                track=known, structure=name, reason=f"structure {name!r} -> track {known!r}"
            )
        guess = infer_track(image)
        return TrackChoice(
            track=guess.track,
            structure=name,
            reason=f"unknown structure {name!r}; "
            + guess.reason.removeprefix("no structure given: "),
        )
    return infer_track(image)
