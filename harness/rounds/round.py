"""A whole evaluation round: images -> containers -> predictions -> metrics -> leaderboard.

``run_round`` takes a validated :class:`~harness.rounds.config.RoundConfig` through named stages:

1. **split**: load and validate the phase's split (its content hash goes into every record);
2. **images**: load, build or look up every team's submitted images and record their digests;
3. **containers**: run every submission on every case, one Dask task per (team, case) on a local
   cluster or the configured scheduler's workers (:mod:`harness.rounds.cluster`); each result
   is recorded as it arrives, so a rerun continues where an interrupted one stopped, and never
   mixes two different images in one folder; with ``determinism: true`` one more task per
   submission runs a recorded case again, and a team whose two masks differ is flagged in
   ``round.json`` and the report (never failed);
4. **scoring**: evaluate every submission, one task per case sharing the reference-side work
   across teams (a case's scores are kept and reused while its predictions are unchanged);
   each case is sent during the container stage as soon as every submission's run of it is
   recorded, on a scoring slot (``cpu``) of its own, so this stage only waits for the cases
   still being scored when the last container finished;
5. **selection**: one submission per team (the last, or the best by the round's own ranking);
6. **leaderboard**: rank the teams and write the report, then one per tag filter
   (``leaderboards:``) of the teams whose selected submission carries those tags;
7. **record**: ``round.json`` with everything needed to reproduce the round.

Folder layout under the configured ``output`` (``{phase}`` in it replaced by the phase)::

    runs/<team>/<submission>/   the ledger: predictions/, logs/, cases.jsonl (one record per case)
    tasks/                      attempt folders of container tasks running now (removed when done)
    scores/<case>/              each case's scored rows, reused while its inputs are unchanged
    images/                     ``docker save`` tarballs of the teams' images (distributed rounds)
    results.csv                 one row per (team, submission, case), every submission; the
                                submission's tags as JSON text in column ``tags``
    leaderboard/                the ranked teams (leaderboard.csv/.json/.md, index.html)
    leaderboards/<name>/        the same files for the teams matching the filter <name>
    round.json                  configuration, split hash, image digests, versions, timings
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import platform
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table

from common.files import atomic_path, write_atomic
from common.tables import neutralise_formulas
from harness.containers.limits import Limits
from harness.errors import ConfigError, Selma3dError, SubmissionError
from harness.predictions.validate import OFFICIAL_GATE, GateOptions
from harness.rounds import cluster
from harness.rounds.config import (
    LeaderboardFilter,
    RoundConfig,
    SubmissionSource,
    TeamConfig,
    ranking_config_for,
    tags_match,
)
from harness.scoring.evaluate import PARTICIPANT_TEXT
from harness.split.manifest import Split, load_split

if TYPE_CHECKING:
    from harness.containers.run_config import RunConfig

__all__ = ["RoundResult", "SubmissionRecord", "run_config_for", "run_round"]


@dataclass(frozen=True)
class SubmissionRecord:
    """One submission of one team in this phase, after its image was resolved."""

    team: str
    submission: str
    source: str
    image_ref: str
    image_digest: str
    run_dir: Path
    model: dict[str, Any] | None = None
    """Its model: source, sha256, size (``ModelInfo.as_record``); None without one."""
    api_method: str = ""
    """The image's ``org.grand-challenge.api-method`` label (``invoke`` for a model server)."""


@dataclass
class RoundResult:
    """What a round produced."""

    out_dir: Path
    split: Split
    submissions: list[SubmissionRecord]
    results: pd.DataFrame
    leaderboard_dir: Path
    timings_s: dict[str, float] = field(default_factory=dict)
    leaderboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per tag filter: its ``where``, the teams it ranks and its folder (None if no team)."""
    stages: dict[str, Any] = field(default_factory=dict)
    """The container and scoring stages' busy times and their overlap (:func:`_stage_record`)."""

    @property
    def report(self) -> Path:
        """The HTML report."""
        return self.leaderboard_dir / "index.html"


