"""A whole evaluation round: images -> containers -> predictions -> metrics -> leaderboard.

``run_round`` takes a validated :class:`~harness.rounds.config.RoundConfig` through named stages:

1. **split**: load and validate the phase's split (its content hash goes into every record);
2. **images**: pin every tag the round relies on to its id, then load (under selma3d's tags
   alone), build (on pinned bases, within ``build_timeout_s``) or look up every team's image
   and record its id; a submission whose image cannot be had is set aside with its reason
   (``image_failures`` in round.json) and the round goes on; the pins are checked again
   between the stages (a moved tag stops the round, exit 2);
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
    leaderboard/                the ranked teams (leaderboard.csv/.json/.md, index.html); with
                                ``evaluation.leaderboard:``, grand-challenge.csv: grand-challenge's
                                board of the phase from the evaluation container's metrics.json
    leaderboards/<name>/        the same files for the teams matching the filter <name>
    evaluation/<team>/<sub>/    the evaluation container's staging folder (``evaluation:``)
    round.json                  configuration, split hash, image digests, versions, timings

Its length (about 650 lines) is the round's stage order in one place: each stage (split,
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
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from rich.console import Console

from common.files import write_atomic
from common.outputs import claim_folder, only_names, refuse_overlap
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

if TYPE_CHECKING:
    from harness.containers.images import ImagePins

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
    image_failures: list[dict[str, str]] = field(default_factory=list)
    """Submissions whose image could not be had: team, submission, source, status, reason."""
    pinned: dict[str, str] = field(default_factory=dict)
    """Every image tag the round relied on and the id it was pinned to."""

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

    # The round file's engine, unless --engine named one (every connection below reads it).
    select_engine(config.engine, from_round_file=True)
    console = console or Console(stderr=True)
    scheduler = config.cluster.scheduler
    if scheduler is not None:
        # First, and bounded: a wrong address is told before any image is saved for it.
        asyncio.run(cluster.probe_scheduler(scheduler, timeout=config.cluster.connect_timeout_s))
    flag = f"{config.source}: output"
    refuse_overlap({flag: config.out_dir}, _round_inputs(config))
    # One round writes into a folder at a time, through every stage: a second is refused.
    with claim_folder(
        config.out_dir, kind="round", accepts=("demo",), legacy=is_round_folder, flag=flag
    ):
        return _run_claimed(config, console, overlap_scoring=overlap_scoring)


ROUND_FOLDER_NAMES = (
    "runs",
    "tasks",
    "scores",
    "images",
    "results.csv",
    "leaderboard",
    "leaderboards",
    "evaluation",
    "round.json",
    ".lock",
)
"""What a round writes into its output folder (the module docstring's layout)."""

is_round_folder = only_names(
    ROUND_FOLDER_NAMES, needs=("round.json", "runs", "scores", "images", "tasks")
)
"""Whether a folder without a marker is a round folder of an earlier release (it resumes)."""


def _round_inputs(config: RoundConfig) -> dict[str, list[Path]]:
    """Every file and folder the round reads, by what it is (its output must not lie inside)."""
    split = config.phases[config.phase].split
    inputs: dict[str, list[Path]] = {
        "round file": [Path(config.source)] if config.source is not None else [],
        "split": [Path(split)],
    }
    if isinstance(config.ranking, Path):
        inputs["ranking file"] = [config.ranking]
    for team in config.teams:
        for _, sub in config.submissions_for(team):
            for what, path in (
                ("tarball", sub.tarball),
                ("submission folder", sub.folder),
                ("model", team.model_of(sub)),
            ):
                if path is not None:
                    inputs.setdefault(f"team {team.name!r} {what}", []).append(Path(path))
    if config.evaluation is not None:
        inputs["evaluation ground truth"] = [config.evaluation.ground_truth]
        if Path(config.evaluation.image).is_absolute():
            inputs["evaluation image"] = [Path(config.evaluation.image)]
    return inputs


def _run_claimed(config: RoundConfig, console: Console, *, overlap_scoring: bool) -> RoundResult:
    """:func:`run_round` once its output folder is claimed, with one engine client for it."""
    from harness.containers.engine import engine_client

    with engine_client() as engine:
        return _run_stages(config, console, engine, overlap_scoring=overlap_scoring)


def _run_stages(
    config: RoundConfig, console: Console, engine: Any, *, overlap_scoring: bool
) -> RoundResult:
    """The round's stages, in order; each is timed in round.json."""
    from leaderboard.report import nondeterministic_teams

    timings: dict[str, float] = {}
    scheduler = config.cluster.scheduler
    out_dir = config.out_dir

    with _stage("split", timings, console):
        split = load_split(config.phases[config.phase].split)
        if not split.labeled:
            raise ConfigError(
                f"{config.source}: phase {config.phase!r} uses split {split.root}, whose cases "
                "are not all labeled; a round needs the labels to score."
            )
        refuse_overlap(
            {f"{config.source}: output": out_dir},
            {
                "split's manifest": split.manifest,
                "split's images": [p for c in split.cases for p in c.images],
                "split's labels": [c.label for c in split.cases if c.label is not None],
            },
        )
        console.print(f"split {split.root} · {len(split.cases)} cases · {split.content_hash[:19]}")
        _warn_official_names(split, config, console)

    with _stage("images", timings, console):
        pins = _pin_given_images(config, console, engine)
        submissions, image_failures = _resolve_submissions(config, out_dir, console, pins, split)
        prepared = None
        if config.evaluation is not None:
            prepared = evaluation.prepare_round_evaluation(
                config.evaluation,
                out_dir=out_dir,
                source=config.source,
                console=console,
                pins=pins,
            )
        relay = _relay_image(submissions, prepared, pins)
        pins.verify(when="at the end of the images stage")
        # Workers elsewhere may lack an image: they load the round's own copy.
        tarballs = _save_tarballs(engine, submissions, relay, out_dir, console) if scheduler else {}

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
            pins.verify(when="before the containers started")
            containers_from = time.time()
            # Each case is scored as soon as every submission's run of it is recorded.
            settled = scoring.submit if overlap_scoring else None
            _run_containers(
                submissions, split, config, client, tarballs, console, settled, relay=relay
            )
            containers_to = time.time()
            pins.verify(when="after the containers ran")

        with _stage("scoring", timings, console):
            results = _label_results(scoring.result(), submissions, config)
            _write_results(results, out_dir)
    stages = _stage_record((containers_from, containers_to), scoring, after_s=timings["scoring"])

    evaluations: dict[str, dict[str, Any]] = {}
    grand_challenge = None
    if prepared is not None:
        with _stage("evaluation", timings, console):
            pins.verify(when="before the evaluation container ran")
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
            if config.evaluation is not None and config.evaluation.leaderboard is not None:
                grand_challenge = evaluation.grand_challenge_leaderboard(
                    evaluations,
                    [(s.team, s.submission) for s in submissions],
                    config.evaluation.leaderboard,
                )

    with _stage("selection", timings, console):
        chosen = _select(results, config)

    with _stage("leaderboard", timings, console):
        pins.verify(when="before the leaderboard was published")
        leaderboard_dir = out_dir / "leaderboard"
        publish(
            chosen,
            leaderboard_dir,
            split,
            config,
            submissions,
            evaluations=evaluations,
            stages=stages,
            grand_challenge=grand_challenge,
        )
        if grand_challenge is not None:
            path = evaluation.write_grand_challenge_csv(grand_challenge, leaderboard_dir)
            console.print(f"grand-challenge's leaderboard: {path}")
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
        image_failures=image_failures,
        pinned=dict(pins.ids),
    )
    _write_round_json(result, config)
    flagged = nondeterministic_teams({"determinism": determinism_by_team(chosen, submissions)})
    print_summary(chosen, leaderboard_dir, console, timings, flagged=flagged)
    return result


