"""The configuration of an evaluation round (``selma3d round ROUND.yaml``), validated at load.

Every path in the file resolves relative to the file itself, never the working directory. Loading
reports every mistake at once, each naming the file and the field (``teams.2.submissions.0.image``).
The file is read by ``common.files`` (YAML aliases refused); ``phases`` needs at least one phase,
each named as a safe folder name (``../../escape`` is refused, so ``output: .../{phase}`` stays
inside its folder); ``output`` is non-empty and no phase's folder (or a parent of it) may be an
existing file; ``limits`` have the maxima of :class:`harness.containers.limits.Limits`.

Example
-------
.. code-block:: yaml

    name: selma3d-2026
    output: runs/selma3d-2026/{phase}  # where runs, results and the leaderboard go
    phases:
      preliminary: {split: data/preliminary}
      final: {split: data/final}
    phase: preliminary                 # the phase this command runs (or --phase)
    contract: grand-challenge          # or: folder
    expose_structure: true             # pass the structure name to containers
    limits: {timeout_s: 600, memory: 8g, cpus: 2, gpus: null, jobs: 2}  # harness.containers.limits
    canary: true
    determinism: true                  # rerun one case per submission, flag differing masks
    reuse: batch                       # or: case, a fresh invoke server per case
    build_timeout_s: 3600              # a folder's build is stopped after this (the default)
    submission_policy: last            # or: best
    metrics: {connectivity: 26, iou_threshold: 0.3, matching: greedy}
    binarize: {threshold: 0.5}         # default: value > 0, as the official evaluators
    geometry: strict                   # default: voxel (differing spacing scored, with a warning)
    ranking: ranking.yaml              # a file, or the ranking options inline
    cluster: {scheduler: tcp://10.0.0.5:8786}  # or --scheduler; none: a local cluster
    # cluster.connect_timeout_s: 30 (or --connect-timeout-s): then exit 2 if no scheduler answers
    teams:
      - name: team-a
        display_name: Team A
        affiliation: Somewhere University
        tags: {ssl: true}              # recorded in results.csv and round.json
        model: uploads/team-a-weights.tar.gz   # mounted read-only at /opt/ml/model
        submissions:
          - {image: team-a/seg:v1, phase: preliminary, tags: {ssl: false}}  # overrides the team's
          - {folder: submissions/team-a, phase: final, model: uploads/team-a-v2.tar.gz}
      - {name: team-b, tarball: uploads/team-b.tar, tags: {ssl: false}}   # one submission
    evaluation:                        # the organizers' evaluation container, beside selma3d's
      image: evaluation/               # scores: a reference, a `docker save` tarball or a folder
      ground_truth: ground-truth.tar.gz  # a tarball or a folder (harness.evaluation)
      leaderboard:                     # grand-challenge's board from each metrics.json, by the
        score_jsonpath: aggregates.con_dice_mean   # phase's own fields: leaderboard/
        extra_results_columns:                     # grand-challenge.csv (docs/leaderboard.md)
          - {title: clDice, path: aggregates.con_cldice_mean, order: desc}
        scoring_method_choice: avg
    leaderboards:                      # besides the full one: leaderboards/<name>/
      - {name: no-ssl, where: {ssl: false}}

Its length (over 500 lines) is one document's: every section of the round file, the example
above and the checks that span sections, validated as one model.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from common.errors import ConfigError
from common.files import config_error, load_yaml_model, resolved, validation_problems
from common.profiles import DEFAULT_PROFILE, PROFILES
from harness.containers.images import DEFAULT_BUILD_TIMEOUT_S
from harness.containers.limits import Limits
from harness.containers.run_config import Reuse, RunConfig
from harness.evaluation.config import EvaluationConfig
from harness.predictions.validate import BinarizeRule, GateOptions
from leaderboard import RankingConfig, load_ranking_config
from metrics import MetricOptions

__all__ = [
    "ClusterSettings",
    "LeaderboardFilter",
    "PhaseConfig",
    "RoundConfig",
    "RunSettings",
    "SubmissionSource",
    "TagValue",
    "TeamConfig",
    "check_scheduler_address",
    "load_round_config",
    "ranking_config_for",
    "run_config_for",
    "tags_match",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TagValue = bool | int | float | str
"""A tag's value: a scalar (``ssl: false``, ``pretraining: none``)."""

