"""Ranking configuration: the documented example loads, invalid fields are named with the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import ConfigError
from leaderboard import RankingConfig, load_ranking_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ranking.yaml"


def test_example_documents_the_defaults():
    loaded = load_ranking_config(EXAMPLE)
    defaults = RankingConfig()
    assert loaded.model_dump(exclude={"ranked_metrics"}) == defaults.model_dump(
        exclude={"ranked_metrics"}
    )
    for track in ("vessel", "spot"):
        assert loaded.ranked_for(track) == defaults.ranked_for(track)
    # every field of the model appears in the example
    text = EXAMPLE.read_text()
    for name, field in RankingConfig.model_fields.items():
        assert f"{name}:" in text
        sub = getattr(field.annotation, "model_fields", {})
        for inner in sub:
            assert f"  {inner}:" in text, inner


def test_registry_defaults():
    cfg = RankingConfig()
    assert cfg.ranked_for("vessel") == ("dice", "cldice")
    assert cfg.ranked_for("spot") == ("dice", "blob_f1")


def test_frozen():
    cfg = RankingConfig()
    with pytest.raises(ValueError, match="frozen"):
        cfg.scheme = "test-then-rank"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scheme: rank-first\n", "scheme: Input should be 'aggregate-then-rank'"),
        (
            "bootstrap:\n  resamples: -1\n",
            "bootstrap.resamples: Input should be greater than or equal to 0",
        ),
        ("bootstrap:\n  confidence: 1.5\n", "bootstrap.confidence"),
        ("bootstrapp: {}\n", "bootstrapp: Extra inputs are not permitted"),
        (
            "ranked_metrics:\n  vessel: [blob_f1]\n",
            "metric 'blob_f1' does not apply to track 'vessel'",
        ),
        ("ranked_metrics:\n  tubes: [dice]\n", "unknown track 'tubes'"),
        ("ranked_metrics:\n  vessel: [dice, dice]\n", "duplicate metric"),
        ("report:\n  extra_plot_metrics: [hausdorff]\n", "report.extra_plot_metrics"),
        ("aggregation: organ\n", "aggregation: Input should be 'track' or 'structure'"),
        ("- a\n- b\n", "must be a mapping of fields at the top, got list"),
        ("scheme: [unclosed\n", "the ranking configuration is not valid YAML"),
    ],
)
def test_invalid_configs_name_file_and_field(tmp_path, text, message):
    path = tmp_path / "ranking.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_ranking_config(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_empty_file_gives_defaults(tmp_path):
    path = tmp_path / "ranking.yaml"
    path.write_text("")
    assert load_ranking_config(path) == RankingConfig()
