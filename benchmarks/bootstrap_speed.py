"""Speed of the leaderboard's bootstrap over cases, against a replicate-by-replicate loop.

Usage::

    .venv/bin/python benchmarks/bootstrap_speed.py [--teams 20] [--cases 100] [--resamples 1000]

A generated results table (``--teams`` teams, ``--cases`` cases split evenly between the
vessel and spot tracks, their ranked metrics drawn around a per-team skill) is ranked under
each scheme, and ``leaderboard.bootstrap.bootstrap_ranks`` draws ``--resamples`` replicates
(all replicates scored at once, in chunks for test-then-rank). The reference, timed in the
same run, scores the same replicates one at a time with ``leaderboard.ranking.score``, as a
loop over replicates would; its ranks must equal the vectorised ones. Printed: both times and
their ratio per scheme. There is no target; the figure quoted in docs/leaderboard.md comes
from here.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from leaderboard.bootstrap import bootstrap_ranks, draw_cases
from leaderboard.config import SCHEMES
from leaderboard.ranking import ranking_inputs, score
from leaderboard.results import prepare_results

RANKED = {"vessel": ("dice", "cldice", "betti0_error"), "spot": ("dice", "blob_f1")}


def results_table(teams: int, cases: int, seed: int) -> pd.DataFrame:
    """One row per (team, case): metrics around a per-team skill, per-case difficulty."""
    rng = np.random.default_rng(seed)
    skill = rng.uniform(0.4, 0.9, teams)
    rows = []
    for c in range(cases):
        track = "vessel" if c < cases // 2 else "spot"
        difficulty = rng.normal(0.0, 0.1)
        for t in range(teams):
            value = np.clip(skill[t] - difficulty + rng.normal(0.0, 0.08, 3), 0.0, 1.0)
            row = {
                "team": f"team{t:02d}",
                "case_id": f"case{c:03d}",
                "track": track,
                "structure": "blood_vessel" if track == "vessel" else "cfos",
                "status": "ok",
                "dice": value[0],
            }
            if track == "vessel":
                row.update(cldice=value[1], betti0_error=int(rng.poisson(20 * (1 - value[2]))))
            else:
                row.update(blob_f1=value[1])
            rows.append(row)
    return pd.DataFrame(rows)


def loop_ranks(inputs, *, scheme: str, resamples: int, seed: int) -> np.ndarray:
    """The same replicates as ``bootstrap_ranks``, scored one at a time."""
    indices = draw_cases(inputs, resamples=resamples, seed=seed)
    out = []
    for k in range(resamples):
        pick = {u: i[k : k + 1] for u, i in indices.items()}
        weights = {
            u: np.bincount(i[0], minlength=i.shape[1]).astype(float)[None, :]
            for u, i in pick.items()
        }
        out.append(score(inputs, scheme=scheme, weights=weights, indices=pick).rank[0])
    return np.stack(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=20)
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    console = Console()
    table = results_table(args.teams, args.cases, args.seed)
    results = prepare_results(table, ranked=RANKED)
    inputs = ranking_inputs(results, ranked=RANKED, aggregation="track")
    out = Table(
        title=f"bootstrap, {args.resamples} replicates x {args.teams} teams x {args.cases} cases"
    )
    for column in ("scheme", "vectorised", "one replicate at a time", "ratio"):
        out.add_column(column)
    for scheme in SCHEMES:
        full = score(inputs, scheme=scheme).rank[0]
        start = time.perf_counter()
        result = bootstrap_ranks(
            inputs, full, scheme=scheme, resamples=args.resamples, seed=args.seed
        )
        t_vec = time.perf_counter() - start
        start = time.perf_counter()
        looped = loop_ranks(inputs, scheme=scheme, resamples=args.resamples, seed=args.seed)
        t_loop = time.perf_counter() - start
        if not np.array_equal(looped, result.ranks):
            raise RuntimeError(f"{scheme}: the vectorised bootstrap ranks differ from the loop's")
        out.add_row(
            scheme,
            f"{t_vec:.2f} s",
            f"{t_loop:.2f} s",
            f"{t_loop / t_vec:.1f}x faster",
        )
    console.print(out)


if __name__ == "__main__":
    main()
