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
"""

from __future__ import annotations

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

    @property
    def report(self) -> Path:
        """The HTML report."""
        return self.leaderboard_dir / "index.html"


def run_round(config: RoundConfig, *, console: Console | None = None) -> RoundResult:
    """Run the configured phase of a round from submitted images to a published leaderboard.

    Parameters
    ----------
    config : RoundConfig
        A validated configuration (:func:`harness.rounds.config.load_round_config`).
    console : rich.console.Console, keyword-only, optional
        Where progress and the final summary go (stderr by default).

    Returns
    -------
    RoundResult
        Paths and the results table. Rerunning with the same configuration resumes.
    """
    from leaderboard.report import nondeterministic_teams

    console = console or Console(stderr=True)
    timings: dict[str, float] = {}
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

    scheduler = config.cluster.scheduler
    with _stage("images", timings, console):
        submissions = _resolve_submissions(config, out_dir, console)
        prepared = None
        if config.evaluation is not None:
            prepared = evaluation.prepare_round_evaluation(
                config.evaluation, out_dir=out_dir, source=config.source, console=console
            )
        # Workers elsewhere may lack an image: they load the round's own copy.
        tarballs = _save_tarballs(submissions, out_dir, console) if scheduler else {}

    with cluster.connect_cluster(scheduler, jobs=config.limits.jobs, console=console) as client:
        with _stage("containers", timings, console):
            _run_containers(submissions, split, config, client, tarballs, console)

        with _stage("scoring", timings, console):
            results = _score(submissions, split, config, client, console)
            _write_results(results, out_dir)

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
        publish(chosen, leaderboard_dir, split, config, submissions, evaluations=evaluations)
        filtered = publish_filtered(
            chosen, out_dir, split, config, submissions, console, evaluations=evaluations
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
    )


def _score(
    submissions: list[SubmissionRecord],
    split: Split,
    config: RoundConfig,
    client: Any,
    console: Console,
) -> pd.DataFrame:
    keys = {f"{s.team}/{s.submission}": s for s in submissions}
    table = cluster.score_cases(
        split,
        {key: s.run_dir for key, s in keys.items()},
        client,
        options=config.metrics,
        profile=ranking_config_for(config).profile,
        gate=config.gate,
        out_dir=config.out_dir,
        console=console,
    )
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