def run_round(
    config: RoundConfig, *, console: Console | None = None, overlap_scoring: bool = True
) -> RoundResult:
    """Run the configured phase of a round from submitted images to a published leaderboard.

    Parameters
    ----------
    config : RoundConfig
        A validated configuration (:func:`harness.rounds.config.load_round_config`).
    console : rich.console.Console, keyword-only, optional
        Where progress and the final summary go (stderr by default).
    overlap_scoring : bool, keyword-only
        Score each case while other containers run, as soon as every submission's run of it is
        recorded (the default); False scores every case after the last container, as a
        reference for the same results (``benchmarks/final_phase.py``).

    Returns
    -------
    RoundResult
        Paths and the results table. Rerunning with the same configuration resumes.
    """
    from leaderboard.report import nondeterministic_teams

    console = console or Console(stderr=True)
    timings: dict[str, float] = {}
    scheduler = config.cluster.scheduler
    if scheduler is not None:
        # First, and bounded: a wrong address is told before any image is saved for it.
        asyncio.run(cluster.probe_scheduler(scheduler, timeout=config.cluster.connect_timeout_s))
    out_dir = config.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)

    with _stage("split", timings, console):
        split = load_split(config.phases[config.phase].split)
        if not split.labeled:
            raise ConfigError(
                f"{config.source}: phase {config.phase!r} uses split {split.root}, whose cases "
                "are not all labeled; a round needs the labels to score."
            )
        console.print(f"split {split.root} · {len(split.cases)} cases · {split.content_hash[:19]}")

    with _stage("images", timings, console):
        submissions = _resolve_submissions(config, out_dir, console)
        # Workers elsewhere may lack an image: they load the round's own copy.
        tarballs = _save_tarballs(submissions, out_dir, console) if scheduler else {}

    with contextlib.ExitStack() as stack:
        client = stack.enter_context(
            cluster.connect_cluster(
                scheduler,
                jobs=config.limits.jobs,
                console=console,
                connect_timeout=config.cluster.connect_timeout_s,
            )
        )
        scoring = stack.enter_context(_scoring_stage(submissions, split, config, client, console))
        with _stage("containers", timings, console):
            containers_from = time.time()
            # Each case is scored as soon as every submission's run of it is recorded.
            settled = scoring.submit if overlap_scoring else None
            _run_containers(submissions, split, config, client, tarballs, console, settled)
            containers_to = time.time()

        with _stage("scoring", timings, console):
            results = _label_results(scoring.result(), submissions, config)
            with atomic_path(out_dir / "results.csv") as tmp:
                neutralise_formulas(results, columns=PARTICIPANT_TEXT).to_csv(
                    tmp, index=False, lineterminator="\n"
                )
    stages = _stage_record((containers_from, containers_to), scoring, after_s=timings["scoring"])

    with _stage("selection", timings, console):
        chosen = _select(results, config)

    with _stage("leaderboard", timings, console):
        leaderboard_dir = out_dir / "leaderboard"
        _publish(chosen, leaderboard_dir, split, config, submissions, stages=stages)
        filtered = _publish_filtered(
            chosen, out_dir, split, config, submissions, console, stages=stages
        )

    result = RoundResult(
        out_dir=out_dir,
        split=split,
        submissions=submissions,
        results=results,
        leaderboard_dir=leaderboard_dir,
        timings_s=timings,
        leaderboards=filtered,
        stages=stages,
    )
    _write_round_json(result, config)
    flagged = nondeterministic_teams({"determinism": _determinism_by_team(chosen, submissions)})
    _print_summary(chosen, leaderboard_dir, console, timings, flagged=flagged)
    return result


class _stage:
    """Times a named stage and says which one failed."""

    def __init__(self, name: str, timings: dict[str, float], console: Console) -> None:
        self.name, self.timings, self.console = name, timings, console

    def __enter__(self) -> None:
        self.start = time.perf_counter()
        self.console.rule(f"[bold]{self.name}")

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        self.timings[self.name] = round(time.perf_counter() - self.start, 3)
        if exc is not None and isinstance(exc, Selma3dError):
            self.console.print(f"[red]stage {self.name!r} failed[/red]")


def _image_tag(config: RoundConfig, team: TeamConfig, submission: str) -> str:
    return f"selma3d-round/{config.name.lower()}-{team.name.lower()}:{submission.lower()}"


