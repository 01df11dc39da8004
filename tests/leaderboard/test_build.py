"""The four output files: content, provenance, byte-identical reruns, the command line."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import metrics
from harness.cli import run
from harness.scoring.volumes import SplitVolumes
from leaderboard import OUTPUT_FILES, build_leaderboard, read_results
from tests.leaderboard.conftest import BUILT_CONFIG as CFG


def test_byte_identical_reruns(small_round, built, tmp_path):
    build_leaderboard(
        read_results(small_round["csv"]),
        tmp_path,
        config=CFG,
        split=small_round["split"],
        volumes=SplitVolumes(small_round["split"], base_dir=small_round["csv"].parent),
        results_path=small_round["csv"],
        metadata={"round": "demo"},
    )
    for name in OUTPUT_FILES:
        assert (tmp_path / name).read_bytes() == (built / name).read_bytes(), name


def test_csv_rows_in_rank_order(small_round, built):
    table = pd.read_csv(built / "leaderboard.csv")
    assert list(table["team"]) == small_round["order"]
    assert list(table.columns[:4]) == ["rank", "team", "display_name", "score"]
    for column in (
        "vessel_rank",
        "spot_rank",
        "vessel_dice_mean",
        "spot_blob_f1_mean",
        "cases_completed",
        "failed_timeout",
        "rank_ci_low",
        "rank_ci_high",
        "statistically_tied",
        "tied_group",
        "wall_time_s_mean",
        "peak_memory_bytes_max",
    ):
        assert column in table.columns, column
    cy = table.set_index("team").loc["cy"]
    assert (cy["cases_completed"], cy["failed_timeout"], cy["cases_total"]) == (2, 1, 3)


def test_json_records_provenance(small_round, built):
    record = json.loads((built / "leaderboard.json").read_text())
    assert record["split_hash"] == small_round["split"].content_hash
    assert [t["team"] for t in record["teams"]] == small_round["order"]
    assert record["teams"][0]["image_digests"] == ["sha256:" + "ada".ljust(64, "0")]
    assert record["teams"][2]["statuses"]["timeout"] == 1
    assert record["metrics"]["dice"]["higher_is_better"] is metrics.METRICS["dice"].higher_is_better
    assert record["metrics"]["betti0_error"]["higher_is_better"] is False
    assert record["ranking_config"]["ranked_metrics"] == {
        "spot": ["dice", "blob_f1"],
        "vessel": ["dice", "cldice"],
    }
    assert record["ranking_config"]["bootstrap"] == {
        "resamples": 200,
        "seed": 3,
        "confidence": 0.95,
    }
    assert record["bootstrap"]["kendall_tau"]["mean"] is not None
    assert record["metadata"] == {"round": "demo"}
    assert record["tool"]["name"] == "selma3d" and record["tool"]["version"]
    assert sum(record["teams"][0]["rank_frequency"]) == 200
    text = (built / "leaderboard.json").read_text()
    assert text == json.dumps(record, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_markdown_table(built):
    md = (built / "leaderboard.md").read_text()
    lines = [line for line in md.splitlines() if line.startswith("| ")]
    assert lines[0].startswith("| Rank | Team | Score |")
    assert [line.split(" | ")[1] for line in lines[1:]] == ["Team ADA", "Team BOB", "Team CY"]
    assert "timeout 1" in lines[3]


def test_html_is_self_contained(built):
    html = (built / "index.html").read_text()
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html
    assert html.count('src="data:image/png;base64,') >= 6
    assert len(html) < 3_000_000


def test_command_line(small_round, tmp_path, capsys):
    cfg = tmp_path / "ranking.yaml"
    cfg.write_text("bootstrap:\n  resamples: 50\n")
    assert run(
        [
            "leaderboard",
            str(small_round["csv"]),
            "--out",
            str(tmp_path / "b"),
            "--ranking",
            str(cfg),
            "--no-progress",
        ]
    ) == 0
    assert all((tmp_path / "b" / name).is_file() for name in OUTPUT_FILES)
    cfg.write_text("scheme: best-first\n")
    args = ["leaderboard", str(small_round["csv"]), "--out", str(tmp_path / "c")]
    code = run([*args, "--ranking", str(cfg)])
    assert code == 2
    assert "scheme" in capsys.readouterr().err


def test_the_old_spellings_config_and_quiet_still_work_with_a_deprecation(
    small_round, tmp_path, capsys
):
    cfg = tmp_path / "ranking.yaml"
    cfg.write_text("scheme: best-first\n")
    args = ["leaderboard", str(small_round["csv"]), "--out", str(tmp_path / "b")]
    # The ranking file is read under its old option name: its unknown key is refused.
    assert run([*args, "--config", str(cfg), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "scheme" in err
    assert "deprecated: selma3d leaderboard --config; write --ranking" in err
    assert "deprecated: selma3d leaderboard --quiet; write --no-progress" in err


def test_a_non_deterministic_team_is_marked_and_explained_but_still_ranked(small_round, tmp_path):
    results = read_results(small_round["csv"])
    same = {
        "ada": {"case_id": "spot_000", "identical": True, "differing_voxels": 0, "reason": ""},
        "bob": {"case_id": "spot_000", "identical": None, "reason": "the second run ended timeout"},
    }
    differs = {
        "case_id": "vessel_000",
        "identical": False,
        "differing_voxels": 17,
        "reason": "17 of 11520 voxels differ between two runs of the same case",
    }
    plain, unflagged, flagged = tmp_path / "plain", tmp_path / "unflagged", tmp_path / "flagged"
    build_leaderboard(results, plain, config=CFG, metadata={"round": "demo"})
    build_leaderboard(
        results, unflagged, config=CFG, metadata={"round": "demo", "determinism": same}
    )
    build_leaderboard(
        results,
        flagged,
        config=CFG,
        metadata={"round": "demo", "determinism": {**same, "cy": differs}},
    )
    # Only a difference is marked: otherwise the tables are those of a board without the check.
    for name in ("leaderboard.csv", "leaderboard.md", "index.html"):
        assert (unflagged / name).read_bytes() == (plain / name).read_bytes(), name
    assert (flagged / "leaderboard.csv").read_bytes() == (plain / "leaderboard.csv").read_bytes()
    record = json.loads((flagged / "leaderboard.json").read_text())
    assert record["metadata"]["determinism"]["cy"] == differs
    # Flagged, not failed: the same ranks.
    assert [t["team"] for t in record["teams"]] == small_round["order"]

    md = (flagged / "leaderboard.md").read_text()
    rows = {line.split(" | ")[1]: line for line in md.splitlines() if line.startswith("| ")}
    assert "Team CY \u2020" in rows and "Team ADA" in rows and "Team BOB" in rows
    assert (
        "\u2020 Not deterministic (flagged, not failed: ranked on the first run): Team CY, case "
        "vessel_000: 17 of 11520 voxels differ between two runs of the same case." in md
    )
    html = (flagged / "index.html").read_text()
    row = next(line for line in html.split("<tr") if 'data-team="cy"' in line)
    assert '<span class="nondet" title="not deterministic: case vessel_000: 17 of 11520' in row
    assert html.count('class="nondet"') == 1
    assert 'id="nondeterministic">\u2020 Not deterministic' in html
    assert "Team CY, case vessel_000: 17 of 11520 voxels differ" in html

    with pytest.raises(ValueError, match="must map each team to its determinism outcome"):
        build_leaderboard(results, tmp_path / "bad", config=CFG, metadata={"determinism": [1]})


def test_a_submission_that_ran_no_case_is_named_under_the_table_and_ranks_nothing(
    small_round, tmp_path
):
    results = read_results(small_round["csv"])
    plain, named = tmp_path / "plain", tmp_path / "named"
    build_leaderboard(results, plain, config=CFG, metadata={"round": "demo"})
    failure = {"team": "dee <b>", "submission": "s0", "status": "image_failed",
               "reason": "/srv/teams/dee.tar is cut short"}
    build_leaderboard(
        results, named, config=CFG, metadata={"round": "demo", "not_ranked": [failure]}
    )
    assert (named / "leaderboard.csv").read_bytes() == (plain / "leaderboard.csv").read_bytes()
    record = json.loads((named / "leaderboard.json").read_text())
    assert [t["team"] for t in record["teams"]] == small_round["order"]
    assert record["metadata"]["not_ranked"] == [
        {"team": "dee <b>", "submission": "s0", "status": "image_failed",
         "reason": "its image could not be built, loaded or found"}
    ]
    md = (named / "leaderboard.md").read_text()
    assert (
        "Not ranked, having run no case: dee &lt;b&gt; (submission s0): its image could not be "
        "built, loaded or found." in md
    )
    html = (named / "index.html").read_text()
    assert (
        '<p class="note" id="not-ranked">Not ranked, having run no case: dee &lt;b&gt; '
        "(submission s0): its image could not be built, loaded or found.</p>" in html
    )
    for page in (md, html, json.dumps(record)):
        assert "/srv/teams" not in page and "cut short" not in page


def test_the_json_is_exactly_what_the_json_encoder_writes(built):
    from leaderboard.build import _json_text

    record = json.loads((built / "leaderboard.json").read_text())
    assert any(t.get("rank_frequency") for t in record["teams"])
    expected = json.dumps(record, sort_keys=True, indent=2, allow_nan=False, ensure_ascii=False)
    assert _json_text(record) == expected
    assert (built / "leaderboard.json").read_text() == expected + "\n"
    # Empty lists, and a value that only looks like the placeholder, come out as encoded.
    record["teams"][0]["rank_frequency"] = []
    record["metadata"]["affiliations"] = {"rank_frequency": "rank_frequency:0"}
    assert _json_text(record) == json.dumps(
        record, sort_keys=True, indent=2, allow_nan=False, ensure_ascii=False
    )