_WHAT = "round configuration"


def _folder_name(what: str) -> AfterValidator:
    """A name that becomes a folder: letters, digits, '.', '_' or '-', at most 64."""

    def check(value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"{what} name must be letters, digits, '.', '_' or '-' (at most 64, not "
                f"starting with '.', '_' or '-'), safe as a folder name; got {value!r}"
            )
        return value

    return AfterValidator(check)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SubmissionSource(_Strict):
    """One submitted image: exactly one of ``image``, ``tarball`` or ``folder``."""

    image: str | None = None
    tarball: Path | None = None
    folder: Path | None = None
    phase: str | None = Field(
        None, description="Phase it was submitted to; none means every phase."
    )
    label: Annotated[str, _folder_name("submission label")] | None = Field(
        None, description="A name for this submission (default: its index, s00, s01, ...)."
    )
    tags: dict[str, TagValue] = Field(
        default_factory=dict, description="Tags of this submission; they override the team's."
    )
    model: Path | None = Field(
        None,
        description="Model weights (.tar, .tar.gz or a folder) mounted read-only at "
        "/opt/ml/model; overrides the team's.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> SubmissionSource:
        given = [k for k in ("image", "tarball", "folder") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of image (a reference), tarball (docker save) or folder "
                f"(with a Dockerfile); got {given or 'none'}"
            )
        return self

    @property
    def source(self) -> str:
        """The reference, tarball path or folder path, as a string."""
        return str(self.image or self.tarball or self.folder)


class TeamConfig(_Strict):
    """A team and its submissions."""

    name: Annotated[str, _folder_name("team")]
    display_name: str | None = None
    affiliation: str | None = None
    tags: dict[str, TagValue] = Field(
        default_factory=dict, description="Tags of every submission of the team (ssl: false)."
    )
    submissions: tuple[SubmissionSource, ...] = ()
    model: Path | None = Field(
        None,
        description="Model weights (.tar, .tar.gz or a folder) of every submission of the team, "
        "mounted read-only at /opt/ml/model.",
    )
    # Shorthand for a single submission used in every phase.
    image: str | None = None
    tarball: Path | None = None
    folder: Path | None = None

    @model_validator(mode="after")
    def _one_way(self) -> TeamConfig:
        shorthand = [k for k in ("image", "tarball", "folder") if getattr(self, k) is not None]
        if shorthand and self.submissions:
            raise ValueError("give either submissions or one of image/tarball/folder, not both")
        if len(shorthand) > 1:
            raise ValueError(f"give one of image, tarball or folder; got {shorthand}")
        if not shorthand and not self.submissions:
            raise ValueError("no submission: give submissions, image, tarball or folder")
        # Each id names the submission's run folder: two alike would share one.
        ids = [sub.label or f"s{i:02d}" for i, sub in enumerate(self.submissions)]
        if twice := sorted({i for i in ids if ids.count(i) > 1}):
            raise ValueError(
                f"submissions: two submissions of the team have the id(s) {twice} (a label, or "
                "s<index> for one without); give each a label of its own"
            )
        return self

    def model_of(self, submission: SubmissionSource) -> Path | None:
        """The model of one of the team's submissions: its own, else the team's."""
        return submission.model if submission.model is not None else self.model

    def all_submissions(self) -> tuple[SubmissionSource, ...]:
        """The team's submissions, the shorthand expanded."""
        if self.submissions:
            return self.submissions
        return (SubmissionSource(image=self.image, tarball=self.tarball, folder=self.folder),)


def tags_match(tags: dict[str, TagValue], where: dict[str, TagValue]) -> bool:
    """Whether ``tags`` has every tag of ``where`` with an equal value.

    A boolean equals only a boolean, so ``ssl: 0`` does not match ``ssl: false``.

    Examples
    --------
    >>> tags_match({"ssl": False, "gpu": 1}, {"ssl": False})
    True
    >>> tags_match({"ssl": 0}, {"ssl": False}), tags_match({}, {"ssl": False})
    (False, False)
    """
    for key, want in where.items():
        if key not in tags:
            return False
        have = tags[key]
        if isinstance(have, bool) != isinstance(want, bool) or have != want:
            return False
    return True


class LeaderboardFilter(_Strict):
    """A leaderboard of the teams whose selected submission carries the given tags."""

    name: Annotated[str, _folder_name("leaderboard")] = Field(
        description="Its folder: leaderboards/<name>/."
    )
    where: dict[str, TagValue] = Field(
        min_length=1, description="Tags a team's selected submission must carry, with values."
    )


class ClusterSettings(_Strict):
    """Where the round's tasks run (see ``docs/cluster.md``)."""

    scheduler: str | None = Field(
        None,
        description="Address of a Dask scheduler (tcp://HOST:PORT); none: a local cluster of "
        "limits.jobs workers on this machine.",
    )
    connect_timeout_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        allow_inf_nan=False,
        description="Seconds to wait for the scheduler to answer as a Dask scheduler before "
        "the round stops (exit 2).",
    )

    @field_validator("scheduler")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            check_scheduler_address(value)
        return value


