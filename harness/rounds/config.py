"""The configuration of an evaluation round (``selma3d round ROUND.yaml``), validated at load.

Every path in the file resolves relative to the file itself, never the working directory. Loading
reports every mistake at once, each naming the file and the field (``teams.2.submissions.0.image``).

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
    limits: {timeout_s: 600, memory: 8g, cpus: 2, gpus: null, jobs: 2}
    canary: true
    submission_policy: last            # or: best
    metrics: {connectivity: 26, iou_threshold: 0.3, matching: greedy}
    ranking: ranking.yaml              # a file, or the ranking options inline
    cluster: {scheduler: tcp://10.0.0.5:8786}  # or --scheduler; none: a local cluster
    teams:
      - name: team-a
        display_name: Team A
        affiliation: Somewhere University
        submissions:
          - {image: team-a/seg:v1, phase: preliminary}
          - {folder: submissions/team-a, phase: final}
      - {name: team-b, tarball: uploads/team-b.tar}   # one submission, every phase
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.errors import ConfigError
from leaderboard import RankingConfig, load_ranking_config

__all__ = [
    "ClusterSettings",
    "Limits",
    "MetricSettings",
    "PhaseConfig",
    "RoundConfig",
    "SubmissionSource",
    "TeamConfig",
    "load_round_config",
    "ranking_config_for",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_MEMORY = re.compile(r"^[0-9]+(\.[0-9]+)?[bkmgBKMG]?$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Strict):
    """Resources granted to each container run; the same numbers a participant's check uses."""

    timeout_s: float = Field(600.0, gt=0, description="Wall-clock limit per container run.")
    memory: str = Field("8g", description="Memory limit without swap, docker syntax (512m, 8g).")
    cpus: float = Field(2.0, gt=0, description="CPU limit (fractional cores).")
    gpus: str | None = Field(
        None, description="'all', or device ids such as '0,1'; none by default."
    )
    jobs: int = Field(1, ge=1, description="Containers run at once.")
    pids: int = Field(256, ge=16, description="Process-count limit inside a container.")
    retries: int = Field(2, ge=0, description="Retries of a run that failed for engine reasons.")

    @field_validator("memory")
    @classmethod
    def _memory_syntax(cls, value: str) -> str:
        if not _MEMORY.match(value):
            raise ValueError(f"expected a size such as 512m or 8g, got {value!r}")
        return value


class MetricSettings(_Strict):
    """Options of the metric suite."""

    connectivity: Literal[6, 18, 26] = 26
    iou_threshold: float = Field(0.3, gt=0, le=1)
    matching: Literal["greedy", "hungarian"] = "greedy"


class SubmissionSource(_Strict):
    """One submitted image: exactly one of ``image``, ``tarball`` or ``folder``."""

    image: str | None = None
    tarball: Path | None = None
    folder: Path | None = None
    phase: str | None = Field(
        None, description="Phase it was submitted to; none means every phase."
    )
    label: str | None = Field(None, description="A name for this submission (default: its index).")

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

    name: str
    display_name: str | None = None
    affiliation: str | None = None
    submissions: tuple[SubmissionSource, ...] = ()
    # Shorthand for a single submission used in every phase.
    image: str | None = None
    tarball: Path | None = None
    folder: Path | None = None

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"team name must be letters, digits, '.', '_' or '-' (at most 64), got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _one_way(self) -> TeamConfig:
        shorthand = [k for k in ("image", "tarball", "folder") if getattr(self, k) is not None]
        if shorthand and self.submissions:
            raise ValueError("give either submissions or one of image/tarball/folder, not both")
        if len(shorthand) > 1:
            raise ValueError(f"give one of image, tarball or folder; got {shorthand}")
        if not shorthand and not self.submissions:
            raise ValueError("no submission: give submissions, image, tarball or folder")
        return self

    def all_submissions(self) -> tuple[SubmissionSource, ...]:
        """The team's submissions, the shorthand expanded."""
        if self.submissions:
            return self.submissions
        return (SubmissionSource(image=self.image, tarball=self.tarball, folder=self.folder),)


class ClusterSettings(_Strict):
    """Where the round's tasks run (see ``docs/cluster.md``)."""

    scheduler: str | None = Field(
        None,
        description="Address of a Dask scheduler (tcp://HOST:PORT); none: a local cluster of "
        "limits.jobs workers on this machine.",
    )

    @field_validator("scheduler")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"([a-z0-9+]+://)?[^\s/]+:\d+", value):
            raise ValueError(f"expected a scheduler address such as tcp://HOST:8786, got {value!r}")
        return value


class PhaseConfig(_Strict):
    """A phase of the challenge and the split it is evaluated on."""

    split: Path


class RoundConfig(_Strict):
    """A whole round: data, contract, limits, teams, metrics and ranking."""

    name: str
    output: str = Field(
        description="Output folder; must contain '{phase}' when the round has several phases."
    )
    phases: dict[str, PhaseConfig]
    phase: str
    contract: Literal["grand-challenge", "folder"] = "grand-challenge"
    expose_structure: bool = False
    allow_root: bool = False
    limits: Limits = Limits()
    canary: bool = True
    submission_policy: Literal["last", "best"] = "last"
    metrics: MetricSettings = MetricSettings()
    ranking: Path | dict[str, Any] | None = None
    cluster: ClusterSettings = ClusterSettings()
    teams: tuple[TeamConfig, ...]
    source: Path | None = Field(None, description="The file this was loaded from.")

    @field_validator("name")
    @classmethod
    def _safe_round_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"round name must be safe as a folder name, got {value!r}")
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
    if not path.is_file():
        raise ConfigError(f"{path}: no such round configuration file.")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: expected a mapping of fields at the top, got {type(raw).__name__}."
        )
    try:
        config = RoundConfig.model_validate({**raw, "source": path.resolve()})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "(top level)"
            message = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"  - {field}: {message}")
        # Field errors stop pydantic before the cross-field checks; run those on the raw mapping
        # too, so one read of the message lists every mistake.
        if not any(e["loc"] == () for e in exc.errors()):
            lines.extend(f"  - {p}" for p in _cross_problems(raw))
        raise ConfigError(f"{path}: {len(lines)} problem(s):\n" + "\n".join(lines)) from exc
    config = _resolve_paths(config, path.parent.resolve())
    # The ranking section is checked now rather than after hours of containers.
    ranking_config_for(config)
    return config


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
    names = [t.get("name") for t in teams if isinstance(t, dict)]
    dupes = sorted({str(n) for n in names if n is not None and names.count(n) > 1})
    if dupes:
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
    return problems


def _resolve_paths(config: RoundConfig, base: Path) -> RoundConfig:
    def rel(p: Path | None) -> Path | None:
        return None if p is None else (p if p.is_absolute() else (base / p).resolve())

    def sub_resolved(s: SubmissionSource) -> SubmissionSource:
        return s.model_copy(update={"tarball": rel(s.tarball), "folder": rel(s.folder)})

    teams = tuple(
        t.model_copy(
            update={
                "tarball": rel(t.tarball),
                "folder": rel(t.folder),
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
    """The round's ranking configuration (a file, inline options, or the defaults)."""
    if config.ranking is None:
        return RankingConfig()
    if isinstance(config.ranking, dict):
        try:
            return RankingConfig.model_validate(config.ranking)
        except ValidationError as exc:
            fields = "; ".join(
                f"ranking.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"{config.source}: {fields}") from exc
    return load_ranking_config(config.ranking)