def _resolve_submissions(
    config: RoundConfig, out_dir: Path, console: Console
) -> list[SubmissionRecord]:
    from harness.containers.images import build_folder, resolve_image
    from harness.containers.model import prepare_model

    records = []
    for team in config.teams:
        subs = config.submissions_for(team)
        if not subs:
            console.print(f"[yellow]{team.name}: no submission for phase {config.phase}[/yellow]")
        for sub_id, sub in subs:
            info = _resolve_one(sub, team, sub_id, config, build_folder, resolve_image)
            model_path = team.model_of(sub)
            # Checked (and a tarball extracted) now, not after hours of other teams' containers.
            try:
                model = prepare_model(model_path) if model_path is not None else None
            except SubmissionError as exc:
                raise ConfigError(f"{config.source}: team {team.name!r}, model: {exc}") from exc
            console.print(
                f"{team.name}/{sub_id}: {info.ref} [dim]{info.digest[:19]}[/dim]"
                + (f" model [dim]{model.sha256[:19]}[/dim]" if model is not None else "")
                + (" (invoke)" if info.invoke else "")
            )
            records.append(
                SubmissionRecord(
                    team=team.name,
                    submission=sub_id,
                    source=sub.source,
                    image_ref=info.ref,
                    image_digest=info.digest,
                    run_dir=out_dir / "runs" / team.name / sub_id,
                    model=model.as_record() if model is not None else None,
                    api_method=info.api_method,
                )
            )
    return records


def _resolve_one(
    sub: SubmissionSource,
    team: TeamConfig,
    sub_id: str,
    config: RoundConfig,
    build_folder: Callable[..., Any],
    resolve_image: Callable[..., Any],
) -> Any:
    if sub.folder is not None:
        if not (Path(sub.folder) / "Dockerfile").is_file():
            raise ConfigError(
                f"{config.source}: team {team.name!r}: submission folder {sub.folder} has no "
                "Dockerfile."
            )
        return build_folder(sub.folder, tag=_image_tag(config, team, sub_id))
    if sub.tarball is not None and not Path(sub.tarball).is_file():
        raise ConfigError(f"{config.source}: team {team.name!r}: no tarball at {sub.tarball}.")
    return resolve_image(sub.source)


def run_config_for(
    limits: Limits,
    *,
    contract: str,
    canary: bool,
    allow_root: bool,
    expose_structure: bool,
    gate: GateOptions = OFFICIAL_GATE,
    determinism: bool = False,
) -> RunConfig:
    """The runner's configuration for these limits: one mapping for rounds and checks alike."""
    from harness.containers.run_config import RunConfig

    return RunConfig(
        contract=contract,
        limits=limits,
        canary=canary,
        allow_root=allow_root,
        expose_structure=expose_structure,
        threshold=gate.binarize.threshold,
        geometry=gate.geometry,
        determinism=determinism,
    )


def _run_config(config: RoundConfig) -> RunConfig:
    return run_config_for(
        config.limits,
        contract=config.contract,
        canary=config.canary,
        allow_root=config.allow_root,
        expose_structure=config.expose_structure,
        gate=config.gate,
        determinism=config.determinism,
    )


def _save_tarballs(
    submissions: list[SubmissionRecord], out_dir: Path, console: Console
) -> dict[str, Path]:
    from harness.containers.engine import connect

    client = connect()
    tarballs = {}
    for sub in submissions:
        path = cluster.save_image_tarball(
            client, sub.image_ref, sub.image_digest, out_dir / cluster.IMAGES_DIR
        )
        console.print(f"{sub.team}/{sub.submission}: image kept as {path}")
        tarballs[f"{sub.team}/{sub.submission}"] = path
    return tarballs


def _run_containers(
    submissions: list[SubmissionRecord],
    split: Split,
    config: RoundConfig,
    client: Any,
    tarballs: dict[str, Path],
    console: Console,
    on_settled: Callable[[list[str]], None] | None = None,
) -> None:
    jobs = [
        cluster.SubmissionJob(
            key=f"{s.team}/{s.submission}",
            image_ref=s.image_ref,
            image_digest=s.image_digest,
            run_dir=s.run_dir,
            tarball=tarballs.get(f"{s.team}/{s.submission}"),
            model=None if s.model is None else str(s.model["source"]),
            api_method=s.api_method,
        )
        for s in submissions
    ]
    cluster.run_containers(
        jobs,
        split,
        _run_config(config),
        client,
        out_dir=config.out_dir,
        canary=config.canary,
        distributed=config.cluster.scheduler is not None,
        console=console,
        on_settled=on_settled,
    )


