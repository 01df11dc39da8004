"""Ranking configuration: a frozen pydantic model, validated when it is loaded.

``examples/ranking.yaml`` documents every field; ``docs/leaderboard.md`` explains the schemes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from leaderboard import metric_info
from leaderboard.files import load_yaml_model

__all__ = [
    "AGGREGATIONS",
    "SCHEMES",
    "BootstrapConfig",
    "RankingConfig",
    "ReportConfig",
    "TestConfig",
    "load_ranking_config",
]

SCHEMES: tuple[str, ...] = ("aggregate-then-rank", "rank-then-aggregate", "test-then-rank")
AGGREGATIONS: tuple[str, ...] = ("track", "structure")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BootstrapConfig(_Frozen):
    """Bootstrap over cases.

    Attributes
    ----------
    resamples : int
        Number of bootstrap replicates; 0 turns the bootstrap off (no intervals, no ties).
    seed : int
        Seed of the ``numpy.random.Generator`` that draws the replicates.
    confidence : float
        Level of the rank interval, in (0, 1).
    """

    resamples: int = Field(default=1000, ge=0, le=100_000)
    seed: int = Field(default=2026, ge=0)
    confidence: float = Field(default=0.95, gt=0.0, lt=1.0)


class TestConfig(_Frozen):
    """The test-then-rank scheme's pairwise tests.

    Attributes
    ----------
    alpha : float
        Family-wise significance level after Holm's correction.
    """

    __test__ = False  # not a pytest test class despite the name

    alpha: float = Field(default=0.05, gt=0.0, lt=1.0)


class ReportConfig(_Frozen):
    """What the HTML report shows.

    Attributes
    ----------
    title : str
        Page and table title.
    mip_cases : int
        At most this many cases get a maximum-intensity-projection gallery (first by case id).
    mip_size : int
        Longest side, in pixels, of each projection panel; larger volumes are max-pooled down.
    extra_plot_metrics : tuple of str
        Metrics plotted per team besides the ranked ones, where they apply to a track.
    """

    title: str = Field(default="Leaderboard", min_length=1)
    mip_cases: int = Field(default=6, ge=0, le=500)
    mip_size: int = Field(default=128, ge=16, le=1024)
    extra_plot_metrics: tuple[str, ...] = ("pq", "betti0_error", "betti1_error")

    @field_validator("extra_plot_metrics")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        columns = metric_info.metric_columns()
        unknown = [v for v in value if v not in columns]
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; expected some of {list(columns)}")
        return value


class RankingConfig(_Frozen):
    """How teams are ranked.

    Attributes
    ----------
    scheme : {"aggregate-then-rank", "rank-then-aggregate", "test-then-rank"}
        ``aggregate-then-rank`` (SELMA3D 2026, default): mean per team over a unit's cases, rank
        teams per (unit, metric). ``rank-then-aggregate``: rank teams per case and metric, average
        the ranks. ``test-then-rank``: one-sided Wilcoxon signed-rank tests between every pair of
        teams per (unit, metric), Holm-corrected; teams ranked by how many they beat.
    aggregation : {"track", "structure"}
        The unit of aggregation: a whole track, or each structure within a track (a track's
        score is then the mean over its structures).
    ranked_metrics : dict of str to tuple of str, optional
        Ranked metrics per track; the registry's ``ranked_by_default`` when omitted. A track
        listed with no metrics is left out of the overall score.
    bootstrap : BootstrapConfig
    test : TestConfig
    report : ReportConfig

    Examples
    --------
    >>> RankingConfig().ranked_for("vessel")
    ('dice', 'cldice')
    >>> RankingConfig(ranked_metrics={"spot": ["pq"]}).ranked_for("spot")
    ('pq',)
    """

    scheme: Literal["aggregate-then-rank", "rank-then-aggregate", "test-then-rank"] = (
        "aggregate-then-rank"
    )
    aggregation: Literal["track", "structure"] = "track"
    ranked_metrics: dict[str, tuple[str, ...]] | None = None
    bootstrap: BootstrapConfig = BootstrapConfig()
    test: TestConfig = TestConfig()
    report: ReportConfig = ReportConfig()

    @model_validator(mode="after")
    def _check_metrics(self) -> RankingConfig:
        if self.ranked_metrics is None:
            return self
        per_track = metric_info.track_metrics()
        for track, names in self.ranked_metrics.items():
            if track not in per_track:
                raise ValueError(
                    f"ranked_metrics: unknown track {track!r}; expected one of {sorted(per_track)}"
                )
            if len(set(names)) != len(names):
                raise ValueError(f"ranked_metrics.{track}: duplicate metric in {list(names)}")
            for name in names:
                if name not in per_track[track]:
                    raise ValueError(
                        f"ranked_metrics.{track}: metric {name!r} does not apply to track "
                        f"{track!r}; expected one of {list(per_track[track])}"
                    )
        if not any(self.ranked_metrics.values()):
            raise ValueError("ranked_metrics: at least one track needs a ranked metric")
        return self

    def ranked_for(self, track: str) -> tuple[str, ...]:
        """Ranked metrics of ``track`` (configured, else the registry's defaults)."""
        if self.ranked_metrics is None:
            return metric_info.default_ranked_metrics().get(track, ())
        return tuple(self.ranked_metrics.get(track, ()))


def load_ranking_config(path: str | Path) -> RankingConfig:
    """Read and validate a ranking configuration from YAML.

    Parameters
    ----------
    path : str or Path
        A YAML mapping with the fields of ``RankingConfig``; an empty file gives the defaults.

    Raises
    ------
    ConfigError
        Naming the file and every invalid field (``bootstrap.resamples: ...``), in the format
        of :func:`leaderboard.files.load_yaml_model`.
    """
    return load_yaml_model(path, RankingConfig, what="ranking configuration", empty_ok=True)
