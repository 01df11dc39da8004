"""Ranking configuration: a frozen pydantic model, validated when it is loaded.

``examples/ranking.yaml`` documents every field; ``docs/leaderboard.md`` explains the schemes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from common.errors import ConfigError
from common.files import load_yaml_model
from common.profiles import DEFAULT_PROFILE, PROFILES
from leaderboard import metric_info

__all__ = [
    "AGGREGATIONS",
    "SCHEMES",
    "BootstrapConfig",
    "RankingConfig",
    "ReportConfig",
    "TestConfig",
    "load_ranking_config",
]

Scheme = Literal["aggregate-then-rank", "rank-then-aggregate", "test-then-rank"]
Aggregation = Literal["track", "structure"]
SCHEMES: tuple[str, ...] = get_args(Scheme)
"""The ranking schemes, as :attr:`RankingConfig.scheme` accepts them."""
AGGREGATIONS: tuple[str, ...] = get_args(Aggregation)
"""The units of aggregation, as :attr:`RankingConfig.aggregation` accepts them."""


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
    profile : str
        The edition's rules in force (``common.profiles.PROFILES``; default
        ``"selma3d"``). ``scheme``, ``aggregation`` and ``ranked_metrics`` default to the
        profile's; a field given explicitly overrides it.
    scheme : {"aggregate-then-rank", "rank-then-aggregate", "test-then-rank"}
        ``aggregate-then-rank`` (SELMA3D 2026): mean per team over a unit's cases, rank
        teams per (unit, metric). ``rank-then-aggregate``: rank teams per case and metric, average
        the ranks. ``test-then-rank``: one-sided Wilcoxon signed-rank tests between every pair of
        teams per (unit, metric), Holm-corrected; teams ranked by how many they beat.
    aggregation : {"track", "structure"}
        The unit of aggregation: a whole track, or each structure within a track (a track's
        score is then the mean over its structures).
    categories : dict of str to str, optional
        Category of each structure (e.g. ``{blood_vessel: dense, peripheral_nerve: sparse}``):
        the unit becomes (track, category), as the SELMA3D 2026 web page ranks dense and sparse
        structures of each type apart. A key is a structure as the results name it or as the
        profile names it (``cfos`` or ``cfos_neuron`` under ``selma3d-2026``). Needs
        ``aggregation: track``; every structure of the results must be mapped.
    ranked_metrics : dict of str to tuple of str, optional
        Ranked metrics per track; the profile's when omitted. A track listed with no metrics
        is left out of the overall score.
    bootstrap : BootstrapConfig
    test : TestConfig
    report : ReportConfig

    Examples
    --------
    >>> RankingConfig().ranked_for("vessel")
    ('dice', 'cldice')
    >>> RankingConfig(ranked_metrics={"spot": ["pq"]}).ranked_for("spot")
    ('pq',)
    >>> cfg = RankingConfig(profile="selma3d-2024")
    >>> cfg.scheme, cfg.ranked_for("spot")
    ('test-then-rank', ('dice', 'betti0_error'))
    """

    profile: str = DEFAULT_PROFILE
    scheme: Scheme = "aggregate-then-rank"
    aggregation: Aggregation = "track"
    ranked_metrics: dict[str, tuple[str, ...]] | None = None
    categories: dict[str, str] | None = None
    bootstrap: BootstrapConfig = BootstrapConfig()
    test: TestConfig = TestConfig()
    report: ReportConfig = ReportConfig()

    @model_validator(mode="before")
    @classmethod
    def _profile_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        name = data.get("profile", DEFAULT_PROFILE)
        if name not in PROFILES:
            raise ValueError(f"profile: unknown profile {name!r}; expected one of {list(PROFILES)}")
        profile = PROFILES[name]
        filled = dict(data)
        filled.setdefault("scheme", profile.scheme)
        filled.setdefault("aggregation", profile.aggregation)
        return filled

    @model_validator(mode="after")
    def _check_categories(self) -> RankingConfig:
        if self.categories is None:
            return self
        if not self.categories:
            raise ValueError("categories: empty; map each structure to a category, or omit it")
        if self.aggregation != "track":
            raise ValueError(
                f"categories: the unit is then (track, category); aggregation "
                f"{self.aggregation!r} cannot be used with it, set aggregation: track"
            )
        blank = sorted(k for k, v in self.categories.items() if not k.strip() or not v.strip())
        if blank:
            raise ValueError(f"categories: empty structure or category name for {blank}")
        return self

    @property
    def unit_kind(self) -> str:
        """What a ranking unit is: ``"track"``, ``"structure"`` or ``"category"``."""
        return "category" if self.categories is not None else self.aggregation

    def category_of(self, structure: str) -> str | None:
        """Category of ``structure``, by its own name or the profile's; None when unmapped.

        Examples
        --------
        >>> cfg = RankingConfig(profile="selma3d-2026", categories={"cfos_neuron": "dense"})
        >>> cfg.category_of("cfos"), cfg.category_of("protein")
        ('dense', None)
        """
        if self.categories is None:
            return None
        if structure in self.categories:
            return self.categories[structure]
        return self.categories.get(PROFILES[self.profile].structure_name(structure))

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
        """Ranked metrics of ``track`` (configured, else the profile's)."""
        if self.ranked_metrics is None:
            return tuple(PROFILES[self.profile].ranked_metrics.get(track, ()))
        return tuple(self.ranked_metrics.get(track, ()))


def load_ranking_config(path: str | Path, *, profile: str | None = None) -> RankingConfig:
    """Read and validate a ranking configuration from YAML.

    Parameters
    ----------
    path : str or Path
        A YAML mapping with the fields of ``RankingConfig``; an empty file gives the defaults.
    profile : str, optional, keyword-only
        The profile named on the command line; the file may name the same one or none.

    Raises
    ------
    ConfigError
        Naming the file and every invalid field (``bootstrap.resamples: ...``), in the format
        of :func:`common.files.load_yaml_model`.
    """

    def with_profile(data: dict[str, Any]) -> dict[str, Any]:
        if profile is None:
            return data
        if data.get("profile", profile) != profile:
            raise ConfigError(
                f"{path}: profile: the file names {data['profile']!r}, the command line "
                f"{profile!r}; name one"
            )
        return {**data, "profile": profile}

    return load_yaml_model(
        path, RankingConfig, what="ranking configuration", empty_ok=True, prepare=with_profile
    )
