"""Tags on teams and submissions, and one leaderboard per tag filter (``leaderboards:``)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from rich.console import Console

from common.errors import ConfigError
from harness.containers.images import ImageInfo, ImagePins
from harness.rounds import round as round_module
from harness.rounds.config import load_round_config
from harness.rounds.plan import plan_submission
from harness.rounds.round import run_round
from harness.split.synth import synthesize_split
from harness.split.volume import read_volume, write_volume

BASE = {
    "name": "tags",
    "output": "out",
    "phases": {"final": {"split": "split"}},
    "phase": "final",
    "teams": [
        {"name": "alpha", "tags": {"ssl": True}, "image": "alpha:1"},
        {
            "name": "beta",
            "tags": {"ssl": False},
            "submissions": [{"image": "beta:1", "tags": {"ssl": True}}, {"image": "beta:2"}],
        },
        {"name": "gamma", "tags": {"ssl": False, "pretraining": "none"}, "image": "gamma:1"},
        {
            "name": "delta",
            "tags": {"ssl": True},
            "submissions": [{"image": "delta:1", "tags": {"ssl": False}}],
        },
    ],
    "leaderboards": [
        {"name": "no-ssl", "where": {"ssl": False}},
        {"name": "ssl", "where": {"ssl": True}},
        {"name": "undecided", "where": {"ssl": "maybe"}},
    ],
}


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "round.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_submission_tags_override_the_teams(tmp_path):
    config = load_round_config(write(tmp_path, BASE))
    assert config.tags_of("alpha", "s00") == {"ssl": True}
    assert config.tags_of("beta", "s00") == {"ssl": True}
    assert config.tags_of("beta", "s01") == {"ssl": False}
    assert config.tags_of("gamma", "s00") == {"ssl": False, "pretraining": "none"}
    assert config.tags_of("delta", "s00") == {"ssl": False}
    assert [b.name for b in config.leaderboards] == ["no-ssl", "ssl", "undecided"]
    # YAML false is a boolean, "maybe" a string: the filter keeps the types.
    assert config.leaderboards[0].where == {"ssl": False}
    assert config.leaderboards[0].where["ssl"] is False


@pytest.mark.parametrize(
    ("change", "needles"),
    [
        (
            {"leaderboards": [{"name": "x", "where": {"sl": False}}]},
            ["leaderboards.0.where: unknown tag 'sl'", "carry ['pretraining', 'ssl']"],
        ),
        (
            # Two equal dicts, not one twice: yaml.dump writes a repeated object as an alias.
            {"leaderboards": [{"name": "x", "where": {"ssl": False}} for _ in range(2)]},
            ["leaderboards: duplicate leaderboard name(s) ['x']"],
        ),
        ({"leaderboards": [{"name": "../x", "where": {"ssl": False}}]}, ["leaderboards.0.name"]),
        (
            {"leaderboards": [{"name": "x", "where": {}}]},
            ["leaderboards.0.where: Dictionary should have at least 1 item"],
        ),
        ({"leaderboards": [{"name": "x"}]}, ["leaderboards.0.where: Field required"]),
        (
            {"teams": [{"name": "a", "image": "a:1", "tags": {"ssl": [1, 2]}}]},
            ["teams.0.tags.ssl"],
        ),
    ],
)
def test_bad_tags_and_filters_are_named_at_load(tmp_path, change, needles):
    path = write(tmp_path, {**BASE, **change})
    with pytest.raises(ConfigError) as info:
        load_round_config(path)
    message = str(info.value)
    assert str(path) in message
    for needle in needles:
        assert needle in message, message


def test_a_filter_naming_an_unknown_tag_exits_2(tmp_path):
    from harness.cli import run

    path = write(tmp_path, {**BASE, "leaderboards": [{"name": "x", "where": {"sll": False}}]})
    assert run(["round", str(path)]) == 2


# The round below: one vessel-like and one spot-like case; every prediction is either the
# reference (all ranked metrics 1) or empty (all 0), so the ranks follow by hand.
#
#   team (selected submission)   tags                 vessel   spot
#   alpha (s00)                  ssl true             ref      ref
#   beta  (s01, the last)        ssl false            ref      empty    (s00: ssl true, ref ref)
#   gamma (s00)                  ssl false            empty    ref
#   delta (s00)                  ssl false (override) empty    empty
#
# full: vessel ranks (Dice and clDice alike) alpha 1, beta 1, gamma 3, delta 3; spot alpha 1,
#   gamma 1, beta 3, delta 3; overall alpha 1, beta 2, gamma 2, delta 3 -> 1, 2, 2, 4.
# no-ssl (beta, gamma, delta): vessel beta 1, gamma 2, delta 2; spot gamma 1, beta 2, delta 2;
#   overall beta 1.5, gamma 1.5, delta 2 -> 1, 1, 3.
# ssl: alpha alone -> 1.  undecided: nobody, nothing written.
PREDICTIONS = {
    ("alpha", "s00"): ("ref", "ref"),
    ("beta", "s00"): ("ref", "ref"),
    ("beta", "s01"): ("ref", "empty"),
    ("gamma", "s00"): ("empty", "ref"),
    ("delta", "s00"): ("empty", "empty"),
}


def _round(tmp_path, monkeypatch, *, failed=()):  # type: ignore[no-untyped-def]
    """The round above, its images and containers put in place; ``failed`` teams' images fail."""
    split = synthesize_split(tmp_path / "split", cases=2, size=(32, 32, 32), seed=5)
    cases = {c.track: c for c in split.cases}
    data = {
        **BASE,
        "teams": [*BASE["teams"], *failed],
        "ranking": {
            "bootstrap": {"resamples": 20, "seed": 1},
            "categories": {cases["vessel"].structure: "dense", cases["spot"].structure: "dense"},
        },
    }
    config = load_round_config(write(tmp_path, data))
    out = config.out_dir

    def resolve(plan, console, pins):
        records = []
        entries = {(e.team.name, e.submission): e for e in plan.entries}
        for (team, sub), kinds in PREDICTIONS.items():
            run_dir = plan.out_dir / "runs" / team / sub
            run_dir.mkdir(parents=True)
            for kind, case in zip(kinds, (cases["vessel"], cases["spot"]), strict=True):
                target = run_dir / f"{case.case_id}.nii.gz"
                if kind == "ref":
                    shutil.copyfile(case.label, target)
                else:
                    label = read_volume(case.label)
                    write_volume(target, np.zeros_like(label.array), label.grid)
            image = ImageInfo(f"{team}:{sub}", "sha256:" + "0" * 64, "")
            records.append(plan_submission(plan, entries[team, sub], image, None))
        failures = [
            {"team": t["name"], "submission": "s00", "source": t["image"],
             "status": "image_failed", "reason": f"{t['image']}: no such image"}
            for t in failed
        ]
        return records, failures

    # Everything but building images and running containers, whose outputs are put in place;
    # no image is pinned, so no engine is asked.
    monkeypatch.setattr(round_module, "_pin_given_images", lambda *a: ImagePins(None))
    monkeypatch.setattr(round_module, "_resolve_submissions", resolve)
    monkeypatch.setattr(round_module, "_run_containers", lambda *args, **kw: None)
    console = Console(record=True, width=120, file=io.StringIO())
    return out, run_round(config, console=console), console