def _scoring_stage(
    submissions: list[SubmissionRecord],
    split: Split,
    config: RoundConfig,
    client: Any,
    console: Console,
) -> cluster.ScoringStage:
    from metrics import MetricOptions

    options = MetricOptions(
        connectivity=config.metrics.connectivity,
        iou_threshold=config.metrics.iou_threshold,
        matching=config.metrics.matching,
    )
    return cluster.ScoringStage(
        split,
        {f"{s.team}/{s.submission}": s.run_dir for s in submissions},
        client,
        options=options,
        profile=ranking_config_for(config).profile,
        gate=config.gate,
        out_dir=config.out_dir,
        console=console,
    )


def _label_results(
    table: pd.DataFrame, submissions: list[SubmissionRecord], config: RoundConfig
) -> pd.DataFrame:
    """The scored rows with each submission's team, submission, display name and tags."""
    keys = {f"{s.team}/{s.submission}": s for s in submissions}
    table = table.rename(columns={"team": "_key"})
    table.insert(0, "team", table["_key"].map(lambda k: keys[k].team))
    table.insert(1, "submission", table["_key"].map(lambda k: keys[k].submission))
    table = table.drop(columns="_key")
    names = {t.name: (t.display_name or t.name) for t in config.teams}
    table["display_name"] = table["team"].map(names)
    table["tags"] = [
        _tags_text(config.tags_of(t, s))
        for t, s in zip(table["team"], table["submission"], strict=True)
    ]
    return table.sort_values(["team", "submission", "case_id"], kind="stable").reset_index(
        drop=True
    )


def _stage_record(
    containers: tuple[float, float], scoring: cluster.ScoringStage, *, after_s: float
) -> dict[str, Any]:
    """Busy time of the container and scoring stages and how much of scoring overlapped.

    ``containers`` is the container stage's (start, end) on this machine's wall clock; the
    scoring tasks' runs are their workers' (one clock on a local cluster). ``overlap_s`` is the
    time some scoring task ran while the container stage was running; ``after_s`` the wait for
    scoring once the last container finished.
    """
    start, end = containers
    clipped = [(max(a, start), min(b, end)) for a, b in scoring.runs if b > start and a < end]
    return {
        "containers": {"busy_s": round(end - start, 3)},
        "scoring": {
            "busy_s": round(cluster.busy_time(scoring.runs), 3),
            "cpu_s": round(scoring.cpu_s, 3),
            "tasks": len(scoring.runs),
            "reused": scoring.reused,
        },
        "overlap_s": round(cluster.busy_time(clipped), 3),
        "scoring_after_containers_s": after_s,
    }


def _tags_text(tags: dict[str, Any]) -> str:
    """Tags as one JSON object with sorted keys: false and "false" stay apart in a CSV cell."""
    return json.dumps(tags, sort_keys=True, ensure_ascii=False)


def _select(results: pd.DataFrame, config: RoundConfig) -> pd.DataFrame:
    """Keep one submission per team: the last one, or the best by the round's ranking."""
    order = {t.name: [sid for sid, _ in config.submissions_for(t)] for t in config.teams}
    keep: dict[str, str] = {}
    for team, subs in order.items():
        if not subs:
            continue
        if config.submission_policy == "last" or len(subs) == 1:
            keep[team] = subs[-1]
        else:
            keep[team] = _best_submission(results[results["team"] == team], subs, config)
    mask = [keep.get(t) == s for t, s in zip(results["team"], results["submission"], strict=True)]
    return results[mask].reset_index(drop=True)


def _best_submission(team_rows: pd.DataFrame, subs: list[str], config: RoundConfig) -> str:
    """Rank a team's own submissions against each other with the round's ranking scheme."""
    from leaderboard import compute_leaderboard

    as_teams = team_rows.drop(columns=["team", "display_name"]).rename(
        columns={"submission": "team"}
    )
    # Uncertainty plays no part in choosing; ties go to the later submission.
    ranking = ranking_config_for(config)
    ranking = ranking.model_copy(
        update={"bootstrap": ranking.bootstrap.model_copy(update={"resamples": 0})}
    )
    board = compute_leaderboard(as_teams, config=ranking).table
    best_rank = board["rank"].min()
    tied = set(board.loc[board["rank"] == best_rank, "team"])
    return [s for s in subs if s in tied][-1]


