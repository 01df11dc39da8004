"""A round resolved once: its phase and split, its ranking, its run settings, its submissions.

:func:`plan_round` reads a validated :class:`~harness.rounds.config.RoundConfig` into a frozen
:class:`RoundPlan`: the phase's loaded split, the ranking (profile included), the runner's
settings (contract, limits, gate, canary, determinism, reuse), the metric options and the
team submissions to the phase (:class:`SubmissionEntry`), each made once for the whole round.
The images stage resolves every submission's image and model and adds one :class:`Submission`
per team submission (:func:`plan_submission`, :meth:`RoundPlan.with_images`). Every later stage
(containers, scoring, evaluation, selection, publishing, ``round.json``) reads the plan or its
parts; none reads the round file again or rebuilds what the plan holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from common.errors import ConfigError
from harness.containers.images import ImageInfo
from harness.containers.limits import Limits
from harness.containers.model import ModelInfo
from harness.containers.run_config import RunConfig
from harness.containers.run_folder import RunIdentity, run_identity
from harness.predictions.validate import GateOptions
from harness.rounds.config import (
    RoundConfig,
    SubmissionSource,
    TagValue,
    TeamConfig,
    ranking_config_for,
    run_config_for,
)
from harness.split.manifest import Split, load_split
from leaderboard import RankingConfig
from metrics import MetricOptions

__all__ = [
    "RoundPlan",
    "Submission",
    "SubmissionEntry",
    "plan_round",
    "plan_submission",
    "submission_key",
]


def submission_key(team: str, submission: str) -> str:
    """The key of a team's submission across a round: ``team/submission``.

    Examples
    --------
    >>> submission_key("team-a", "s00")
    'team-a/s00'
    """
    return f"{team}/{submission}"


@dataclass(frozen=True)
class SubmissionEntry:
    """One team submission to the round's phase as the round file gives it, before its image.

    Attributes
    ----------
    team : TeamConfig
    submission : str
        Its id: its label, else ``s<index>`` (:meth:`RoundConfig.submissions_for`).
    source : SubmissionSource
        Its image, tarball or folder, its own model and tags.
    tags : mapping
        Its tags: the team's, overridden by the submission's (:meth:`RoundConfig.tags_of`).
    """

    team: TeamConfig
    submission: str
    source: SubmissionSource
    tags: Mapping[str, TagValue]

    @property
    def key(self) -> str:
        """``team/submission`` (:func:`submission_key`)."""
        return submission_key(self.team.name, self.submission)

    @property
    def model(self) -> Path | None:
        """Its model's path: its own, else the team's."""
        return self.team.model_of(self.source)


@dataclass(frozen=True)
class Submission:
    """One submission of one team to the round's phase, its image and model resolved.

    Attributes
    ----------
    team, submission : str
        The team's name and the submission's id (its label, else ``s<index>``).
    source : str
        What the round file names: a reference, a tarball or a folder.
    image : ImageInfo
        The image it resolved to: every container is created from its id.
    run_dir : Path
        Its run folder, ``<output>/runs/<team>/<submission>``: the ledger.
    identity : RunIdentity
        What its run folder's results depend on (a different one is refused on resuming).
    limits : Limits
        What each of its container runs is granted.
    model : mapping or None
        Its model (:meth:`harness.containers.model.ModelInfo.as_record`), or None.
    tags : mapping
        Its tags: the team's, overridden by the submission's.
    """

    team: str
    submission: str
    source: str
    image: ImageInfo
    run_dir: Path
    identity: RunIdentity
    limits: Limits
    model: Mapping[str, Any] | None = None
    tags: Mapping[str, TagValue] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """``team/submission`` (:func:`submission_key`)."""
        return submission_key(self.team, self.submission)


@dataclass(frozen=True)
class RoundPlan:
    """A round's phase resolved once; every stage reads it or its parts.

    Attributes
    ----------
    config : RoundConfig
        The validated round file, its phase chosen (teams, leaderboards, evaluation, output).
    split : Split
        The phase's split, loaded and found labeled.
    ranking : RankingConfig
        The round's ranking (its ``profile`` is the round's).
    run : RunConfig
        The runner's settings of every submission (contract, limits, gate, canary,
        determinism, reuse); once the images are resolved, the invoke relay's pinned id too.
    metrics : MetricOptions
        The metric suite's options every case is scored with.
    entries : tuple of SubmissionEntry
        Every team submission to the phase, in the round file's order.
    submissions : tuple of Submission
        Every submission whose image was had, in the round file's order (empty until the
        images stage).
    """

    config: RoundConfig
    split: Split
    ranking: RankingConfig
    run: RunConfig
    metrics: MetricOptions
    entries: tuple[SubmissionEntry, ...]
    submissions: tuple[Submission, ...] = ()

    @property
    def phase(self) -> str:
        """The phase this round runs."""
        return self.config.phase

    @property
    def profile(self) -> str:
        """The edition's rules (``common.profiles``): the ranking's."""
        return self.ranking.profile

    @property
    def gate(self) -> GateOptions:
        """The prediction gate every path of the round judges masks with."""
        return self.run.gate

    @property
    def out_dir(self) -> Path:
        """The folder of this phase's runs, results and leaderboard."""
        return self.config.out_dir

    def with_images(self, submissions: Iterable[Submission], relay: str | None) -> RoundPlan:
        """The plan once the images stage resolved the submissions and the relay's image."""
        return replace(
            self, submissions=tuple(submissions), run=replace(self.run, relay_image=relay)
        )

    def by_key(self) -> dict[str, Submission]:
        """The submissions by :attr:`Submission.key`."""
        return {s.key: s for s in self.submissions}


def plan_round(config: RoundConfig) -> RoundPlan:
    """Resolve a round's phase once: load its split, derive its ranking and run settings.

    Raises
    ------
    ConfigError
        The split cannot be loaded or is not labeled, or the ranking is refused.
    """
    split = load_split(config.phases[config.phase].split)
    if not split.labeled:
        raise ConfigError(
            f"{config.source}: phase {config.phase!r} uses split {split.root}, whose cases "
            "are not all labeled; a round needs the labels to score."
        )
    return RoundPlan(
        config=config,
        split=split,
        ranking=ranking_config_for(config),
        run=run_config_for(config),
        metrics=config.metrics,
        entries=tuple(
            SubmissionEntry(team, sub_id, source, config.tags_of(team.name, sub_id))
            for team in config.teams
            for sub_id, source in config.submissions_for(team)
        ),
    )


def plan_submission(
    plan: RoundPlan, entry: SubmissionEntry, image: ImageInfo, model: ModelInfo | None
) -> Submission:
    """A team submission of ``plan`` once its image (and model) are resolved: the one maker."""
    record = None if model is None else model.as_record()
    return Submission(
        team=entry.team.name,
        submission=entry.submission,
        source=entry.source.source,
        image=image,
        run_dir=plan.out_dir / "runs" / entry.team.name / entry.submission,
        identity=run_identity(image, plan.split, plan.run, record),
        limits=plan.run.limits,
        model=record,
        tags=entry.tags,
    )