def _warn_official_names(split: Split, config: RoundConfig, console: Console) -> None:
    """Under ``selma3d-2026``: each case the organizers' evaluator cannot score as selma3d does."""
    from rich.markup import escape

    from harness.evaluation.official import PROFILE, name_warnings
    from harness.scoring.evaluate import profile_cases

    profile = ranking_config_for(config).profile
    if profile == PROFILE:
        tracks = {c.case_id: c.track for c in profile_cases(split, profile)}
        for line in name_warnings(split, tracks):
            console.print(f"[yellow]warning:[/yellow] {escape(line)}", highlight=False)


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


def _pin_given_images(config: RoundConfig, console: Console, engine: Any) -> ImagePins:
    """Pin every tag the round file names, before anything is loaded or built.

    A team's ``image:``, the bases of every folder's Dockerfile (teams' and the evaluation
    image's), the evaluation image's reference, and the invoke relay's image: each is read once
    here, so a tarball loaded or a build made later cannot change what they name unnoticed. A
    team's tag that cannot be pinned is that team's failure, told when it is resolved.
    """
    from harness.containers.images import ImagePins, dockerfile_bases
    from harness.containers.invoke import HELPER_IMAGE

    pins = ImagePins(engine, during="the round")
    given: list[str] = []
    folders: list[Path] = []
    for team in config.teams:
        for _sub_id, sub in config.submissions_for(team):
            if sub.image is not None:
                given.append(sub.image)
            elif sub.folder is not None:
                folders.append(Path(sub.folder))
    if config.evaluation is not None:
        image = Path(str(config.evaluation.image))
        if image.is_dir():
            folders.append(image)
        elif not str(image).lower().endswith((".tar", ".tar.gz", ".tgz")):
            given.append(str(config.evaluation.image))
    for folder in folders:
        if (folder / "Dockerfile").is_file():
            with contextlib.suppress(SubmissionError):  # told when the folder is built
                given.extend(dockerfile_bases(folder / "Dockerfile"))
    for ref in dict.fromkeys([HELPER_IMAGE, *given]):
        with contextlib.suppress(SubmissionError):  # told by whoever needs the image
            pins.pin(ref)
    console.print(f"pinned {len(pins.ids)} image tag(s) to their ids")
    return pins