def _publish(
    chosen: pd.DataFrame,
    leaderboard_dir: Path,
    split: Split,
    config: RoundConfig,
    submissions: list[SubmissionRecord],
    *,
    board: LeaderboardFilter | None = None,
    stages: dict[str, Any] | None = None,
) -> None:
    from harness.scoring.volumes import SplitVolumes
    from leaderboard import build_leaderboard

    teams = {t.name: t for t in config.teams}
    picked = set(zip(chosen["team"], chosen["submission"], strict=True))
    metadata_ = {
        "round": config.name,
        "phase": config.phase,
        "split_hash": split.content_hash,
        "affiliations": {n: t.affiliation for n, t in teams.items() if t.affiliation},
        # Beside the image digests in the report's provenance.
        "models": {
            s.team: s.model["sha256"]
            for s in submissions
            if s.model is not None and (s.team, s.submission) in picked
        },
    }
    # Only when the round ran the check, so a round without it writes the same files as before.
    determinism = _determinism_by_team(chosen, submissions)
    if determinism:
        metadata_["determinism"] = determinism
    if board is not None:
        metadata_["leaderboard"] = {"name": board.name, "where": board.where}
    if stages:
        metadata_["stages"] = stages
    ranking = ranking_config_for(config)
    if "title" not in ranking.report.model_fields_set:
        title = f"{config.name} · {config.phase}" + (f" · {board.name}" if board else "")
        report = ranking.report.model_copy(update={"title": title})
        ranking = ranking.model_copy(update={"report": report})
    build_leaderboard(
        chosen.drop(columns=["submission"]),
        leaderboard_dir,
        config=ranking,
        split=split,
        volumes=SplitVolumes(split, base_dir=None, gate=config.gate),
        metadata=metadata_,
    )