def _safe_phase_names(value: dict[str, Any]) -> dict[str, Any]:
    bad = [name for name in value if not _NAME.match(str(name))]
    if bad:
        raise ValueError(
            f"phase names must be letters, digits, '.', '_' or '-' (at most 64, not starting "
            f"with '.' or '-'), as they name folders; got {bad}"
        )
    return value


SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")
"""The network protocols of Dask's comms a scheduler can listen on."""


def check_scheduler_address(address: str) -> str:
    """A Dask scheduler address, checked without any traffic: scheme, host and port.

    Raises
    ------
    ValueError
        Saying what was expected (``tcp://HOST:8786``).

    Examples
    --------
    >>> check_scheduler_address("tcp://127.0.0.1:8786")
    'tcp://127.0.0.1:8786'
    >>> check_scheduler_address("tcp://127.0.0.1:65536")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: expected a scheduler address ...: port 65536 is not between 1 and 65535
    """
    expected = (
        f"expected a scheduler address such as tcp://HOST:8786 (protocol "
        f"{', '.join(SCHEDULER_SCHEMES[:-1])} or {SCHEDULER_SCHEMES[-1]}), got {address!r}"
    )
    match = re.fullmatch(r"(?:([A-Za-z0-9+]+)://)?([^\s/]+):(\d+)", address)
    if match is None:
        raise ValueError(expected)
    scheme, _host, port = match.groups()
    if scheme is not None and scheme.lower() not in SCHEDULER_SCHEMES:
        raise ValueError(f"{expected}: Dask does not speak {scheme}")
    if not 1 <= int(port) <= 65535:
        raise ValueError(f"{expected}: port {port} is not between 1 and 65535")
    return address


class PhaseConfig(_Strict):
    """A phase of the challenge and the split it is evaluated on."""

    split: Path


class RunSettings(_Strict):
    """How a round runs and scores every submission: what ``check`` rehearses, too.

    A round file's keys of the same names (:class:`RoundConfig` extends this); without a round
    file, ``selma3d check`` uses these defaults, which are a round's.
    """

    contract: Literal["grand-challenge", "folder"] = "grand-challenge"
    expose_structure: bool = False
    allow_root: bool = False
    limits: Limits = Limits()
    canary: bool = True
    determinism: bool = Field(
        False,
        description="Run one case of each submission a second time and compare the two masks; "
        "a difference is flagged in round.json and the leaderboard, never failed.",
    )
    reuse: Reuse = Field(
        "batch",
        description="batch: an invoke server serves many cases (the fast default); case: a "
        "fresh server per case, as grand-challenge runs one job per container.",
    )
    metrics: MetricOptions = Field(
        MetricOptions(),
        description="Blob connectivity (6, 18, 26), matching IoU threshold in (0, 1] and "
        "matching (greedy, hungarian) of the metric suite (metrics.MetricOptions).",
    )
    binarize: BinarizeRule = Field(
        BinarizeRule(), description="How prediction values become foreground (default > 0)."
    )
    geometry: Literal["voxel", "strict"] = Field(
        "voxel",
        description="voxel: differing spacing, origin or direction is scored with a warning; "
        "strict: it makes the prediction invalid_output.",
    )
    build_timeout_s: float = Field(
        DEFAULT_BUILD_TIMEOUT_S,
        gt=0,
        allow_inf_nan=False,
        description="Seconds a submission folder's build may take (default 3600); a build "
        "still running then is stopped and the submission refused with that reason.",
    )

    @property
    def gate(self) -> GateOptions:
        """The prediction gate's options, from the file's ``binarize:`` and ``geometry:``.

        A round makes it once, into its run settings (:func:`run_config_for`); every path of
        the round (runner, scoring, evaluation, check) reads it there.
        """
        return GateOptions(binarize=self.binarize, geometry=self.geometry)

    def with_options(
        self, *, limits: Limits, gate: GateOptions, metrics: MetricOptions, **given: Any
    ) -> RunSettings:
        """These settings with a command line's limits, gate, metric options and switches.

        The gate goes back into the file's own keys, ``binarize`` and ``geometry``.
        """
        update = {"limits": limits, "binarize": gate.binarize, "geometry": gate.geometry}
        return self.model_copy(update={**update, "metrics": metrics, **given})