def _resolve_submissions(
    config: RoundConfig, out_dir: Path, console: Console, pins: ImagePins, split: Split
) -> tuple[list[SubmissionRecord], list[dict[str, str]]]:
    """Every submission's image, pinned; a submission whose image cannot be had is set aside.

    Returns the submissions to run and, for each one set aside, its team, submission, source,
    status ``image_failed`` and the reason (the round goes on with the others).

    Raises
    ------
    ConfigError
        A pinned tag moved, a model is refused, or no submission's image could be had.
    """
    from harness.containers.images import build_folder, resolve_image
    from harness.containers.model import prepare_model, refuse_model_in_split

    records = []
    failures: list[dict[str, str]] = []
    for team in config.teams:
        subs = config.submissions_for(team)
        if not subs:
            console.print(f"[yellow]{team.name}: no submission for phase {config.phase}[/yellow]")
        for sub_id, sub in subs:
            try:
                info = _resolve_one(
                    sub, team, sub_id, config, build_folder, resolve_image, pins=pins
                )
            except SubmissionError as exc:
                console.print(
                    f"[red]{team.name}/{sub_id}: image failed[/red]: {exc}", highlight=False
                )
                failures.append(
                    {
                        "team": team.name,
                        "submission": sub_id,
                        "source": sub.source,
                        "status": "image_failed",
                        "reason": str(exc),
                    }
                )
                continue
            model_path = team.model_of(sub)
            # Checked (and a tarball extracted) now, not after hours of other teams' containers.
            try:
                if model_path is not None:
                    refuse_model_in_split(model_path, split)
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
    if not records and failures:
        reasons = "; ".join(f"{f['team']}/{f['submission']}: {f['reason']}" for f in failures)
        raise ConfigError(f"{config.source}: no submission's image could be had: {reasons}")
    return records, failures


