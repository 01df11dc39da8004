"""Rank teams: the three schemes, composed the same way from (unit, metric) ranks to one score.

A *unit* is a track (``aggregation: track``), a structure within a track
(``aggregation: structure``), or a category of structures within a track (``categories:``, e.g.
the SELMA3D 2026 dense and sparse structures of each type). For every unit and ranked metric
each scheme gives each team a rank-like value (lower is better):

``aggregate-then-rank``
    the rank (ties share the lowest rank: 1, 1, 3) of the team's mean over the unit's cases;
``rank-then-aggregate``
    the mean over the unit's cases of the team's rank among teams on that case;
``test-then-rank``
    the rank of the number of teams it beats (one-sided Wilcoxon signed-rank test on paired
    cases, Holm-corrected over all ordered pairs of that unit and metric).

A unit's score is the mean of these over its ranked metrics, a track's score the mean over its
units, the overall score the mean over tracks, and the final rank the rank of the overall score
(ties share the lowest rank). Directions come from the metrics registry only.

Every function takes case *weights* of shape ``(R, n_cases)``: all ones is the ranking itself,
bootstrap counts give the replicates, so one code path serves both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

from leaderboard import metric_info
from leaderboard.results import Results

__all__ = [
    "Ranking",
    "RankingInputs",
    "UnitKey",
    "holm_adjust",
    "rank_min",
    "ranking_inputs",
    "score",
]

# (track, structure), (track, category), or (track, None) for a whole track
UnitKey = tuple[str, str | None]
# Means closer than this count as equal, so summation order cannot break a true tie.
_DECIMALS = 10


@dataclass(frozen=True)
class RankingInputs:
    """Arrays the schemes work on.

    Attributes
    ----------
    teams : tuple of str
        Sorted team ids (the row order of every array).
    units : tuple of UnitKey
        Sorted units.
    unit_cases : dict of UnitKey to tuple of str
        Sorted case ids of each unit.
    metrics : dict of str to tuple of str
        Ranked metrics per track (tracks with cases and at least one ranked metric).
    values : dict of (UnitKey, str) to ndarray of shape (T, n_u)
        Per-case metric values, oriented so that higher is better (lower-is-better metrics are
        negated), teams in rows.
    raw : dict of (UnitKey, str) to ndarray of shape (T, n_u)
        The same values as stored.
    """

    teams: tuple[str, ...]
    units: tuple[UnitKey, ...]
    unit_cases: dict[UnitKey, tuple[str, ...]]
    metrics: dict[str, tuple[str, ...]]
    values: dict[tuple[UnitKey, str], np.ndarray]
    raw: dict[tuple[UnitKey, str], np.ndarray]

    @property
    def tracks(self) -> tuple[str, ...]:
        """Ranked tracks, sorted."""
        return tuple(sorted({u[0] for u in self.units}))


@dataclass(frozen=True)
class Ranking:
    """Scores of every team; arrays have shape ``(R, T)`` (R replicates, T teams).

    Attributes
    ----------
    scheme : str
        The scheme that produced the scores.
    metric_values : dict of (UnitKey, str) to ndarray
        The aggregated value behind each (unit, metric) rank: the mean metric
        (aggregate-then-rank), the mean per-case rank (rank-then-aggregate) or the number of
        teams beaten (test-then-rank).
    metric_ranks : dict of (UnitKey, str) to ndarray
        Rank-like value per (unit, metric), lower is better.
    unit_scores : dict of UnitKey to ndarray
    track_scores : dict of str to ndarray
    overall : ndarray
    rank : ndarray of int
        Final rank, ties share the lowest rank.
    """

    scheme: str
    metric_values: dict[tuple[UnitKey, str], np.ndarray]
    metric_ranks: dict[tuple[UnitKey, str], np.ndarray]
    unit_scores: dict[UnitKey, np.ndarray]
    track_scores: dict[str, np.ndarray]
    overall: np.ndarray
    rank: np.ndarray


def rank_min(scores: np.ndarray, *, higher_is_better: bool) -> np.ndarray:
    """Competition ranks along the last axis: ties share the lowest rank (1, 1, 3).

    The same as ``pandas.Series.rank(method="min", ascending=not higher_is_better)`` applied to
    each row.

    Parameters
    ----------
    scores : (..., T) ndarray of float
        Finite scores of T teams.
    higher_is_better : bool, keyword-only

    Returns
    -------
    (..., T) ndarray of int64

    Examples
    --------
    >>> rank_min(np.array([0.9, 0.9, 0.5]), higher_is_better=True).tolist()
    [1, 1, 3]
    >>> rank_min(np.array([2.0, 0.0, 1.0]), higher_is_better=False).tolist()
    [3, 1, 2]
    """
    scores = np.asarray(scores, dtype=float)
    if not np.isfinite(scores).all():
        raise ValueError(f"rank_min: scores must be finite, got {scores[~np.isfinite(scores)][:5]}")
    key = -scores if higher_is_better else scores
    return stats.rankdata(np.round(key, _DECIMALS), method="min", axis=-1).astype(np.int64)


def holm_adjust(pvalues: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values along the last axis.

    Parameters
    ----------
    pvalues : (..., K) ndarray
        One family of K p-values per row.

    Returns
    -------
    (..., K) ndarray
        ``max_{j <= k} min(1, (K - j + 1) p_(j))`` for the k-th smallest p-value, put back in the
        input order. A hypothesis is rejected at level alpha when its adjusted value is <= alpha.

    References
    ----------
    Holm, S. (1979). A simple sequentially rejective multiple test procedure. Scandinavian
    Journal of Statistics, 6(2), 65-70.

    Examples
    --------
    >>> holm_adjust(np.array([0.01, 0.04, 0.03])).round(4).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(pvalues, dtype=float)
    k = p.shape[-1]
    if k == 0:
        return p.copy()
    order = np.argsort(p, axis=-1, kind="stable")
    ordered = np.take_along_axis(p, order, axis=-1) * (k - np.arange(k))
    adjusted = np.minimum(np.maximum.accumulate(ordered, axis=-1), 1.0)
    out = np.empty_like(adjusted)
    np.put_along_axis(out, order, adjusted, axis=-1)
    return out


def ranking_inputs(
    results: Results,
    *,
    ranked: dict[str, tuple[str, ...]],
    aggregation: str,
    categories: Mapping[str, str] | None = None,
) -> RankingInputs:
    """Arrange a validated results table into per-(unit, metric) team-by-case arrays.

    Parameters
    ----------
    results : Results
        From ``prepare_results``.
    ranked : dict of str to tuple of str, keyword-only
        Ranked metrics per track.
    aggregation : {"track", "structure"}, keyword-only
    categories : mapping of str to str, optional, keyword-only
        Category of each structure of the results (structure names as in the table). When
        given, the unit is (track, category) and ``aggregation`` must be ``"track"``.

    Returns
    -------
    RankingInputs

    Raises
    ------
    ValueError
        On an unknown aggregation, ``categories`` with ``aggregation="structure"``, or a
        structure of a ranked track that ``categories`` does not map.

    Examples
    --------
    >>> import pandas as pd
    >>> from leaderboard.results import prepare_results
    >>> t = pd.DataFrame({"team": "a", "case_id": ["c1", "c2", "c3"], "track": "spot",
    ...     "structure": ["cfos", "cell_nucleus", "amyloid_plaque"], "status": "ok",
    ...     "dice": 0.5, "pq": 0.5})
    >>> r = prepare_results(t, ranked={"spot": ("dice", "pq")})
    >>> x = ranking_inputs(r, ranked={"spot": ("dice", "pq")}, aggregation="track",
    ...     categories={"cfos": "dense", "cell_nucleus": "dense", "amyloid_plaque": "sparse"})
    >>> x.units, x.unit_cases[("spot", "dense")]
    ((('spot', 'dense'), ('spot', 'sparse')), ('c1', 'c2'))
    """
    if aggregation not in ("track", "structure"):
        raise ValueError(f"aggregation must be 'track' or 'structure', got {aggregation!r}")
    if categories is not None and aggregation != "track":
        raise ValueError("categories group structures into units; use them with aggregation track")
    frame = results.frame
    teams = results.teams
    units: list[UnitKey] = []
    unit_cases: dict[UnitKey, tuple[str, ...]] = {}
    for (track, structure), group in results.cases.groupby(["track", "structure"], sort=True):
        if not ranked.get(str(track)):
            continue
        if categories is not None:
            if str(structure) not in categories:
                raise ValueError(
                    f"structure {structure!r} (track {track!r}) has no category; categories "
                    f"map {sorted(categories)}"
                )
            key: UnitKey = (str(track), categories[str(structure)])
        else:
            key = (str(track), str(structure) if aggregation == "structure" else None)
        if key not in unit_cases:
            units.append(key)
            unit_cases[key] = ()
        unit_cases[key] = tuple(sorted((*unit_cases[key], *group["case_id"])))
    units.sort(key=lambda u: (u[0], u[1] or ""))
    if not units:
        raise ValueError(
            f"no track with cases has a ranked metric: tracks {list(results.tracks)}, "
            f"ranked {ranked}"
        )
    values: dict[tuple[UnitKey, str], np.ndarray] = {}
    raw: dict[tuple[UnitKey, str], np.ndarray] = {}
    metrics = {u[0]: tuple(ranked[u[0]]) for u in units}
    for unit in units:
        rows = frame[frame["case_id"].isin(unit_cases[unit])]
        for name in metrics[unit[0]]:
            table = rows.pivot(index="team", columns="case_id", values=name)
            table = table.reindex(index=list(teams), columns=list(unit_cases[unit]))
            array = table.to_numpy(dtype=float)
            if not np.isfinite(array).all():
                raise ValueError(f"metric {name!r} of unit {unit} has empty values after filling")
            raw[(unit, name)] = array
            values[(unit, name)] = array if metric_info.higher_is_better(name) else -array
    return RankingInputs(
        teams=tuple(teams),
        units=tuple(units),
        unit_cases=unit_cases,
        metrics=metrics,
        values=values,
        raw=raw,
    )


def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    # (T, n) with (R, n) -> (R, T)
    return (weights @ values.T) / weights.sum(axis=1, keepdims=True)


def _wins(values: np.ndarray, indices: np.ndarray, *, alpha: float) -> np.ndarray:
    """Number of teams each team beats; values (T, n), indices (R, n) -> (R, T)."""
    t = values.shape[0]
    r = indices.shape[0]
    if t < 2:
        return np.zeros((r, t))
    pairs = np.array([(i, j) for i in range(t) for j in range(t) if i != j])
    sampled = values[:, indices]  # (T, R, n)
    diff = sampled[pairs[:, 0]] - sampled[pairs[:, 1]]  # (K, R, n)
    pvalues = np.ones(diff.shape[:2])
    informative = (diff != 0).any(axis=-1)
    if informative.any():
        # All-zero differences carry no evidence (p = 1); scipy cannot test them.
        pvalues[informative] = stats.wilcoxon(
            diff[informative], axis=-1, alternative="greater"
        ).pvalue
    adjusted = holm_adjust(pvalues.T)  # (R, K): one family per replicate
    beaten = adjusted <= alpha
    wins = np.zeros((r, t))
    np.add.at(wins, (slice(None), pairs[:, 0]), beaten.astype(float))
    return wins


def score(
    inputs: RankingInputs,
    *,
    scheme: str,
    weights: dict[UnitKey, np.ndarray] | None = None,
    indices: dict[UnitKey, np.ndarray] | None = None,
    alpha: float = 0.05,
) -> Ranking:
    """Score and rank teams under a scheme, for one or many case weightings.

    Parameters
    ----------
    inputs : RankingInputs
    scheme : {"aggregate-then-rank", "rank-then-aggregate", "test-then-rank"}, keyword-only
    weights : dict of UnitKey to (R, n_u) ndarray, keyword-only
        Case multiplicities per replicate (bootstrap counts); all ones (R = 1) by default.
    indices : dict of UnitKey to (R, n_u) ndarray of int, keyword-only
        The drawn case indices behind ``weights``; test-then-rank needs them (a paired test
        uses each drawn case as one pair). ``arange(n_u)`` by default.
    alpha : float, keyword-only
        Level of the Holm-corrected tests (test-then-rank only).

    Returns
    -------
    Ranking
        Arrays of shape ``(R, T)``.

    Examples
    --------
    >>> import pandas as pd
    >>> from leaderboard.results import prepare_results
    >>> t = pd.DataFrame({"team": list("aabbcc"), "case_id": ["c1", "c2"] * 3,
    ...     "track": "spot", "structure": "cfos", "status": "ok",
    ...     "dice": [0.8, 0.6, 0.6, 0.8, 0.1, 0.2], "blob_f1": [0.5, 0.5, 0.5, 0.5, 0.9, 0.9]})
    >>> r = prepare_results(t, ranked={"spot": ("dice", "blob_f1")})
    >>> inputs = ranking_inputs(r, ranked={"spot": ("dice", "blob_f1")}, aggregation="track")
    >>> out = score(inputs, scheme="aggregate-then-rank")
    >>> out.overall[0].tolist(), out.rank[0].tolist()
    ([1.5, 1.5, 2.0], [1, 1, 3])
    """
    if weights is None:
        weights = {u: np.ones((1, len(inputs.unit_cases[u]))) for u in inputs.units}
    if indices is None:
        indices = {u: np.arange(len(inputs.unit_cases[u]))[None, :] for u in inputs.units}
    metric_values: dict[tuple[UnitKey, str], np.ndarray] = {}
    metric_ranks: dict[tuple[UnitKey, str], np.ndarray] = {}
    unit_scores: dict[UnitKey, np.ndarray] = {}
    for unit in inputs.units:
        w = np.asarray(weights[unit], dtype=float)
        per_metric = []
        for name in inputs.metrics[unit[0]]:
            values = inputs.values[(unit, name)]
            if scheme == "aggregate-then-rank":
                means = _weighted_mean(values, w)
                # Report means in the metric's own direction.
                higher = metric_info.higher_is_better(name)
                metric_values[(unit, name)] = means if higher else -means
                ranks = rank_min(means, higher_is_better=True).astype(float)
            elif scheme == "rank-then-aggregate":
                case_ranks = rank_min(values.T, higher_is_better=True).T.astype(float)  # (T, n)
                ranks = np.round(_weighted_mean(case_ranks, w), _DECIMALS)
                metric_values[(unit, name)] = ranks
            elif scheme == "test-then-rank":
                wins = _wins(values, np.asarray(indices[unit]), alpha=alpha)
                metric_values[(unit, name)] = wins
                ranks = rank_min(wins, higher_is_better=True).astype(float)
            else:
                raise ValueError(f"unknown scheme {scheme!r}")
            metric_ranks[(unit, name)] = ranks
            per_metric.append(ranks)
        unit_scores[unit] = np.mean(per_metric, axis=0)
    track_scores = {
        track: np.mean([unit_scores[u] for u in inputs.units if u[0] == track], axis=0)
        for track in inputs.tracks
    }
    overall = np.round(np.mean(list(track_scores.values()), axis=0), _DECIMALS)
    return Ranking(
        scheme=scheme,
        metric_values=metric_values,
        metric_ranks=metric_ranks,
        unit_scores=unit_scores,
        track_scores=track_scores,
        overall=overall,
        rank=rank_min(overall, higher_is_better=False),
    )
