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
5b. **evaluation** (with ``evaluation:``): run the organizers' evaluation container on every
   submission as grand-challenge does and compare its ``metrics.json`` with selma3d's scores
   (:mod:`harness.rounds.evaluation`);
6. **leaderboard**: rank the teams and write the report, then one per tag filter
   (``leaderboards:``) of the teams whose selected submission carries those tags;
7. **record**: ``round.json`` with everything needed to reproduce the round.

Folder layout under the configured ``output`` (``{phase}`` in it replaced by the phase)::

    runs/<team>/<submission>/   the ledger: predictions/, logs/, cases.jsonl (one record per case)
    tasks/                      attempt folders of container tasks running now (removed when done)
    scores/<case>/              each case's scored rows, reused while its inputs are unchanged
    images/                     ``docker save`` tarballs of the teams' images (distributed rounds)
    results.csv                 one row per (team, submission, case), every submission; the
                                submission's tags as JSON text in column ``tags``; with
                                ``evaluation:``, the container's values (``container_dice``...)
    leaderboard/                the ranked teams (leaderboard.csv/.json/.md, index.html)
    leaderboards/<name>/        the same files for the teams matching the filter <name>
    evaluation/<team>/<sub>/    the evaluation container's staging folder (``evaluation:``)
    round.json                  configuration, split hash, image digests, versions, timings

Its length (about 500 lines) is the round's stage order in one place: each stage (split,
images, containers with scoring beside them, evaluation, selection, leaderboard) and the record
it leaves in round.json read top to bottom; publishing lives in :mod:`harness.rounds.publish`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from common.files import write_atomic
from common.tables import write_csv
from harness.errors import ConfigError, Selma3dError, SubmissionError
from harness.rounds import cluster, evaluation
from harness.rounds.config import (
    RoundConfig,
    SubmissionSource,
    TeamConfig,
    ranking_config_for,
    run_config_for,
)
from harness.rounds.publish import (
    SubmissionRecord,
    determinism_by_team,
    determinism_of,
    print_summary,
    publish,
    publish_filtered,
)
from harness.split.manifest import Split, load_split

__all__ = ["RoundResult", "SubmissionRecord", "run_round"]


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
    evaluations: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per ``team/submission``: the evaluation container's run (``evaluation:``)."""
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
    from harness.containers.engine import select_engine
    from leaderboard.report import nondeterministic_teams

    # The round file's engine, unless --engine named one (every connection below reads it).
    select_engine(config.engine, from_round_file=True)
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
        prepared = None
        if config.evaluation is not None:
            prepared = evaluation.prepare_round_evaluation(
                config.evaluation, out_dir=out_dir, source=config.source, console=console
            )
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
            _write_results(results, out_dir)
    stages = _stage_record((containers_from, containers_to), scoring, after_s=timings["scoring"])

    evaluations: dict[str, dict[str, Any]] = {}
    if prepared is not None:
        with _stage("evaluation", timings, console):
            evaluations = evaluation.run_round_evaluations(
                prepared,
                [(s.team, s.submission) for s in submissions],
                results,
                split,
                out_dir=out_dir,
                gate=config.gate,
                console=console,
            )
            results = evaluation.with_container_columns(results, evaluations)
            _write_results(results, out_dir)

    with _stage("selection", timings, console):
        chosen = _select(results, config)

    with _stage("leaderboard", timings, console):
        leaderboard_dir = out_dir / "leaderboard"
        publish(
            chosen,
            leaderboard_dir,
            split,
            config,
            submissions,
            evaluations=evaluations,
            stages=stages,
        )
        filtered = publish_filtered(
            chosen,
            out_dir,
            split,
            config,
            submissions,
            console,
            evaluations=evaluations,
            stages=stages,
        )

    result = RoundResult(
        out_dir=out_dir,
        split=split,
        submissions=submissions,
        results=results,
        leaderboard_dir=leaderboard_dir,
        timings_s=timings,
        leaderboards=filtered,
        evaluations=evaluations,
        stages=stages,
    )
    _write_round_json(result, config)
    flagged = nondeterministic_teams({"determinism": determinism_by_team(chosen, submissions)})
    print_summary(chosen, leaderboard_dir, console, timings, flagged=flagged)
    return result


def _write_results(results: pd.DataFrame, out_dir: Path) -> None:
    write_csv(results, out_dir / "results.csv")


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
                    image_user=info.user,
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
            model=s.model,
            api_method=s.api_method,
            image_user=s.image_user,
        )
        for s in submissions
    ]
    cluster.run_containers(
        jobs,
        split,
        run_config_for(config),
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
    return cluster.ScoringStage(
        split,
        {f"{s.team}/{s.submission}": s.run_dir for s in submissions},
        client,
        options=config.metrics,
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
                "determinism": determinism_of(s.run_dir),
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
    if result.evaluations:
        record["evaluation"] = result.evaluations
    write_atomic(result.out_dir / "round.json", json.dumps(record, indent=2, sort_keys=True) + "\n")