def _resolve_one(
    sub: SubmissionSource,
    team: TeamConfig,
    sub_id: str,
    config: RoundConfig,
    build_folder: Callable[..., Any],
    resolve_image: Callable[..., Any],
    *,
    pins: ImagePins,
) -> Any:
    if sub.folder is not None:
        if not (Path(sub.folder) / "Dockerfile").is_file():
            raise ConfigError(
                f"{config.source}: team {team.name!r}: submission folder {sub.folder} has no "
                "Dockerfile."
            )
        return build_folder(
            sub.folder,
            tag=_image_tag(config, team, sub_id),
            pins=pins,
            timeout_s=config.build_timeout_s,
        )
    if sub.tarball is not None and not Path(sub.tarball).is_file():
        raise ConfigError(f"{config.source}: team {team.name!r}: no tarball at {sub.tarball}.")
    return resolve_image(
        sub.source, pins=pins, name=team.name, build_timeout_s=config.build_timeout_s
    )


def _relay_image(
    submissions: list[SubmissionRecord],
    prepared: evaluation.PreparedEvaluation | None,
    pins: ImagePins,
) -> str | None:
    """The pinned id of the invoke relay's image, when an invoke image is in the round."""
    from harness.containers.images import is_invoke
    from harness.containers.invoke import relay_image_id

    if any(is_invoke(s.api_method) for s in submissions):
        return relay_image_id(pins.client, pins)
    return prepared.relay_image if prepared is not None else None


def _save_tarballs(
    engine: Any,
    submissions: list[SubmissionRecord],
    relay: str | None,
    out_dir: Path,
    console: Console,
) -> dict[str, Path]:
    from harness.containers.invoke import HELPER_IMAGE

    tarballs = {}
    for sub in submissions:
        path = cluster.save_image_tarball(
            engine, sub.image_ref, sub.image_digest, out_dir / cluster.IMAGES_DIR
        )
        console.print(f"{sub.team}/{sub.submission}: image kept as {path}")
        tarballs[f"{sub.team}/{sub.submission}"] = path
    if relay is not None:
        # Created from this id on every worker: a worker's own tag of it may name another image.
        path = cluster.save_image_tarball(engine, HELPER_IMAGE, relay, out_dir / cluster.IMAGES_DIR)
        tarballs[cluster.RELAY_KEY] = path
    return tarballs


def _run_containers(
    submissions: list[SubmissionRecord],
    split: Split,
    config: RoundConfig,
    client: Any,
    tarballs: dict[str, Path],
    console: Console,
    on_settled: Callable[[list[str]], None] | None = None,
    *,
    relay: str | None = None,
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
            relay_tarball=tarballs.get(cluster.RELAY_KEY),
        )
        for s in submissions
    ]
    base = replace(run_config_for(config), relay_image=relay)
    cluster.run_containers(
        jobs,
        split,
        base,
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
    ran = set(zip(results["team"], results["submission"], strict=True))
    # A submission whose image could not be had did not run: the team's others are chosen from.
    order = {
        t.name: [sid for sid, _ in config.submissions_for(t) if (t.name, sid) in ran]
        for t in config.teams
    }
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
        "image_failures": result.image_failures,
        "pinned_images": result.pinned,
    }
    if result.evaluations:
        record["evaluation"] = result.evaluations
    if (result.leaderboard_dir / evaluation.GC_LEADERBOARD_CSV).is_file() and (
        config.evaluation is not None and config.evaluation.leaderboard is not None
    ):
        record["outputs"]["grand_challenge_leaderboard"] = (
            f"leaderboard/{evaluation.GC_LEADERBOARD_CSV}"
        )
    write_atomic(result.out_dir / "round.json", json.dumps(record, indent=2, sort_keys=True) + "\n")
