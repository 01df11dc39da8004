"""Bootstrap: deterministic per seed, paired across teams, stratified per unit; tied groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from leaderboard import RankingConfig, compute_leaderboard, tied_groups
from leaderboard.bootstrap import draw_cases
from tests.leaderboard.lb_tables import frame, rows


def noisy_table(seed: int = 0, teams: int = 5, cases: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = {}
    for t in range(teams):
        values[f"t{t}"] = {
            "dice": list(np.clip(0.5 + 0.03 * t + rng.normal(0, 0.1, cases), 0, 1)),
            "cldice": list(np.clip(0.5 + 0.03 * t + rng.normal(0, 0.1, cases), 0, 1)),
        }
    spot = {
        f"t{t}": {"dice": list(rng.random(cases // 2)), "blob_f1": list(rng.random(cases // 2))}
        for t in range(teams)
    }
    return frame(rows("vessel", values), rows("spot", spot))


def boot(table, seed, resamples=300, **extra):
    cfg = RankingConfig(bootstrap={"resamples": resamples, "seed": seed}, **extra)
    return compute_leaderboard(table, config=cfg)


def test_same_seed_same_ranks_other_seed_differs():
    table = noisy_table()
    a, b, c = boot(table, 11), boot(table, 11), boot(table, 12)
    assert np.array_equal(a.bootstrap.ranks, b.bootstrap.ranks)
    assert a.table.equals(b.table)
    assert not np.array_equal(a.bootstrap.ranks, c.bootstrap.ranks)


def test_replicates_resample_cases_identically_for_all_teams():
    # Team "twin" is a copy of t2: in every replicate they see the same cases, so they always tie.
    table = noisy_table()
    twin = table[table["team"] == "t2"].assign(team="twin")
    board = boot(pd.concat([table, twin], ignore_index=True), 5)
    teams = list(board.results.teams)
    ranks = board.bootstrap.ranks
    assert np.array_equal(ranks[:, teams.index("t2")], ranks[:, teams.index("twin")])
    assert (
        board.table.set_index("team").loc["t2", "tied_group"]
        == board.table.set_index("team").loc["twin", "tied_group"]
        != 0
    )


def test_draws_are_stratified_per_unit():
    board = boot(noisy_table(), 3, resamples=50, aggregation="structure")
    draws = draw_cases(board.inputs, resamples=50, seed=3)
    assert set(draws) == {("spot", "cfos"), ("vessel", "blood_vessel")}
    assert draws[("vessel", "blood_vessel")].shape == (50, 12)
    assert draws[("spot", "cfos")].shape == (50, 6)
    assert draws[("spot", "cfos")].max() < 6


def test_interval_frequency_and_kendall_tau_against_scipy():
    board = boot(noisy_table(), 9, resamples=200)
    b = board.bootstrap
    t = len(board.results.teams)
    assert b.frequency.shape == (t, t)
    assert (b.frequency.sum(axis=1) == 200).all()
    for i in range(t):
        assert b.low[i] <= b.median[i] <= b.high[i]
        assert np.count_nonzero(b.ranks[:, i] < b.low[i]) <= 0.025 * 200
        assert np.count_nonzero(b.ranks[:, i] > b.high[i]) <= 0.025 * 200
    full = board.ranking.rank[0]
    expected = [stats.kendalltau(full, r).statistic for r in b.ranks]
    np.testing.assert_allclose(b.kendall_tau, expected)


def test_clear_winner_has_a_point_interval():
    table = frame(
        rows(
            "vessel",
            {
                "best": {"dice": [0.9] * 8, "cldice": [0.9] * 8},
                "mid": {"dice": [0.5, 0.6] * 4, "cldice": [0.5, 0.6] * 4},
                "low": {"dice": [0.6, 0.5] * 4, "cldice": [0.6, 0.5] * 4},
            },
        )
    )
    board = boot(table, 1, resamples=200)
    row = board.table.set_index("team")
    assert (row.loc["best", "rank_ci_low"], row.loc["best", "rank_ci_high"]) == (1, 1)
    assert row.loc["best", "tied_group"] == 0
    assert row.loc["mid", "tied_group"] == row.loc["low", "tied_group"] == 1


def test_tied_groups_chain_adjacent_overlaps():
    rank = np.array([1, 2, 3, 4, 5])
    low = np.array([1, 1, 2, 4, 5])
    high = np.array([2, 3, 3, 4, 5])
    # 1-2 overlap, 2-3 overlap -> one group; 4 and 5 separate
    assert tied_groups(rank, low, high).tolist() == [1, 1, 1, 0, 0]
    # equal ranks are always tied, even without a bootstrap
    assert tied_groups(np.array([2, 1, 1, 4]), None, None).tolist() == [0, 1, 1, 0]


def test_replicates_scored_in_small_chunks_give_the_same_ranks(monkeypatch):
    # Many teams score their replicates in chunks (memory linear in the teams): the chunks are
    # independent, so one replicate per chunk must give exactly the ranks of one chunk for all.
    import leaderboard.bootstrap as bootstrap

    table = noisy_table(seed=3, teams=7)
    # test-then-rank keeps its own chunk of 50 replicates up to 4,000 teams.
    for scheme in ("aggregate-then-rank", "rank-then-aggregate"):
        whole = boot(table, 5, resamples=60, scheme=scheme)
        monkeypatch.setattr(bootstrap, "_CELLS", 7)
        chunked = boot(table, 5, resamples=60, scheme=scheme)
        monkeypatch.undo()
        assert np.array_equal(whole.bootstrap.ranks, chunked.bootstrap.ranks), scheme
        assert whole.table.equals(chunked.table), scheme
