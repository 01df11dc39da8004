"""Categories of structures (``categories:``): dense and sparse ranked apart within each type.

The SELMA3D 2026 web page (Assessment): rank each metric's mean; the mean rank over the metrics
separately for dense isolated, sparse isolated, dense contiguous and sparse contiguous
structures; the overall ranking is the mean rank across the two structure types.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from common.errors import ConfigError, ResultsError
from harness.cli import run
from leaderboard import RankingConfig, build_leaderboard, compute_leaderboard
from leaderboard.bootstrap import draw_cases
from leaderboard.config import load_ranking_config

# The 2026 categories of the test sets, by the 2026 names (amyloid_plaque reaches AD_plaques
# through the profile's aliases).
CATEGORIES = {
    "blood_vessel": "dense",
    "lymphatic_vessel": "dense",
    "peripheral_nerve": "sparse",
    "cfos_neuron": "dense",
    "cell_nuclei": "dense",
    "AD_plaques": "sparse",
    "protein": "sparse",
}

# case: (track, structure as the results name it)
CASES = {
    "v1": ("vessel", "blood_vessel"),
    "v2": ("vessel", "lymphatic_vessel"),
    "v3": ("vessel", "peripheral_nerve"),
    "s1": ("spot", "cfos"),
    "s2": ("spot", "cell_nucleus"),
    "s3": ("spot", "amyloid_plaque"),
    "s4": ("spot", "protein"),
}

# Per case (dice, second metric): clDice on vessel cases, PQ on spot cases.
#
# vessel dense (v1, v2):  dice a .8 b .6 c .5 -> a1 b2 c3;  cldice a .8 b .6 c .7 -> a1 c2 b3
#                         dense rank: a (1+1)/2 = 1, b (2+3)/2 = 2.5, c (3+2)/2 = 2.5
# vessel sparse (v3):     dice a .2 b .8 c .5 -> b1 c2 a3;  cldice a .3 b .9 c .5 -> b1 c2 a3
#                         sparse rank: a 3, b 1, c 2
# vessel type rank:       a (1+3)/2 = 2, b (2.5+1)/2 = 1.75, c (2.5+2)/2 = 2.25
# spot dense (s1, s2):    dice a .6 b .4 c .6 -> a1 c1 b3;  pq a .5 b .3 c .5 -> a1 c1 b3
#                         dense rank: a 1, b 3, c 1
# spot sparse (s3, s4):   dice a .4 b .8 c .6 -> b1 c2 a3;  pq a .3 b .7 c .5 -> b1 c2 a3
#                         sparse rank: a 3, b 1, c 2
# spot type rank:         a (1+3)/2 = 2, b (3+1)/2 = 2, c (1+2)/2 = 1.5
# overall:                a (2+2)/2 = 2, b (1.75+2)/2 = 1.875, c (2.25+1.5)/2 = 1.875
#                         -> b 1, c 1, a 3
#
# Without categories (all of a type pooled):
# vessel dice a 1.8/3 b 2.0/3 c 1.5/3 -> b1 a2 c3; cldice a 1.9/3 b 2.1/3 c 1.9/3 -> b1 a2 c2
#   vessel: a 2, b 1, c 2.5
# spot dice a 2.0/4 b 2.4/4 c 2.4/4 -> b1 c1 a3; pq a 1.6/4 b 2.0/4 c 2.0/4 -> b1 c1 a3
#   spot: a 3, b 1, c 1
# overall a 2.5, b 1, c 1.75 -> b 1, c 2, a 3
VALUES = {
    "a": {"v1": (0.9, 0.8), "v2": (0.7, 0.8), "v3": (0.2, 0.3),
          "s1": (0.7, 0.6), "s2": (0.5, 0.4), "s3": (0.3, 0.2), "s4": (0.5, 0.4)},
    "b": {"v1": (0.6, 0.6), "v2": (0.6, 0.6), "v3": (0.8, 0.9),
          "s1": (0.4, 0.3), "s2": (0.4, 0.3), "s3": (0.9, 0.8), "s4": (0.7, 0.6)},
    "c": {"v1": (0.5, 0.7), "v2": (0.5, 0.7), "v3": (0.5, 0.5),
          "s1": (0.6, 0.5), "s2": (0.6, 0.5), "s3": (0.6, 0.5), "s4": (0.6, 0.5)},
}  # fmt: skip


def results(values=VALUES) -> pd.DataFrame:
    rows = []
    for team, cases in values.items():
        for case, (dice, other) in cases.items():
            track, structure = CASES[case]
            second = "cldice" if track == "vessel" else "pq"
            rows.append({"team": team, "case_id": case, "track": track, "structure": structure,
                         "status": "ok", "dice": dice, second: other})
    return pd.DataFrame(rows)


def config(**fields) -> RankingConfig:
    fields.setdefault("bootstrap", {"resamples": 0})
    return RankingConfig(profile="selma3d-2026", **fields)


def column(board, name: str) -> dict[str, float]:
    return dict(zip(board.table["team"], board.table[name], strict=True))


def test_dense_and_sparse_ranked_apart_worked_by_hand():
    board = compute_leaderboard(results(), config=config(categories=CATEGORIES))
    assert column(board, "vessel:dense_dice_rank") == {"a": 1, "b": 2, "c": 3}
    assert column(board, "vessel:dense_cldice_rank") == {"a": 1, "b": 3, "c": 2}
    assert column(board, "vessel:dense_rank") == {"a": 1.0, "b": 2.5, "c": 2.5}
    assert column(board, "vessel:sparse_rank") == {"a": 3.0, "b": 1.0, "c": 2.0}
    assert column(board, "vessel_rank") == {"a": 2.0, "b": 1.75, "c": 2.25}
    assert column(board, "spot:dense_dice_rank") == {"a": 1, "b": 3, "c": 1}
    assert column(board, "spot:dense_rank") == {"a": 1.0, "b": 3.0, "c": 1.0}
    assert column(board, "spot:sparse_pq_rank") == {"a": 3, "b": 1, "c": 2}
    assert column(board, "spot_rank") == {"a": 2.0, "b": 2.0, "c": 1.5}
    assert column(board, "score") == {"a": 2.0, "b": 1.875, "c": 1.875}
    assert column(board, "rank") == {"a": 3, "b": 1, "c": 1}
    assert column(board, "spot:sparse_dice_mean") == pytest.approx({"a": 0.4, "b": 0.8, "c": 0.6})
    assert board.inputs.unit_cases == {
        ("spot", "dense"): ("s1", "s2"),
        ("spot", "sparse"): ("s3", "s4"),
        ("vessel", "dense"): ("v1", "v2"),
        ("vessel", "sparse"): ("v3",),
    }


def test_without_categories_each_type_is_pooled():
    board = compute_leaderboard(results(), config=config())
    assert column(board, "vessel_rank") == {"a": 2.0, "b": 1.0, "c": 2.5}
    assert column(board, "spot_rank") == {"a": 3.0, "b": 1.0, "c": 1.0}
    assert column(board, "rank") == {"a": 3, "b": 1, "c": 2}


def test_a_structure_without_a_category_is_an_error_naming_it(tmp_path):
    partial = {k: v for k, v in CATEGORIES.items() if k != "protein"}
    with pytest.raises(ResultsError, match=r"structure 'protein' \(cases s4\) has no category"):
        compute_leaderboard(results(), config=config(categories=partial))
    # The command line says so and exits 2.
    table = tmp_path / "results.csv"
    results().to_csv(table, index=False)
    ranking = tmp_path / "ranking.yaml"
    ranking.write_text(json.dumps({"profile": "selma3d-2026", "categories": partial}))
    code = run(["leaderboard", str(table), "--out", str(tmp_path / "board"),
                "--ranking", str(ranking), "--no-progress"])
    assert code == 2
    assert not (tmp_path / "board" / "leaderboard.csv").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("categories: {blood_vessel: dense}\naggregation: structure\n",
         "aggregation 'structure' cannot be used with it"),
        ("categories: {}\n", "categories: empty"),
        ("categories: {blood_vessel: ''}\n", "empty structure or category name"),
        ("categories: [dense, sparse]\n", "categories: Input should be a valid dictionary"),
    ],
)
def test_invalid_categories_are_named_at_load(tmp_path, text, message):
    path = tmp_path / "ranking.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_ranking_config(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_bootstrap_draws_within_each_category():
    values = dict(VALUES)
    # "top" is best on every case of every category, "twin" a copy of b: in every replicate
    # top ranks first and twin ranks with b.
    values["top"] = {case: (1.0, 1.0) for case in CASES}
    values["twin"] = VALUES["b"]
    board = compute_leaderboard(
        results(values),
        config=config(categories=CATEGORIES, bootstrap={"resamples": 200, "seed": 4}),
    )
    draws = draw_cases(board.inputs, resamples=200, seed=4)
    assert {u: d.shape for u, d in draws.items()} == {
        ("spot", "dense"): (200, 2),
        ("spot", "sparse"): (200, 2),
        ("vessel", "dense"): (200, 2),
        ("vessel", "sparse"): (200, 1),
    }
    assert (draws[("vessel", "sparse")] == 0).all()
    teams = list(board.results.teams)
    ranks = board.bootstrap.ranks
    assert (ranks[:, teams.index("top")] == 1).all()
    assert np.array_equal(ranks[:, teams.index("b")], ranks[:, teams.index("twin")])
    assert (board.bootstrap.frequency.sum(axis=1) == 200).all()
    row = board.table.set_index("team").loc["top"]
    assert (row["rank_ci_low"], row["rank_ci_high"]) == (1, 1)


def test_outputs_name_the_categories(tmp_path):
    cfg = config(categories=CATEGORIES, bootstrap={"resamples": 20, "seed": 1})
    build_leaderboard(results(), tmp_path, config=cfg)
    record = json.loads((tmp_path / "leaderboard.json").read_text())
    assert record["ranking_config"]["categories"] == CATEGORIES
    assert record["tracks"]["spot"]["categories"] == {"dense": ["s1", "s2"],
                                                      "sparse": ["s3", "s4"]}
    assert record["bootstrap"]["stratified_by"] == "category"
    assert "aggregated per category" in (tmp_path / "leaderboard.md").read_text()
    board = pd.read_csv(tmp_path / "leaderboard.csv")
    assert "vessel:sparse_rank" in board.columns
