import json

import numpy as np
import pandas as pd
import pytest

from common.errors import ConfigError, ResultsError
from common.profiles import DEFAULT_PROFILE, PROFILES, get_profile
from harness.cli import run
from harness.errors import SplitError
from harness.scoring.evaluate import evaluate_predictions, profile_cases
from harness.split.manifest import load_split, write_manifest
from harness.split.volume import write_volume
from leaderboard import RankingConfig, build_leaderboard, compute_leaderboard
from leaderboard.config import load_ranking_config
from leaderboard.metric_info import default_ranked_metrics

# Three teams, two contiguous (vessel) and two isolated (spot) cases. Team b has the best blob
# F1 and the worst PQ, so the 2026 profile (PQ) and selma3d's own (blob F1) rank it apart.
#
#              vessel dice   vessel cldice   spot dice   spot pq     spot blob_f1
#   a          .8, .6 -> .7  .9, .9 -> .9    .6 -> .6    .5 -> .5    .6 -> .6
#   b          .7, .7 -> .7  .8, .8 -> .8    .7 -> .7    .3 -> .3    .9 -> .9
#   c          .5, .5 -> .5  .95 -> .95      .4 -> .4    .6 -> .6    .7 -> .7
#   ranks      a1 b1 c3      c1 a2 b3        b1 a2 c3    c1 a2 b3    b1 c2 a3
#
# selma3d-2026: mean of dice, cldice, dice, pq ranks: a (1+2+2+2)/4 = 1.75, b (1+3+1+3)/4 = 2,
#   c (3+1+3+1)/4 = 2 -> a 1, b 2, c 2.
# selma3d (blob F1): a (1+2+2+3)/4 = 2, b (1+3+1+1)/4 = 1.5, c (3+1+3+2)/4 = 2.25
#   -> b 1, a 2, c 3.
_VALUES = {
    # team: (vessel dice v1, v2), vessel cldice, spot dice, spot pq, spot blob_f1
    "a": ((0.8, 0.6), 0.9, 0.6, 0.5, 0.6),
    "b": ((0.7, 0.7), 0.8, 0.7, 0.3, 0.9),
    "c": ((0.5, 0.5), 0.95, 0.4, 0.6, 0.7),
}


def _results(spot_structure="cfos"):
    rows = []
    for team, ((d1, d2), cl, sd, pq, f1) in _VALUES.items():
        for case, d in (("v1", d1), ("v2", d2)):
            rows.append({"team": team, "case_id": case, "track": "vessel",
                         "structure": "blood_vessel", "status": "ok", "dice": d, "cldice": cl})
        for case in ("s1", "s2"):
            rows.append({"team": team, "case_id": case, "track": "spot",
                         "structure": spot_structure, "status": "ok", "dice": sd, "pq": pq,
                         "blob_f1": f1})
    return pd.DataFrame(rows)


def _ranks(profile):
    config = RankingConfig(profile=profile, bootstrap={"resamples": 0})
    table = compute_leaderboard(_results(), config=config).table
    return dict(zip(table["team"], table["rank"], strict=True)), dict(
        zip(table["team"], table["score"], strict=True)
    )


def test_2026_ranking_worked_by_hand():
    ranks, scores = _ranks("selma3d-2026")
    assert ranks == {"a": 1, "b": 2, "c": 2}
    assert scores == pytest.approx({"a": 1.75, "b": 2.0, "c": 2.0})


def test_default_profile_ranks_blob_f1_instead_of_pq():
    ranks, scores = _ranks(DEFAULT_PROFILE)
    assert ranks == {"b": 1, "a": 2, "c": 3}
    assert scores == pytest.approx({"a": 2.0, "b": 1.5, "c": 2.25})


def test_default_profile_is_the_readme_ranking():
    profile = get_profile(DEFAULT_PROFILE)
    assert RankingConfig().profile == DEFAULT_PROFILE == "selma3d"
    assert profile.ranked_metrics == default_ranked_metrics()
    assert profile.scheme == "aggregate-then-rank" and profile.structure_tracks is None


def test_structure_maps_of_the_editions():
    p2026, p2024 = get_profile("selma3d-2026"), get_profile("selma3d-2024")
    contiguous = {"axonalmarker", "blood_vessel", "gutnerve", "lymphatic_vessel",
                  "peripheral_nerve"}
    isolated = {"AD_plaques", "cell_nuclei", "cfos_neuron", "microglia", "protein"}
    assert {s for s, t in p2026.structure_tracks.items() if t == "vessel"} == contiguous
    assert {s for s, t in p2026.structure_tracks.items() if t == "spot"} == isolated
    # selma3d's own names map onto the 2026 ones; microglia changed type between editions.
    assert [p2026.structure_name(s) for s in ("cfos", "cell_nucleus", "amyloid_plaque")] == [
        "cfos_neuron", "cell_nuclei", "AD_plaques"]
    assert p2026.track_of("microglia") == "spot" and p2024.track_of("microglia") == "vessel"
    with pytest.raises(ValueError, match="not scored by profile 'selma3d-2026'"):
        p2026.track_of("cells")


