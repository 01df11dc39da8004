"""Classical baseline: vesselness + hysteresis (vessel-like), LoG + local threshold (spot-like).

Parameters per structure (and per track, for structures the search did not see) live in
``baselines/classical_params.json``, written by ``selma3d baselines tune`` (see
:mod:`baselines.tuning`). Runs inside the ``selma3d/baselines`` image: numpy, scipy,
scikit-image and cc3d only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cc3d
import numpy as np
from scipy import ndimage as ndi
from skimage.feature import peak_local_max
from skimage.filters import apply_hysteresis_threshold, sato
from skimage.segmentation import watershed

from baselines._common import TrackChoice, choose_track, normalise, remove_small_objects

__all__ = [
    "PARAMS_PATH",
    "SpotParams",
    "VesselParams",
    "blob_response",
    "load_params",
    "params_for",
    "params_to_dict",
    "segment",
    "segment_spot",
    "segment_vessel",
    "spot_mask",
    "vessel_response",
]

PARAMS_PATH = Path(__file__).with_name("classical_params.json")


@dataclass(frozen=True)
class VesselParams:
    """Options of :func:`segment_vessel`.

    Attributes
    ----------
    sigmas : tuple of float
        Scales of the Sato tubeness filter, in voxels (about the vessel radii).
    high, low : float
        Hysteresis thresholds on the response scaled so its 99.9th percentile is 1: voxels above
        ``high`` seed the mask, connected voxels above ``low`` join it.
    min_size : int
        Components with fewer voxels are removed.
    """

    sigmas: tuple[float, ...] = (1.0, 2.0, 3.0)
    high: float = 0.3
    low: float = 0.15
    min_size: int = 20

    def __post_init__(self) -> None:
        if not self.sigmas or min(self.sigmas) <= 0:
            raise ValueError(f"sigmas must be positive scales; got {self.sigmas}.")
        if not 0 <= self.low <= self.high:
            raise ValueError(f"need 0 <= low <= high; got low={self.low}, high={self.high}.")
        object.__setattr__(self, "sigmas", tuple(float(s) for s in self.sigmas))


@dataclass(frozen=True)
class SpotParams:
    """Options of :func:`segment_spot`.

    Attributes
    ----------
    sigmas : tuple of float
        Scales of the scale-normalised Laplacian of Gaussian, in voxels (blob radius / sqrt(3)).
    detect : float
        A blob is detected where the LoG response, scaled so its 99.9th percentile is 1,
        exceeds this value.
    offset : float
        Local threshold: a voxel belongs to a blob's extent when its normalised intensity exceeds
        the local mean (Gaussian, ``local_sigma``) by this much.
    local_sigma : float
        Scale of the local mean, in voxels (several blob diameters).
    split_touching : bool
        Separate touching blobs by a seeded watershed and cut one-voxel gaps between them.
    min_size : int
        Components with fewer voxels are removed.
    """

    sigmas: tuple[float, ...] = (1.5, 2.5)
    detect: float = 0.3
    offset: float = 0.05
    local_sigma: float = 8.0
    split_touching: bool = False
    min_size: int = 10

    def __post_init__(self) -> None:
        if not self.sigmas or min(self.sigmas) <= 0:
            raise ValueError(f"sigmas must be positive scales; got {self.sigmas}.")
        if self.local_sigma <= 0:
            raise ValueError(f"local_sigma must be positive; got {self.local_sigma}.")
        object.__setattr__(self, "sigmas", tuple(float(s) for s in self.sigmas))


@dataclass(frozen=True)
class _ParamTable:
    tracks: dict[str, VesselParams | SpotParams]
    structures: dict[str, VesselParams | SpotParams] = field(default_factory=dict)


def _scaled(response: np.ndarray) -> np.ndarray:
    top = float(np.percentile(response, 99.9))
    if top <= 0:
        return np.zeros(response.shape, dtype=np.float32)
    return (response / top).astype(np.float32)


def vessel_response(image: np.ndarray, *, sigmas: tuple[float, ...]) -> np.ndarray:
    """Sato tubeness of the normalised image for bright tubes, scaled so the 99.9th percentile is 1.

    Parameters
    ----------
    image : (Z, Y, X) ndarray
    sigmas : tuple of float

    Returns
    -------
    (Z, Y, X) ndarray of float32

    Notes
    -----
    Sato et al., Medical Image Analysis 2(2), 1998, doi:10.1016/S1361-8415(98)80009-1; the
    maximum over scales as in :func:`skimage.filters.sato`.
    """
    return _scaled(sato(normalise(image), sigmas=list(sigmas), black_ridges=False))


def blob_response(image: np.ndarray, *, sigmas: tuple[float, ...]) -> np.ndarray:
    """Scale-normalised LoG blob response ``max_s(-s^2 LoG_s(image))``, scaled like vessel_response.

    Notes
    -----
    Lindeberg, IJCV 30(2), 1998, doi:10.1023/A:1008045108935.
    """
    norm = normalise(image)
    resp = np.zeros(norm.shape, dtype=np.float32)
    for s in sigmas:
        np.maximum(resp, -(s**2) * ndi.gaussian_laplace(norm, s), out=resp)
    return _scaled(resp)


def segment_vessel(
    image: np.ndarray, *, params: VesselParams = VesselParams(), response: np.ndarray | None = None
) -> np.ndarray:
    """Vessel-like structures: Sato tubeness, hysteresis threshold, small-object removal.

    Parameters
    ----------
    image : (Z, Y, X) ndarray
    params : VesselParams
    response : (Z, Y, X) ndarray, optional
        A precomputed :func:`vessel_response` for ``params.sigmas`` (the search reuses it).

    Returns
    -------
    (Z, Y, X) ndarray of uint8
    """
    resp = vessel_response(image, sigmas=params.sigmas) if response is None else response
    mask = apply_hysteresis_threshold(resp, params.low, params.high)
    return remove_small_objects(mask, min_size=params.min_size).astype(np.uint8)


def segment_spot(
    image: np.ndarray,
    *,
    params: SpotParams = SpotParams(),
    response: np.ndarray | None = None,
) -> np.ndarray:
    """Spot-like structures: LoG detection, extent by a local threshold, optional watershed split.

    A blob's extent is the connected region of ``image > local mean + offset`` around a voxel
    whose LoG response exceeds ``detect``; regions without such a voxel are dropped.

    Parameters
    ----------
    image : (Z, Y, X) ndarray
    params : SpotParams
    response : (Z, Y, X) ndarray, optional
        A precomputed :func:`blob_response` for ``params.sigmas``.

    Returns
    -------
    (Z, Y, X) ndarray of uint8
    """
    norm = normalise(image)
    resp = blob_response(image, sigmas=params.sigmas) if response is None else response
    local_mean = ndi.gaussian_filter(norm, params.local_sigma)
    return spot_mask(norm, resp, local_mean, params=params)


def spot_mask(
    norm: np.ndarray, response: np.ndarray, local_mean: np.ndarray, *, params: SpotParams
) -> np.ndarray:
    """The decision step of :func:`segment_spot` on precomputed filters (the search reuses them).

    Parameters
    ----------
    norm : (Z, Y, X) ndarray
        The normalised image.
    response : (Z, Y, X) ndarray
        :func:`blob_response` for ``params.sigmas``.
    local_mean : (Z, Y, X) ndarray
        ``gaussian_filter(norm, params.local_sigma)``.
    params : SpotParams

    Returns
    -------
    (Z, Y, X) ndarray of uint8
    """
    seeds = response > params.detect
    region = (norm > local_mean + params.offset) | seeds
    labels = cc3d.connected_components(region, connectivity=26)
    keep = np.unique(labels[seeds])
    mask = np.isin(labels, keep[keep > 0])
    if params.split_touching and mask.any():
        mask = _split_touching(mask, response, min_distance=max(2, round(min(params.sigmas) * 2)))
    return remove_small_objects(mask, min_size=params.min_size).astype(np.uint8)


def _split_touching(mask: np.ndarray, response: np.ndarray, *, min_distance: int) -> np.ndarray:
    peaks = peak_local_max(
        response, min_distance=min_distance, labels=mask.astype(np.int32), exclude_border=False
    )
    markers = np.zeros(mask.shape, dtype=np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1, dtype=np.int32)
    labels = watershed(-response, markers, mask=mask)
    # Cut only where two blobs meet, never along a blob's outer surface.
    return mask & ~_touches_other(labels)


def _touches_other(labels: np.ndarray) -> np.ndarray:
    # A voxel touches another blob when a 26-neighbour carries a different non-zero label.
    lo = ndi.minimum_filter(np.where(labels > 0, labels, np.iinfo(labels.dtype).max), size=3)
    # Keep the lower label of each touching pair, so one voxel layer separates them.
    return (labels > 0) & (lo < labels)


def _from_dict(track: str, values: dict[str, Any]) -> VesselParams | SpotParams:
    cls = VesselParams if track == "vessel" else SpotParams
    known = set(cls.__dataclass_fields__)
    unknown = set(values) - known
    if unknown:
        raise ValueError(
            f"{cls.__name__}: unknown fields {sorted(unknown)}; expected some of {sorted(known)}."
        )
    values = {k: tuple(v) if k == "sigmas" else v for k, v in values.items()}
    return cls(**values)


def load_params(path: str | Path = PARAMS_PATH) -> _ParamTable:
    """Read the parameter table written by the search.

    Parameters
    ----------
    path : str or Path
        JSON with ``tracks`` {track: params} and ``structures`` {structure: {track, params}}.

    Returns
    -------
    _ParamTable
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the classical parameters: {exc}") from exc
    try:
        tracks = {t: _from_dict(t, v) for t, v in doc["tracks"].items()}
        structures = {
            s: _from_dict(v["track"], v["params"]) for s, v in doc.get("structures", {}).items()
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: malformed classical parameters: {exc}") from exc
    for t in ("vessel", "spot"):
        if t not in tracks:
            raise ValueError(f"{path}: 'tracks' needs an entry for {t!r}; got {sorted(tracks)}.")
    return _ParamTable(tracks=tracks, structures=structures)


def params_for(
    choice: TrackChoice, *, table: _ParamTable | None = None
) -> VesselParams | SpotParams:
    """The parameters for a structure when the search saw it on that track, else the track's."""
    table = load_params() if table is None else table
    if choice.structure is not None and choice.structure in table.structures:
        found = table.structures[choice.structure]
        if isinstance(found, VesselParams) == (choice.track == "vessel"):
            return found
    return table.tracks[choice.track]


def segment(
    image: np.ndarray,
    *,
    structure: str | None = None,
    track: str | None = None,
    params: VesselParams | SpotParams | None = None,
) -> np.ndarray:
    """Segment a patch with the method of its track and the tuned parameters of its structure.

    Parameters
    ----------
    image : (Z, Y, X) ndarray
        Raw intensities.
    structure : str, optional
        The ``biological-structure`` input (any spelling known to
        :func:`baselines._common.canonical_structure`).
    track : {"vessel", "spot"}, optional
        Forces the track; otherwise it follows the structure, or the image when no known
        structure is given (:func:`baselines._common.infer_track`).
    params : VesselParams or SpotParams, optional
        Overrides the tuned parameters; its type must match the track.

    Returns
    -------
    (Z, Y, X) ndarray of uint8

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((24, 24, 24), dtype=np.float32)
    >>> img[12, 12, 2:22] = 1.0
    >>> mask = segment(img, track="vessel")
    >>> bool(mask[12, 12, 12])
    True
    """
    choice = choose_track(np.asarray(image), structure=structure, track=track)
    chosen = params_for(choice) if params is None else params
    if choice.track == "vessel":
        if not isinstance(chosen, VesselParams):
            raise ValueError(
                f"params for the vessel track must be VesselParams; got {type(chosen).__name__}."
            )
        return segment_vessel(image, params=chosen)
    if not isinstance(chosen, SpotParams):
        raise ValueError(
            f"params for the spot track must be SpotParams; got {type(chosen).__name__}."
        )
    return segment_spot(image, params=chosen)


def params_to_dict(params: VesselParams | SpotParams) -> dict[str, Any]:
    """Plain-JSON form of a parameter set (used by the search when it writes the table)."""
    out = asdict(params)
    out["sigmas"] = list(out["sigmas"])
    return out
