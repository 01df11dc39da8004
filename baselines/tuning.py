"""Grid search of the classical baseline's parameters on labeled patches (host side only).

For each track the search scores every parameter set of a small grid on every labeled case of
that track and keeps the best mean score, per structure and for the whole track (the fallback
for structures it has not seen). The score of a case is the mean of the track's two headline
metrics: ``(Dice + clDice) / 2`` for vessel-like, ``(Dice + blob F1) / 2`` for spot-like cases.
Filter responses are computed once per scale and reused across the grid.

Imports the project's ``metrics`` package inside the functions; the containers never need this
module.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import sato

from baselines._common import canonical_structure, normalise
from baselines.classical import SpotParams, VesselParams, blob_response, segment_vessel, spot_mask

__all__ = ["SPOT_GRID", "VESSEL_GRID", "LabeledCase", "TuneResult", "tune"]

VESSEL_GRID: dict[str, tuple[Any, ...]] = {
    "sigmas": ((1.0,), (1.0, 2.0), (1.0, 2.0, 3.0)),
    "high": (0.2, 0.3, 0.4, 0.5),
    "low_ratio": (0.5, 0.7),
    "min_size": (20,),
}
SPOT_GRID: dict[str, tuple[Any, ...]] = {
    "sigmas": ((1.0,), (1.5, 2.5)),
    "detect": (0.2, 0.35, 0.5, 0.7),
    "offset": (0.03, 0.08, 0.15, 0.25),
    "local_sigma": (4.0,),
    "split_touching": (False, True),
    "min_size": (10,),
}


@dataclass(frozen=True)
class LabeledCase:
    """One labeled patch for the search.

    Attributes
    ----------
    case_id : str
    track : {"vessel", "spot"}
    structure : str
    image : (Z, Y, X) ndarray
    label : (Z, Y, X) ndarray of bool
    """

    case_id: str
    track: str
    structure: str
    image: np.ndarray
    label: np.ndarray


@dataclass(frozen=True)
class TuneResult:
    """Best parameters and their mean scores.

    Attributes
    ----------
    tracks : dict
        track -> (params, mean score over the track's cases).
    structures : dict
        canonical structure -> (track, params, mean score over its cases).
    evaluated : int
        Parameter sets scored, summed over tracks.
    """

    tracks: dict[str, tuple[VesselParams | SpotParams, float]]
    structures: dict[str, tuple[str, VesselParams | SpotParams, float]]
    evaluated: int


def _vessel_grid() -> list[VesselParams]:
    g = VESSEL_GRID
    return [
        VesselParams(sigmas=s, high=h, low=round(h * r, 4), min_size=m)
        for s, h, r, m in itertools.product(g["sigmas"], g["high"], g["low_ratio"], g["min_size"])
    ]


def _spot_grid() -> list[SpotParams]:
    g = SPOT_GRID
    keys = ("sigmas", "detect", "offset", "local_sigma", "split_touching", "min_size")
    return [
        SpotParams(**dict(zip(keys, v, strict=True)))
        for v in itertools.product(*(g[k] for k in keys))
    ]


def _score(case: LabeledCase, mask: np.ndarray) -> float:
    # The baselines' images carry baselines/ alone: tuning runs on the host, where metrics is.
    from metrics import blob_f1, cldice, dice

    second = cldice(case.label, mask) if case.track == "vessel" else blob_f1(case.label, mask)
    return (dice(case.label, mask) + second) / 2.0


def _vessel_scores(case: LabeledCase, grid: list[VesselParams]) -> np.ndarray:
    norm = normalise(case.image)
    per_sigma = {
        s: sato(norm, sigmas=[s], black_ridges=False)
        for s in sorted({x for p in grid for x in p.sigmas})
    }
    responses: dict[tuple[float, ...], np.ndarray] = {}
    out = np.empty(len(grid))
    for i, p in enumerate(grid):
        if p.sigmas not in responses:
            stacked = np.max([per_sigma[s] for s in p.sigmas], axis=0)
            top = float(np.percentile(stacked, 99.9))
            responses[p.sigmas] = stacked / top if top > 0 else np.zeros_like(stacked)
        out[i] = _score(case, segment_vessel(case.image, params=p, response=responses[p.sigmas]))
    return out


def _spot_scores(case: LabeledCase, grid: list[SpotParams]) -> np.ndarray:
    norm = normalise(case.image)
    responses = {s: blob_response(case.image, sigmas=s) for s in {p.sigmas for p in grid}}
    means = {ls: ndi.gaussian_filter(norm, ls) for ls in {p.local_sigma for p in grid}}
    out = np.empty(len(grid))
    for i, p in enumerate(grid):
        out[i] = _score(case, spot_mask(norm, responses[p.sigmas], means[p.local_sigma], params=p))
    return out


def tune(
    cases: Sequence[LabeledCase],
    *,
    progress: Callable[[str], None] | None = None,
) -> TuneResult:
    """Choose the classical parameters per structure and per track by exhaustive grid search.

    Parameters
    ----------
    cases : sequence of LabeledCase
        Labeled patches; at least one per track.
    progress : callable, optional
        Called with one line per case scored.

    Returns
    -------
    TuneResult
        Ties keep the first parameter set of the grid (the grids are ordered small to large).
    """
    by_track: dict[str, list[LabeledCase]] = {"vessel": [], "spot": []}
    for c in cases:
        if c.track not in by_track:
            raise ValueError(
                f"case {c.case_id!r}: track must be 'vessel' or 'spot'; got {c.track!r}."
            )
        by_track[c.track].append(c)
    missing = [t for t, cs in by_track.items() if not cs]
    if missing:
        raise ValueError(f"the search needs labeled cases of every track; none for {missing}.")
    tracks: dict[str, tuple[VesselParams | SpotParams, float]] = {}
    structures: dict[str, tuple[str, VesselParams | SpotParams, float]] = {}
    evaluated = 0
    for track, track_cases in by_track.items():
        grid: list[Any] = _vessel_grid() if track == "vessel" else _spot_grid()
        scorer = _vessel_scores if track == "vessel" else _spot_scores
        rows: dict[str, list[np.ndarray]] = {}
        all_rows = []
        for c in track_cases:
            scores = scorer(c, grid)
            rows.setdefault(canonical_structure(c.structure), []).append(scores)
            all_rows.append(scores)
            if progress is not None:
                progress(
                    f"{c.case_id} ({c.structure}): best {scores.max():.3f} of {len(grid)} settings"
                )
        evaluated += len(grid)
        mean = np.mean(all_rows, axis=0)
        best = int(np.argmax(mean))
        tracks[track] = (grid[best], float(mean[best]))
        for name, rs in sorted(rows.items()):
            m = np.mean(rs, axis=0)
            b = int(np.argmax(m))
            structures[name] = (track, grid[b], float(m[b]))
    return TuneResult(tracks=tracks, structures=structures, evaluated=evaluated)