def test_2024_profile_tests_then_ranks_with_betti_errors():
    config = RankingConfig(profile="selma3d-2024")
    assert config.scheme == "test-then-rank"
    assert config.ranked_for("vessel") == ("dice", "cldice", "betti0_error", "betti1_error")
    assert config.ranked_for("spot") == ("dice", "betti0_error")
    # An explicit field overrides the profile's.
    assert RankingConfig(profile="selma3d-2024", scheme="aggregate-then-rank").scheme == (
        "aggregate-then-rank"
    )


def test_unknown_profile_is_a_config_error(tmp_path):
    path = tmp_path / "ranking.yaml"
    path.write_text("profile: selma3d-2025\n")
    with pytest.raises(ConfigError, match="profile"):
        load_ranking_config(path)
    path.write_text("profile: selma3d-2024\n")
    with pytest.raises(ConfigError, match="names 'selma3d-2024', the command line"):
        load_ranking_config(path, profile="selma3d-2026")
    assert load_ranking_config(path).profile == "selma3d-2024"


def test_results_scored_under_another_profile_are_refused():
    config = RankingConfig(profile="selma3d-2026", bootstrap={"resamples": 0})
    # microglia is spot-like in 2026; results that score it as vessel-like were not made so.
    table = _results()
    table.loc[table["case_id"] == "v1", "structure"] = "microglia"
    with pytest.raises(ResultsError, match="case v1: structure 'microglia' is spot-track"):
        compute_leaderboard(table, config=config)
    table = _results().assign(profile="selma3d")
    with pytest.raises(ResultsError, match="scored under profile 'selma3d'"):
        compute_leaderboard(table, config=config)


def test_outputs_name_the_profile(tmp_path):
    config = RankingConfig(profile="selma3d-2026", bootstrap={"resamples": 0})
    build_leaderboard(_results().assign(profile="selma3d-2026"), tmp_path, config=config)
    record = json.loads((tmp_path / "leaderboard.json").read_text())
    assert record["profile"]["name"] == "selma3d-2026"
    assert record["ranking_config"]["profile"] == "selma3d-2026"
    assert set(pd.read_csv(tmp_path / "leaderboard.csv")["profile"]) == {"selma3d-2026"}
    assert "Profile: selma3d-2026." in (tmp_path / "leaderboard.md").read_text()
    assert "Profile selma3d-2026" in (tmp_path / "index.html").read_text()


@pytest.fixture
def split(tmp_path):
    root = tmp_path / "split"
    root.mkdir()
    mask = np.zeros((6, 6, 6), np.uint8)
    mask[1:3, 1:3, 1:3] = 1
    rows = []
    cases = [("m1", "vessel", "microglia"), ("n1", "spot", "cell_nucleus")]
    for case_id, track, structure in cases:
        write_volume(root / f"{case_id}.nii.gz", np.zeros(mask.shape, np.float32))
        write_volume(root / f"{case_id}_label.nii.gz", mask)
        rows.append({"case_id": case_id, "track": track, "structure": structure,
                     "image": f"{case_id}.nii.gz", "label": f"{case_id}_label.nii.gz"})
    write_manifest(root, rows)
    (tmp_path / "team").mkdir()
    for case_id in ("m1", "n1"):
        write_volume(tmp_path / "team" / f"{case_id}.nii.gz", mask)
    return load_split(root)


def test_evaluate_gives_microglia_the_2026_track(tmp_path, split):
    assert [c.track for c in profile_cases(split, "selma3d")] == ["vessel", "spot"]
    assert [c.track for c in profile_cases(split, "selma3d-2026")] == ["spot", "spot"]
    frame = evaluate_predictions(split, {"t": tmp_path / "team"}, progress=False,
                                 profile="selma3d-2026")
    assert frame["track"].tolist() == ["spot", "spot"]
    assert frame["pq"].tolist() == [1.0, 1.0]
    assert set(frame["profile"]) == {"selma3d-2026"}


def test_evaluate_cli_profile(tmp_path, split):
    out = tmp_path / "results.csv"
    code = run(["evaluate", "--split", str(split.root), "--predictions", str(tmp_path / "team"),
                "--out", str(out), "--profile", "selma3d-2024", "--no-progress"])
    assert code == 0
    table = pd.read_csv(out)
    assert set(table["profile"]) == {"selma3d-2024"}
    assert table.set_index("case_id")["track"].to_dict() == {"m1": "vessel", "n1": "spot"}


def test_structure_a_profile_does_not_score_is_a_split_error(tmp_path, split):
    rows = [{"case_id": c.case_id, "track": c.track, "structure": "glia_x",
             "image": c.image.name, "label": c.label.name} for c in split.cases]
    write_manifest(split.root, rows)
    with pytest.raises(SplitError, match="'glia_x' is not scored by profile 'selma3d-2026'"):
        profile_cases(load_split(split.root), "selma3d-2026")


def test_every_profile_is_named():
    assert set(PROFILES) == {"selma3d", "selma3d-2026", "selma3d-2024"}