def test_a_round_writes_one_leaderboard_per_filter(tmp_path, monkeypatch):
    out, result, console = _round(tmp_path, monkeypatch)

    def ranks(folder: str) -> dict[str, int]:
        board = pd.read_csv(out / folder / "leaderboard.csv")
        return dict(zip(board["team"], board["rank"], strict=True))

    assert ranks("leaderboard") == {"alpha": 1, "beta": 2, "gamma": 2, "delta": 4}
    assert ranks("leaderboards/no-ssl") == {"beta": 1, "gamma": 1, "delta": 3}
    assert ranks("leaderboards/ssl") == {"alpha": 1}
    assert not (out / "leaderboards" / "undecided").exists()
    for name in ("leaderboard.csv", "leaderboard.json", "leaderboard.md", "index.html"):
        assert (out / "leaderboards" / "no-ssl" / name).is_file()
    board = json.loads((out / "leaderboards" / "no-ssl" / "leaderboard.json").read_text())
    assert board["metadata"]["leaderboard"] == {"name": "no-ssl", "where": {"ssl": False}}
    assert board["title"] == "tags · final · no-ssl"
    assert board["ranking_config"]["categories"] is not None

    # results.csv: every submission's tags as JSON text.
    table = pd.read_csv(out / "results.csv")
    tags = {(t, s): json.loads(x) for t, s, x in table[["team", "submission", "tags"]].values}
    assert tags[("beta", "s00")] == {"ssl": True}
    assert tags[("beta", "s01")] == {"ssl": False}
    assert tags[("gamma", "s00")] == {"pretraining": "none", "ssl": False}

    record = json.loads((out / "round.json").read_text())
    subs = {(s["team"], s["submission"]): s["tags"] for s in record["submissions"]}
    assert subs[("delta", "s00")] == {"ssl": False}
    assert record["leaderboards"] == {
        "no-ssl": {"where": {"ssl": False}, "teams": ["beta", "delta", "gamma"],
                   "dir": "leaderboards/no-ssl/"},
        "ssl": {"where": {"ssl": True}, "teams": ["alpha"], "dir": "leaderboards/ssl/"},
        "undecided": {"where": {"ssl": "maybe"}, "teams": [], "dir": None},
    }
    assert record["config"]["leaderboards"][0] == {"name": "no-ssl", "where": {"ssl": False}}
    assert result.leaderboards["ssl"]["teams"] == ["alpha"]
    text = console.export_text()
    assert "leaderboard undecided: no team's selected submission" in text
    # The terminal board shows the ranked metrics' means with category units too.
    assert "clDice" in text.split("Leaderboard")[-1]


def test_a_team_whose_image_failed_is_named_on_each_board_whose_tags_it_carries(
    tmp_path, monkeypatch
):
    epsilon = {"name": "epsilon", "tags": {"ssl": True}, "image": "epsilon:1"}
    out, _, _ = _round(tmp_path, monkeypatch, failed=[epsilon])

    def named(folder: str) -> list[tuple[str, str]]:
        board = json.loads((out / folder / "leaderboard.json").read_text())
        return [(e["team"], e["reason"]) for e in board["metadata"].get("not_ranked", [])]

    why = "its image could not be built, loaded or found"
    assert named("leaderboard") == [("epsilon", why)]
    assert named("leaderboards/ssl") == [("epsilon", why)]
    assert named("leaderboards/no-ssl") == []
    # Ranked as without it.
    board = pd.read_csv(out / "leaderboard" / "leaderboard.csv")
    assert dict(zip(board["team"], board["rank"], strict=True)) == {
        "alpha": 1, "beta": 2, "gamma": 2, "delta": 4
    }
    assert "no such image" not in (out / "leaderboard" / "leaderboard.md").read_text()
    record = json.loads((out / "round.json").read_text())
    assert record["image_failures"][0]["reason"] == "epsilon:1: no such image"
