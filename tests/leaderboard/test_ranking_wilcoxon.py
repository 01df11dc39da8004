"""The test-then-rank scheme against scipy.stats.wilcoxon called directly, Holm by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats

from leaderboard import compute_leaderboard
from tests.leaderboard.lb_tables import config, frame, rows


def test_test_then_rank_matches_direct_wilcoxon():
    rng = np.random.default_rng(4)
    n = 14
    offsets = {"a": 0.0, "b": 0.02, "c": 0.15, "d": 0.15}
    values = {
        t: {
            "dice": list(np.round(0.4 + off + rng.normal(0, 0.05, n), 3)),
            "cldice": list(np.round(0.4 + off + rng.normal(0, 0.05, n), 3)),
        }
        for t, off in offsets.items()
    }
    table = frame(rows("vessel", values))
    alpha = 0.05
    board = compute_leaderboard(
        table, config=config(scheme="test-then-rank", test={"alpha": alpha})
    )

    teams = sorted(offsets)
    expected_rank = {}
    for metric in ("dice", "cldice"):
        pairs = list(itertools.permutations(teams, 2))
        p = []
        for i, j in pairs:
            x, y = np.array(values[i][metric]), np.array(values[j][metric])
            p.append(1.0 if np.all(x == y) else stats.wilcoxon(x, y, alternative="greater").pvalue)
        # Holm: k-th smallest p times (m - k + 1), running maximum, capped at 1
        m = len(p)
        order = np.argsort(p, kind="stable")
        adjusted = np.empty(m)
        running = 0.0
        for k, idx in enumerate(order):
            running = max(running, min(1.0, (m - k) * p[idx]))
            adjusted[idx] = running
        wins = dict.fromkeys(teams, 0)
        for (i, _), adj in zip(pairs, adjusted, strict=True):
            wins[i] += int(adj <= alpha)
        got = board.table.set_index("team")[f"vessel_{metric}_wins"].to_dict()
        assert got == wins
        expected_rank[metric] = pd.Series(wins).rank(method="min", ascending=False)
    track = (expected_rank["dice"] + expected_rank["cldice"]) / 2
    final = track.rank(method="min").astype(int).to_dict()
    assert board.table.set_index("team")["rank"].to_dict() == final
    # the strong teams beat the weak ones here, so the scheme is not vacuous
    assert board.table.set_index("team").loc["c", "vessel_dice_wins"] >= 2