def run_config_for(
    settings: RunSettings, *, canary: bool | None = None, model: str | Path | None = None
) -> RunConfig:
    """The runner's configuration for a round's (or a check's) settings: the one mapping.

    Parameters
    ----------
    settings : RunSettings
        A round configuration, or a check's settings.
    canary : bool, keyword-only, optional
        Instead of ``settings.canary`` (a check runs every case).
    model : str or Path, keyword-only, optional
        The submission's model tarball or folder.
    """
    return RunConfig(
        contract=settings.contract,
        limits=settings.limits,
        canary=settings.canary if canary is None else canary,
        allow_root=settings.allow_root,
        expose_structure=settings.expose_structure,
        gate=settings.gate,
        determinism=settings.determinism,
        reuse=settings.reuse,
        model=None if model is None else str(model),
    )


class RoundConfig(RunSettings):
    """A whole round: data, contract, limits, teams, metrics and ranking."""

    name: Annotated[str, _folder_name("round")]
    output: str = Field(
        min_length=1,
        description="Output folder; must contain '{phase}' when the round has several phases.",
    )
    phases: dict[str, PhaseConfig] = Field(min_length=1, description="At least one phase.")
    phase: str
    submission_policy: Literal["last", "best"] = "last"
    ranking: Path | dict[str, Any] | None = None
    profile: str | None = Field(
        None, description="The edition's rules (common.profiles); else the ranking's."
    )
    cluster: ClusterSettings = ClusterSettings()
    engine: Literal["docker", "podman"] | None = Field(
        None,
        description="Container engine, found at its own socket (--engine and SELMA3D_ENGINE "
        "name it too); none: DOCKER_HOST, else Docker's default socket.",
    )
    teams: tuple[TeamConfig, ...]
    evaluation: EvaluationConfig | None = Field(
        None,
        description="The organizers' evaluation container, run on every submission as "
        "grand-challenge runs it, beside selma3d's scores (harness.evaluation).",
    )
    leaderboards: tuple[LeaderboardFilter, ...] = Field(
        (), description="Leaderboards of the teams matching a tag filter, besides the full one."
    )
    source: Path | None = Field(None, description="The file this was loaded from.")

    @field_validator("phases")
    @classmethod
    def _phase_names(cls, value: dict[str, PhaseConfig]) -> dict[str, PhaseConfig]:
        return _safe_phase_names(value)

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str | None) -> str | None:
        if value is not None and value not in PROFILES:
            raise ValueError(f"unknown profile {value!r}; expected one of {list(PROFILES)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RoundConfig:
        problems = _cross_problems(self.model_dump(mode="python"))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def with_phase(self, phase: str) -> RoundConfig:
        """Return a copy that runs ``phase``."""
        if phase not in self.phases:
            raise ConfigError(
                f"{self.source}: phase {phase!r} is not one of phases {sorted(self.phases)}"
            )
        return self.model_copy(update={"phase": phase})

    def with_overrides(
        self,
        *,
        phase: str | None = None,
        profile: str | None = None,
        scheduler: str | None = None,
        connect_timeout_s: float | None = None,
    ) -> RoundConfig:
        """A copy with the command line's phase, profile and cluster settings, where given.

        Raises
        ------
        ConfigError
            No such phase, or the ranking names another profile than ``profile``.
        """
        config = self if phase is None else self.with_phase(phase)
        if profile is not None:
            config = config.model_copy(update={"profile": profile})
            ranking_config_for(config)  # a ranking naming another profile is an error now
        update: dict[str, Any] = {}
        if scheduler is not None:
            update["scheduler"] = scheduler
        if connect_timeout_s is not None:
            update["connect_timeout_s"] = connect_timeout_s
        if update:
            config = config.model_copy(update={"cluster": config.cluster.model_copy(update=update)})
        return config

    @property
    def out_dir(self) -> Path:
        """The folder of this phase's runs, results and leaderboard."""
        return Path(self.output.replace("{phase}", self.phase))

    def submissions_for(self, team: TeamConfig) -> list[tuple[str, SubmissionSource]]:
        """The team's submissions to this round's phase, in submission order, with their ids."""
        picked = []
        for index, sub in enumerate(team.all_submissions()):
            if sub.phase in (None, self.phase):
                picked.append((sub.label or f"s{index:02d}", sub))
        return picked

    def tags_of(self, team: str, submission: str) -> dict[str, TagValue]:
        """Tags of a team's submission in this phase: the team's, overridden by the submission's.

        Raises
        ------
        KeyError
            No such team or submission in this phase.
        """
        found = [t for t in self.teams if t.name == team]
        if not found:
            raise KeyError(f"no team {team!r}")
        for sub_id, sub in self.submissions_for(found[0]):
            if sub_id == submission:
                return {**found[0].tags, **sub.tags}
        raise KeyError(f"team {team!r} has no submission {submission!r} in phase {self.phase!r}")


def load_round_config(path: str | Path) -> RoundConfig:
    """Load and validate a round configuration file.

    Relative paths (output, split folders, tarballs, submission folders, the ranking file)
    resolve against the folder of ``path``.

    Raises
    ------
    ConfigError
        Listing every mistake at once, each with the file and the dotted field name.
    """
    path = Path(path)
    config = load_yaml_model(
        path,
        RoundConfig,
        what=_WHAT,
        prepare=lambda raw: {**raw, "source": resolved(path)},
        # Field errors stop pydantic before the cross-field checks; those run on the raw
        # mapping too, so one read of the message lists every mistake.
        extra_problems=_cross_problems,
    )
    config = _resolve_paths(config, resolved(path.parent))
    if config.evaluation is not None:
        evaluation, problems = config.evaluation.resolved(resolved(path.parent))
        if problems:
            raise config_error(path, problems, what=_WHAT)
        config = config.model_copy(update={"evaluation": evaluation})
    _check_output(config, path)
    # The ranking section is checked now rather than after hours of containers.
    ranking_config_for(config)
    return config


def _check_output(config: RoundConfig, path: Path) -> None:
    """Each phase's output folder is a folder (or is yet to be made), never an existing file."""
    problems = []
    for phase in sorted(config.phases):
        out = Path(config.output.replace("{phase}", phase))
        for candidate in (out, *out.parents):
            if candidate.exists():
                if not candidate.is_dir():
                    problems.append(
                        f"output: {config.output!r} gives {out} for phase {phase!r}, but "
                        f"{candidate} is a file; expected a folder (nothing was written)"
                    )
                break
    if problems:
        raise config_error(path, problems, what=_WHAT)


def _cross_problems(raw: dict[str, Any]) -> list[str]:
    """Problems that span fields: the phase, team names, submission phases."""
    problems: list[str] = []
    phases = raw.get("phases") if isinstance(raw.get("phases"), dict) else {}
    phase = raw.get("phase")
    if phase is not None and phases and phase not in phases:
        problems.append(f"phase: {phase!r} is not one of phases {sorted(phases)}")
    teams = raw.get("teams") if isinstance(raw.get("teams"), list | tuple) else []
    if not teams:
        problems.append("teams: no teams")
    output = raw.get("output")
    if isinstance(output, str) and len(phases) > 1 and "{phase}" not in output:
        problems.append(
            f"output: {output!r} must contain '{{phase}}' so the phases {sorted(phases)} do not "
            "share one folder"
        )
    if dupes := _duplicate_names(teams):
        problems.append(f"teams: duplicate team name(s) {dupes}")
    for i, team in enumerate(teams):
        subs = team.get("submissions") if isinstance(team, dict) else None
        for j, sub in enumerate(subs or ()):
            sub_phase = sub.get("phase") if isinstance(sub, dict) else None
            if sub_phase is not None and phases and sub_phase not in phases:
                problems.append(
                    f"teams.{i}.submissions.{j}.phase: {sub_phase!r} is not one of phases "
                    f"{sorted(phases)}"
                )
    problems.extend(_filter_problems(raw, teams))
    return problems


def _duplicate_names(items: list[Any] | tuple[Any, ...]) -> list[str]:
    """The ``name`` values that more than one of the raw mappings ``items`` gives."""
    names = [item.get("name") for item in items if isinstance(item, dict)]
    return sorted({str(n) for n in names if n is not None and names.count(n) > 1})


def _filter_problems(raw: dict[str, Any], teams: list[Any] | tuple[Any, ...]) -> list[str]:
    """Leaderboard filters with a duplicate name, or naming a tag no team or submission has."""
    boards = raw.get("leaderboards")
    if not isinstance(boards, list | tuple):
        return []
    known: set[str] = set()
    for team in teams:
        if not isinstance(team, dict):
            continue
        for holder in (team, *(team.get("submissions") or ())):
            tags = holder.get("tags") if isinstance(holder, dict) else None
            if isinstance(tags, dict):
                known.update(str(k) for k in tags)
    problems = []
    if dupes := _duplicate_names(boards):
        problems.append(f"leaderboards: duplicate leaderboard name(s) {dupes}")
    for i, board in enumerate(boards):
        where = board.get("where") if isinstance(board, dict) else None
        if not isinstance(where, dict):
            continue
        for tag in sorted(str(k) for k in where if str(k) not in known):
            problems.append(
                f"leaderboards.{i}.where: unknown tag {tag!r}; the teams and submissions carry "
                f"{sorted(known) or 'no tags'}"
            )
    return problems


def _resolve_paths(config: RoundConfig, base: Path) -> RoundConfig:
    def rel(p: Path | None) -> Path | None:
        return None if p is None else (p if p.is_absolute() else resolved(base / p))

    def sub_resolved(s: SubmissionSource) -> SubmissionSource:
        return s.model_copy(
            update={"tarball": rel(s.tarball), "folder": rel(s.folder), "model": rel(s.model)}
        )

    teams = tuple(
        t.model_copy(
            update={
                "tarball": rel(t.tarball),
                "folder": rel(t.folder),
                "model": rel(t.model),
                "submissions": tuple(sub_resolved(s) for s in t.submissions),
            }
        )
        for t in config.teams
    )
    phases = {k: PhaseConfig(split=rel(v.split)) for k, v in config.phases.items()}
    ranking = rel(config.ranking) if isinstance(config.ranking, Path) else config.ranking
    return config.model_copy(
        update={
            "output": str(rel(Path(config.output))),
            "phases": phases,
            "teams": teams,
            "ranking": ranking,
        }
    )


def ranking_config_for(config: RoundConfig) -> RankingConfig:
    """The round's ranking configuration (a file, inline options, or the defaults).

    The round's ``profile:`` is the ranking's; a ranking that names another one is an error.
    """
    profile = config.profile
    if config.ranking is None:
        return RankingConfig(profile=profile or DEFAULT_PROFILE)
    if isinstance(config.ranking, dict):
        data = dict(config.ranking)
        if profile is not None:
            if data.get("profile", profile) != profile:
                raise ConfigError(
                    f"{config.source}: ranking.profile {data['profile']!r} differs from the "
                    f"round's profile {profile!r}; name one"
                )
            data["profile"] = profile
        try:
            return RankingConfig.model_validate(data)
        except ValidationError as exc:
            problems = validation_problems(exc, prefix="ranking.")
            raise config_error(config.source, problems, what=_WHAT) from exc
    return load_ranking_config(config.ranking, profile=profile)
