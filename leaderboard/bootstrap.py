"""Ranking uncertainty: bootstrap over cases, rank intervals, Kendall's tau, tied groups.

Each replicate draws, within every unit of aggregation (a track, or a structure when ranking per
structure), as many case ids as the unit has, with replacement, from one
``numpy.random.Generator(PCG64(seed))``. The same draw applies to every team, so the paired
structure of the data is kept. The whole ranking (all schemes, all tracks) is recomputed per
replicate, vectorised over replicates.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import stats

from leaderboard.ranking import RankingInputs, UnitKey, score

__all__ = ["BootstrapResult", "bootstrap_ranks", "draw_cases", "tied_groups"]

# Replicates scored at once; bounds memory of the test-then-rank scheme's pairwise differences.
_CHUNK = {"test-then-rank": 50}
_CELLS = 200_000
"""At most this many (replicate, team) cells per scored chunk: every scheme's arrays are
(replicates, teams), so the chunk shrinks as the teams grow and memory stays linear in them.
Replicates are scored independently, so chunks change no rank."""


@dataclass(frozen=True)
class BootstrapResult:
    """Rank distribution of each team over bootstrap replicates.

    Attributes
    ----------
    ranks : (R, T) ndarray of int
        Final rank of each team in each replicate.
    frequency : (T, T) ndarray of int
        ``frequency[i, k]``: replicates in which team i had rank k + 1.
    low, high, median : (T,) ndarray
        Rank interval (the ``(1 - c)/2`` quantile, rounded down to an observed rank, and the
        ``(1 + c)/2`` quantile, rounded up) and median rank.
    kendall_tau : (R,) ndarray
        Kendall's tau-b between the full ranking and each replicate (NaN when a replicate ties
        every team).
    confidence : float
    seed : int
    """

    ranks: np.ndarray
    frequency: np.ndarray
    low: np.ndarray
    high: np.ndarray
    median: np.ndarray
    kendall_tau: np.ndarray
    confidence: float
    seed: int

    @property
    def resamples(self) -> int:
        """Number of replicates."""
        return int(self.ranks.shape[0])


def draw_cases(inputs: RankingInputs, *, resamples: int, seed: int) -> dict[UnitKey, np.ndarray]:
    """Draw bootstrap case indices, stratified by unit.

    Parameters
    ----------
    inputs : RankingInputs
    resamples : int, keyword-only
    seed : int, keyword-only

    Returns
    -------
    dict of UnitKey to (resamples, n_u) ndarray of int
        Units drawn in sorted order from one generator, so a seed fixes every replicate.
    """
    rng = np.random.default_rng(seed)
    return {
        unit: rng.integers(
            0, len(inputs.unit_cases[unit]), size=(resamples, len(inputs.unit_cases[unit]))
        )
        for unit in inputs.units
    }


def _counts(indices: np.ndarray) -> np.ndarray:
    r, n = indices.shape
    flat = indices + (np.arange(r) * n)[:, None]
    return np.bincount(flat.ravel(), minlength=r * n).reshape(r, n).astype(float)


def bootstrap_ranks(
    inputs: RankingInputs,
    full_rank: np.ndarray,
    *,
    scheme: str,
    resamples: int = 1000,
    seed: int = 2026,
    confidence: float = 0.95,
    alpha: float = 0.05,
) -> BootstrapResult:
    """Bootstrap the ranking over cases.

    Parameters
    ----------
    inputs : RankingInputs
    full_rank : (T,) ndarray of int
        The ranking on all cases, for Kendall's tau.
    scheme : str, keyword-only
        As in ``leaderboard.ranking.score``.
    resamples, seed, confidence : keyword-only
        Number of replicates, generator seed, interval level.
    alpha : float, keyword-only
        Test level (test-then-rank).

    Returns
    -------
    BootstrapResult

    Examples
    --------
    >>> import pandas as pd
    >>> from leaderboard.results import prepare_results
    >>> from leaderboard.ranking import ranking_inputs
    >>> t = pd.DataFrame({"team": ["a"] * 4 + ["b"] * 4, "case_id": ["c1", "c2", "c3", "c4"] * 2,
    ...     "track": "vessel", "structure": "blood_vessel", "status": "ok",
    ...     "dice": [0.9, 0.9, 0.9, 0.9, 0.1, 0.2, 0.3, 0.4], "cldice": 0.5})
    >>> r = prepare_results(t, ranked={"vessel": ("dice",)})
    >>> x = ranking_inputs(r, ranked={"vessel": ("dice",)}, aggregation="track")
    >>> b = bootstrap_ranks(x, np.array([1, 2]), scheme="aggregate-then-rank", resamples=50)
    >>> b.low.tolist(), b.high.tolist()
    ([1, 2], [1, 2])
    """
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    indices = draw_cases(inputs, resamples=resamples, seed=seed)
    weights = {u: _counts(i) for u, i in indices.items()}
    teams = len(inputs.teams)
    chunk = max(1, min(_CHUNK.get(scheme, resamples), _CELLS // max(teams, 1)))
    parts = []
    for start in range(0, resamples, chunk):
        sl = slice(start, start + chunk)
        part = score(
            inputs,
            scheme=scheme,
            weights={u: w[sl] for u, w in weights.items()},
            indices={u: i[sl] for u, i in indices.items()},
            alpha=alpha,
        )
        parts.append(part.rank)
    ranks = np.concatenate(parts, axis=0)
    t = ranks.shape[1]
    frequency = np.stack([np.bincount(ranks[:, i] - 1, minlength=t) for i in range(t)])
    tail = (1.0 - confidence) / 2.0
    low = np.quantile(ranks, tail, axis=0, method="lower").astype(int)
    high = np.quantile(ranks, 1.0 - tail, axis=0, method="higher").astype(int)
    median = np.median(ranks, axis=0)
    taus = np.full(resamples, np.nan)
    if t >= 2 and np.unique(full_rank).size > 1:
        for k in range(resamples):
            if np.unique(ranks[k]).size > 1:
                taus[k] = stats.kendalltau(full_rank, ranks[k]).statistic
    return BootstrapResult(
        ranks=ranks,
        frequency=frequency,
        low=low,
        high=high,
        median=median,
        kendall_tau=taus,
        confidence=confidence,
        seed=seed,
    )


def tied_groups(rank: np.ndarray, low: np.ndarray | None, high: np.ndarray | None) -> np.ndarray:
    """Groups of teams the ranking cannot separate.

    Teams are taken in final order (rank, then position). Two teams next to each other are
    linked when they share a rank, or when their rank intervals overlap: the next team's lowest
    plausible rank is at or above the previous team's highest, ``low[next] <= high[previous]``.
    A group is a maximal run of linked teams; groups of one team get 0, the others 1, 2, ... in
    rank order.

    Parameters
    ----------
    rank : (T,) ndarray of int
        Final ranks.
    low, high : (T,) ndarray of int or None
        Bootstrap rank intervals; None links only shared ranks.

    Returns
    -------
    (T,) ndarray of int

    Examples
    --------
    >>> tied_groups(np.array([1, 2, 3, 4]), np.array([1, 1, 3, 4]), np.array([2, 2, 3, 4])).tolist()
    [1, 1, 0, 0]
    >>> tied_groups(np.array([1, 1, 3]), None, None).tolist()
    [1, 1, 0]
    """
    rank = np.asarray(rank)
    order = np.argsort(rank, kind="stable")
    groups = np.zeros(rank.size, dtype=int)
    run = [int(order[0])] if rank.size else []
    label = 0

    def close(members: list[int]) -> None:
        nonlocal label
        if len(members) > 1:
            label += 1
            groups[members] = label

    for prev, nxt in itertools.pairwise(order):
        linked = rank[nxt] == rank[prev]
        if low is not None and high is not None:
            linked = linked or low[nxt] <= high[prev]
        if linked:
            run.append(int(nxt))
        else:
            close(run)
            run = [int(nxt)]
    if run:
        close(run)
    return groups