def _publish_filtered(
    chosen: pd.DataFrame,
    out_dir: Path,
    split: Split,
    config: RoundConfig,
    submissions: list[SubmissionRecord],
    console: Console,
    *,
    stages: dict[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """One leaderboard per tag filter, in ``leaderboards/<name>/``, of the matching teams.

    A team is in when the submission selected for it (as for the full leaderboard) carries the
    filter's tags; the teams are ranked among themselves.
    """
    records: dict[str, dict[str, Any]] = {}
    for board in config.leaderboards:
        keep = [
            tags_match(config.tags_of(t, s), board.where)
            for t, s in zip(chosen["team"], chosen["submission"], strict=True)
        ]
        rows = chosen[keep].reset_index(drop=True)
        teams = sorted(set(rows["team"]))
        folder: str | None = f"leaderboards/{board.name}/"
        if teams:
            _publish(
                rows,
                out_dir / "leaderboards" / board.name,
                split,
                config,
                submissions,
                board=board,
                stages=stages,
            )
            console.print(f"leaderboard {board.name} ({board.where}): {', '.join(teams)}")
        else:
            folder = None
            console.print(
                f"[yellow]leaderboard {board.name}: no team's selected submission has the tags "
                f"{board.where}; nothing written[/yellow]"
            )
        records[board.name] = {"where": board.where, "teams": teams, "dir": folder}
    return records


def _write_round_json(result: RoundResult, config: RoundConfig) -> None:
    record = {
        "round": config.name,
        "phase": config.phase,
        "profile": ranking_config_for(config).profile,
        "config": json.loads(config.model_dump_json()),
        "split": {
            "root": str(result.split.root),
            "content_hash": result.split.content_hash,
            "cases": list(result.split.case_ids),
        },
        "submissions": [
            {
                "team": s.team,
                "submission": s.submission,
                "source": s.source,
                "image": s.image_ref,
                "digest": s.image_digest,
                "model": s.model,
                "determinism": _determinism_of(s.run_dir),
                "run_dir": str(s.run_dir),
                "tags": config.tags_of(s.team, s.submission),
            }
            for s in result.submissions
        ],
        "versions": {
            "selma3d": metadata.version("selma3d"),
            "python": platform.python_version(),
            "numpy": metadata.version("numpy"),
            "scikit-image": metadata.version("scikit-image"),
            "connected-components-3d": metadata.version("connected-components-3d"),
        },
        "timings_s": result.timings_s,
        "stages": result.stages,
        "outputs": {
            "results": "results.csv",
            "leaderboard": "leaderboard/",
            "report": "leaderboard/index.html",
        },
        "leaderboards": result.leaderboards,
    }
    write_atomic(result.out_dir / "round.json", json.dumps(record, indent=2, sort_keys=True) + "\n")


def _determinism_by_team(
    chosen: pd.DataFrame, submissions: list[SubmissionRecord]
) -> dict[str, dict[str, Any]]:
    """The determinism outcome of each team's selected submission, for those that have one."""
    picked = set(zip(chosen["team"], chosen["submission"], strict=True))
    return {
        s.team: det
        for s in submissions
        if (s.team, s.submission) in picked and (det := _determinism_of(s.run_dir)) is not None
    }


def _determinism_of(run_dir: Path) -> dict[str, Any] | None:
    """The second run of one case (``determinism: true``), from the ledger's ``run.json``."""
    from harness.containers.records import read_run

    return read_run(run_dir).get("determinism") if run_dir.is_dir() else None


# Column headers short enough for an 80-column terminal.
_SHORT = {"dice": "Dice", "cldice": "clDice", "blob_f1": "F1", "pq": "PQ"}


def _print_summary(
    chosen: pd.DataFrame,
    leaderboard_dir: Path,
    console: Console,
    timings: dict[str, float],
    *,
    flagged: dict[str, str] | None = None,
) -> None:
    """The ranked board on the terminal; ``flagged`` teams (not deterministic) marked, with why."""
    from leaderboard.report import NONDETERMINISTIC_MARK
    from metrics import METRIC_COLUMNS

    flagged = flagged or {}
    board = pd.read_csv(leaderboard_dir / "leaderboard.csv")
    # The metrics that ranked each track (columns "<track>_<metric>_rank", or
    # "<track>:<structure or category>_<metric>_rank" per unit), shown as means over the track.
    names = "|".join(re.escape(m) for m in METRIC_COLUMNS)
    ranked = list(
        dict.fromkeys(
            (match.group(1), match.group(2))
            for col in board.columns
            if (match := re.fullmatch(rf"(vessel|spot)(?::.+)?_({names})_rank", col))
        )
    )
    # No vertical rules, so the whole board fits an 80-column terminal.
    table = Table(
        title="Leaderboard",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        collapse_padding=True,
    )
    headers = ["rank", "team", "score", "rank\n95%", "tied"]
    headers += [f"{track}\n{_SHORT.get(metric, metric)}" for track, metric in ranked]
    headers += ["cases\nok", "run\ntime s"]
    longest = int(board["team"].astype(str).str.len().max()) if len(board) else 4
    for col in headers:
        if col == "team":
            table.add_column(col, no_wrap=True, min_width=min(longest, 20))
        else:
            table.add_column(col, justify="right")
    for _, row in board.iterrows():
        rows = chosen[chosen["team"] == row["team"]]
        ok = int((rows["status"] == "ok").sum())
        wall = pd.to_numeric(rows["wall_time_s"], errors="coerce").sum()
        means = [
            f"{value:.3f}" if pd.notna(value := row.get(f"{track}_{metric}_mean")) else "-"
            for track, metric in ranked
        ]
        table.add_row(
            str(row["rank"]),
            str(row["team"]) + (f" {NONDETERMINISTIC_MARK}" if row["team"] in flagged else ""),
            f"{row['score']:.3f}",
            f"{row['rank_ci_low']}-{row['rank_ci_high']}",
            str(row["tied_group"]),
            *means,
            f"{ok}/{len(rows)}",
            f"{wall:.1f}",
        )
    console.print(table)
    console.print(
        "Metrics are means over cases. Lower score is better. Teams with the same 'tied' "
        "number cannot be told apart (bootstrap over cases)."
    )
    if flagged:
        console.print(
            f"{NONDETERMINISTIC_MARK} not deterministic (flagged, not failed): "
            + "; ".join(f"{team}, {why}" for team, why in flagged.items()),
            highlight=False,
        )
    total = sum(timings.values())
    console.print(f"report: {leaderboard_dir / 'index.html'}  ({total:.0f} s in all)")
