"""A whole evaluation round: images -> containers -> predictions -> metrics -> leaderboard.

``run_round`` takes a validated :class:`~harness.rounds.config.RoundConfig` through named stages,
each a function of the round's plan (:class:`~harness.rounds.plan.RoundPlan`) or its parts:

1. **split**: resolve the round into its plan: load and validate the phase's split (its content
   hash goes into every record), derive the ranking and the run settings once;
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

Its length (about 760 lines) is the round's stage order in one place: each stage (split,
images, containers with scoring beside them, evaluation, selection, leaderboard) and the record
it leaves in round.json read top to bottom; the plan lives in :mod:`harness.rounds.plan`,
publishing in :mod:`harness.rounds.publish`.
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

from common.errors import ConfigError, Selma3dError
from common.files import write_atomic
from common.outputs import claim_folder, only_names, refuse_overlap
from common.tables import write_csv
from common.terminal import as_text
from harness.containers.engine import engine_client, select_engine
from harness.containers.images import (
    ImageInfo,
    ImagePins,
    build_folder,
    dockerfile_bases,
    resolve_image,
)
from harness.containers.invoke import HELPER_IMAGE, relay_image_id
from harness.containers.model import ModelInfo, prepare_model, refuse_model_in_split
from harness.errors import SubmissionError
from harness.evaluation import official
from harness.rounds import cluster, evaluation
from harness.rounds.config import RoundConfig, TeamConfig
from harness.rounds.plan import (
    RoundPlan,
    Submission,
    SubmissionEntry,
    plan_round,
    plan_submission,
    submission_key,
)
from harness.rounds.publish import (
    determinism_by_team,
    determinism_of,
    print_summary,
    publish,
    publish_filtered,
)
from harness.scoring.evaluate import profile_cases
from harness.split.manifest import Split
from leaderboard import RankingConfig, compute_leaderboard
from leaderboard.report import nondeterministic_teams

__all__ = ["RoundResult", "run_round"]


@dataclass
class RoundResult:
    """What a round produced."""

    out_dir: Path
    split: Split
    submissions: list[Submission]
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
    # The round file's engine, unless --engine named one (every connection below reads it).
    select_engine(config.engine, from_round_file=True)
    console = console or Console(stderr=True)
    scheduler = config.cluster.scheduler
    if scheduler is not None:
        # First, and bounded: a wrong address is told before any image is saved for it.
        asyncio.run(cluster.probe_scheduler(scheduler, timeout=config.cluster.connect_timeout_s))
    # Resolved once, before anything is written: a refused split or ranking leaves no trace.
    plan = plan_round(config)
    flag = f"{config.source}: output"
    refuse_overlap({flag: plan.out_dir}, _round_inputs(plan))
    # One round writes into a folder at a time, through every stage: a second is refused.
    with claim_folder(
        plan.out_dir, kind="round", accepts=("demo",), legacy=is_round_folder, flag=flag
    ):
        return _run_claimed(plan, console, overlap_scoring=overlap_scoring)


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


def _round_inputs(plan: RoundPlan) -> dict[str, list[Path]]:
    """Every file and folder the round reads, by what it is (its output must not lie inside)."""
    config = plan.config
    inputs: dict[str, list[Path]] = {
        "round file": [Path(config.source)] if config.source is not None else [],
        "split": [Path(config.phases[plan.phase].split)],
    }
    if isinstance(config.ranking, Path):
        inputs["ranking file"] = [config.ranking]
    for entry in plan.entries:
        for what, path in (
            ("tarball", entry.source.tarball),
            ("submission folder", entry.source.folder),
            ("model", entry.model),
        ):
            if path is not None:
                inputs.setdefault(f"team {entry.team.name!r} {what}", []).append(Path(path))
    if config.evaluation is not None:
        inputs["evaluation ground truth"] = [config.evaluation.ground_truth]
        if Path(config.evaluation.image).is_absolute():
            inputs["evaluation image"] = [Path(config.evaluation.image)]
    return inputs


def _run_claimed(plan: RoundPlan, console: Console, *, overlap_scoring: bool) -> RoundResult:
    """:func:`run_round` once its output folder is claimed, with one engine client for it."""
    with engine_client() as engine:
        return _run_stages(plan, console, engine, overlap_scoring=overlap_scoring)


@dataclass(frozen=True)
class _Images:
    """What the images stage leaves the later ones: the plan with its submissions, and more."""

    plan: RoundPlan
    pins: ImagePins
    failures: list[dict[str, str]]
    prepared: evaluation.PreparedEvaluation | None
    tarballs: dict[str, Path]


@dataclass(frozen=True)
class _Scored:
    """Every submission's rows (with the evaluation container's columns once it ran)."""

    results: pd.DataFrame
    stages: dict[str, Any]
    evaluations: dict[str, dict[str, Any]] = field(default_factory=dict)
    grand_challenge: dict[str, Any] | None = None


def _run_stages(
    plan: RoundPlan, console: Console, engine: Any, *, overlap_scoring: bool
) -> RoundResult:
    """The round's stages, in order; each is timed in round.json."""
    timings: dict[str, float] = {}
    with _stage("split", timings, console):
        _split_stage(plan, console)
    with _stage("images", timings, console):
        images = _images_stage(plan, engine, console)
    plan = images.plan
    scored = _containers_and_scoring(
        plan, images, console, timings, engine=engine, overlap=overlap_scoring
    )
    if images.prepared is not None:
        with _stage("evaluation", timings, console):
            images.pins.verify(when="before the evaluation container ran")
            scored = _evaluation_stage(plan, images.prepared, scored, console)
    with _stage("selection", timings, console):
        chosen = _select(scored.results, plan)
    with _stage("leaderboard", timings, console):
        images.pins.verify(when="before the leaderboard was published")
        filtered = _leaderboard_stage(plan, chosen, scored, console, not_ranked=images.failures)
    result = RoundResult(
        out_dir=plan.out_dir,
        split=plan.split,
        submissions=list(plan.submissions),
        results=scored.results,
        leaderboard_dir=plan.out_dir / "leaderboard",
        timings_s=timings,
        leaderboards=filtered,
        evaluations=scored.evaluations,
        stages=scored.stages,
        image_failures=images.failures,
        pinned=dict(images.pins.ids),
    )
    _write_round_json(result, plan)
    flagged = nondeterministic_teams({"determinism": determinism_by_team(chosen, plan.submissions)})
    print_summary(chosen, result.leaderboard_dir, console, timings, flagged=flagged)
    return result


def _split_stage(plan: RoundPlan, console: Console) -> None:
    """The plan's split: its files are never the round's output; names it cannot score told."""
    split = plan.split
    refuse_overlap(
        {f"{plan.config.source}: output": plan.out_dir},
        {
            "split's manifest": split.manifest,
            "split's images": [p for c in split.cases for p in c.images],
            "split's labels": [c.label for c in split.cases if c.label is not None],
        },
    )
    console.print(f"split {split.root} · {len(split.cases)} cases · {split.content_hash[:19]}")
    _warn_official_names(split, plan.profile, console)


def _warn_official_names(split: Split, profile: str, console: Console) -> None:
    """Under ``selma3d-2026``: each case the organizers' evaluator cannot score as selma3d does."""
    if profile == official.PROFILE:
        tracks = {c.case_id: c.track for c in profile_cases(split, profile)}
        for line in official.name_warnings(split, tracks):
            console.print(f"[yellow]warning:[/yellow] {as_text(line)}", highlight=False)


def _images_stage(plan: RoundPlan, engine: Any, console: Console) -> _Images:
    """Every image the round runs, pinned to its id: the teams', the evaluation's, the relay's."""
    config = plan.config
    pins = _pin_given_images(plan, console, engine)
    submissions, failures = _resolve_submissions(plan, console, pins)
    prepared = None
    if config.evaluation is not None:
        prepared = evaluation.prepare_round_evaluation(
            config.evaluation,
            out_dir=plan.out_dir,
            source=config.source,
            console=console,
            pins=pins,
        )
    relay = _relay_image(submissions, prepared, pins)
    pins.verify(when="at the end of the images stage")
    plan = plan.with_images(submissions, relay)
    # Workers elsewhere may lack an image: they load the round's own copy.
    tarballs = _save_tarballs(engine, plan, console) if config.cluster.scheduler else {}
    return _Images(plan, pins, failures, prepared, tarballs)


def _image_tag(config: RoundConfig, team: TeamConfig, submission: str) -> str:
    return f"selma3d-round/{config.name.lower()}-{team.name.lower()}:{submission.lower()}"


def _pin_given_images(plan: RoundPlan, console: Console, engine: Any) -> ImagePins:
    """Pin every tag the round file names, before anything is loaded or built.

    A team's ``image:``, the bases of every folder's Dockerfile (teams' and the evaluation
    image's), the evaluation image's reference, and the invoke relay's image: each is read once
    here, so a tarball loaded or a build made later cannot change what they name unnoticed. A
    team's tag that cannot be pinned is that team's failure, told when it is resolved.
    """
    config = plan.config
    pins = ImagePins(engine, during="the round")
    given: list[str] = []
    folders: list[Path] = []
    for entry in plan.entries:
        if entry.source.image is not None:
            given.append(entry.source.image)
        elif entry.source.folder is not None:
            folders.append(Path(entry.source.folder))
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
    plan: RoundPlan, console: Console, pins: ImagePins
) -> tuple[list[Submission], list[dict[str, str]]]:
    """Every submission's image, pinned; a submission whose image cannot be had is set aside.

    Returns the submissions to run and, for each one set aside, its team, submission, source,
    status ``image_failed`` and the reason (the round goes on with the others); a submission
    whose model is refused is set aside so too.

    Raises
    ------
    ConfigError
        A pinned tag moved, or no submission's image could be had.
    """
    config = plan.config
    records: list[Submission] = []
    failures: list[dict[str, str]] = []
    for team in config.teams:
        entries = [e for e in plan.entries if e.team.name == team.name]
        if not entries:
            console.print(f"[yellow]{team.name}: no submission for phase {config.phase}[/yellow]")
        for entry in entries:
            what = "image failed"
            try:
                info = _resolve_one(entry, config, pins=pins)
                # A refused model is this team's alone (a tree nested thousands deep, a link):
                # set aside as its image would be, never stopping the others.
                what = "model refused"
                model = _prepared_model(plan, entry)
            except SubmissionError as exc:
                console.print(f"[red]{entry.key}: {what}[/red]: {as_text(exc)}", highlight=False)
                failures.append(
                    {
                        "team": team.name,
                        "submission": entry.submission,
                        "source": entry.source.source,
                        "status": "image_failed",
                        "reason": str(exc),
                    }
                )
                continue
            submission = plan_submission(plan, entry, info, model)
            console.print(
                f"{submission.key}: {info.ref} [dim]{info.digest[:19]}[/dim]"
                + (f" model [dim]{model.sha256[:19]}[/dim]" if model is not None else "")
                + (" (invoke)" if info.invoke else "")
            )
            records.append(submission)
    if not records and failures:
        reasons = "; ".join(
            f"{submission_key(f['team'], f['submission'])}: {f['reason']}" for f in failures
        )
        raise ConfigError(f"{config.source}: no submission's image could be had: {reasons}")
    return records, failures


def _resolve_one(entry: SubmissionEntry, config: RoundConfig, *, pins: ImagePins) -> ImageInfo:
    """A submission's image: built from its folder, loaded from its tarball, or looked up."""
    sub, team = entry.source, entry.team
    if sub.folder is not None:
        if not (Path(sub.folder) / "Dockerfile").is_file():
            raise ConfigError(
                f"{config.source}: team {team.name!r}: submission folder {sub.folder} has no "
                "Dockerfile."
            )
        return build_folder(
            sub.folder,
            tag=_image_tag(config, team, entry.submission),
            pins=pins,
            timeout_s=config.build_timeout_s,
        )
    if sub.tarball is not None and not Path(sub.tarball).is_file():
        raise ConfigError(f"{config.source}: team {team.name!r}: no tarball at {sub.tarball}.")
    return resolve_image(
        sub.source, pins=pins, name=team.name, build_timeout_s=config.build_timeout_s
    )


def _prepared_model(plan: RoundPlan, entry: SubmissionEntry) -> ModelInfo | None:
    """The submission's model, checked (and a tarball extracted) now, not after hours of others'.

    Raises
    ------
    SubmissionError
        The model is refused (inside the split, unreadable, not a tarball or a folder, nested
        too deep), naming the round file and the team.
    """
    if entry.model is None:
        return None
    try:
        refuse_model_in_split(entry.model, plan.split)
        return prepare_model(entry.model)
    except SubmissionError as exc:
        raise SubmissionError(
            f"{plan.config.source}: team {entry.team.name!r}, model: {exc}"
        ) from exc


def _relay_image(
    submissions: list[Submission],
    prepared: evaluation.PreparedEvaluation | None,
    pins: ImagePins,
) -> str | None:
    """The pinned id of the invoke relay's image, when an invoke image is in the round."""
    if any(s.image.invoke for s in submissions):
        return relay_image_id(pins.client, pins)
    return prepared.relay_image if prepared is not None else None


def _save_tarballs(engine: Any, plan: RoundPlan, console: Console) -> dict[str, Path]:
    """``docker save`` tarballs of the submissions' images and the relay's, by submission key."""
    folder = plan.out_dir / cluster.IMAGES_DIR
    tarballs = {}
    for sub in plan.submissions:
        path = cluster.save_image_tarball(engine, sub.image.ref, sub.image.digest, folder)
        console.print(f"{sub.key}: image kept as {path}")
        tarballs[sub.key] = path
    relay = plan.run.relay_image
    if relay is not None:
        # Created from this id on every worker: a worker's own tag of it may name another image.
        tarballs[cluster.RELAY_KEY] = cluster.save_image_tarball(
            engine, HELPER_IMAGE, relay, folder
        )
    return tarballs


def _containers_and_scoring(
    plan: RoundPlan,
    images: _Images,
    console: Console,
    timings: dict[str, float],
    *,
    engine: Any,
    overlap: bool,
) -> _Scored:
    """Run every submission's containers on the cluster and score each case (beside them).

    A local cluster's workers are ended, not asked to stop, when the round stops early (Ctrl-C,
    an error): once they are gone, the containers they left on ``engine`` are removed.
    """
    config = plan.config
    with contextlib.ExitStack() as stack:
        if config.cluster.scheduler is None:
            # Pushed first, so it runs after the local cluster (and its workers) closed.
            stack.push(_remove_left_containers(engine, plan.out_dir))
        client = stack.enter_context(
            cluster.connect_cluster(
                config.cluster.scheduler,
                jobs=plan.run.limits.jobs,
                console=console,
                connect_timeout=config.cluster.connect_timeout_s,
            )
        )
        scoring = stack.enter_context(_scoring_stage(plan, client, console))
        with _stage("containers", timings, console):
            images.pins.verify(when="before the containers started")
            containers_from = time.time()
            # Each case is scored as soon as every submission's run of it is recorded.
            settled = scoring.submit if overlap else None
            _run_containers(plan, client, images.tarballs, console, settled)
            containers_to = time.time()
            images.pins.verify(when="after the containers ran")

        with _stage("scoring", timings, console):
            results = _label_results(scoring.result(), plan)
            _write_results(results, plan.out_dir)
    stages = _stage_record((containers_from, containers_to), scoring, after_s=timings["scoring"])
    return _Scored(results, stages)


def _remove_left_containers(
    engine: Any, out_dir: Path
) -> Callable[[type[BaseException] | None, BaseException | None, Any], bool]:
    """An exit callback: on an early end, remove the round's containers (by their out-dir label).

    A worker's own clean-up never runs when its process is ended; left alone, a case container
    would run until the next round on this engine removed it. A normal end leaves none.
    """

    def remove(kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        if kind is None:
            return False
        # Docker's SDK is loaded only where an engine is called, as connect() loads it.
        from docker.errors import DockerException

        try:
            cluster.remove_task_containers(engine, out_dir)
        except (DockerException, OSError) as failed:
            # The engine may be why the round ended: its error stays the one told.
            if exc is not None:
                exc.add_note(f"the round's containers could not be removed: {failed}")
        return False  # the exception goes on: the round still ends with it

    return remove


def _run_containers(
    plan: RoundPlan,
    client: Any,
    tarballs: dict[str, Path],
    console: Console,
    on_settled: Callable[[list[str]], None] | None = None,
) -> None:
    relay_tarball = tarballs.get(cluster.RELAY_KEY)
    jobs = [
        cluster.SubmissionJob(s, tarball=tarballs.get(s.key), relay_tarball=relay_tarball)
        for s in plan.submissions
    ]
    cluster.run_containers(
        jobs,
        plan.split,
        plan.run,
        client,
        out_dir=plan.out_dir,
        distributed=plan.config.cluster.scheduler is not None,
        console=console,
        on_settled=on_settled,
    )


def _scoring_stage(plan: RoundPlan, client: Any, console: Console) -> cluster.ScoringStage:
    return cluster.ScoringStage(
        plan.split,
        {s.key: s.run_dir for s in plan.submissions},
        client,
        options=plan.metrics,
        profile=plan.profile,
        gate=plan.gate,
        out_dir=plan.out_dir,
        console=console,
    )


def _label_results(table: pd.DataFrame, plan: RoundPlan) -> pd.DataFrame:
    """The scored rows with each submission's team, submission, display name and tags."""
    keys = plan.by_key()
    tags = [_tags_text(dict(keys[k].tags)) for k in table["team"]]
    table = table.rename(columns={"team": "_key"})
    table.insert(0, "team", table["_key"].map(lambda k: keys[k].team))
    table.insert(1, "submission", table["_key"].map(lambda k: keys[k].submission))
    table = table.drop(columns="_key")
    names = {t.name: (t.display_name or t.name) for t in plan.config.teams}
    table["display_name"] = table["team"].map(names)
    table["tags"] = tags
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


def _evaluation_stage(
    plan: RoundPlan, prepared: evaluation.PreparedEvaluation, scored: _Scored, console: Console
) -> _Scored:
    """The organizers' evaluation container on every submission, its values beside selma3d's."""
    pairs = [(s.team, s.submission) for s in plan.submissions]
    evaluations = evaluation.run_round_evaluations(
        prepared,
        pairs,
        scored.results,
        plan.split,
        out_dir=plan.out_dir,
        gate=plan.gate,
        console=console,
    )
    results = evaluation.with_container_columns(scored.results, evaluations)
    _write_results(results, plan.out_dir)
    settings = plan.config.evaluation
    grand_challenge = None
    if settings is not None and settings.leaderboard is not None:
        grand_challenge = evaluation.grand_challenge_leaderboard(
            evaluations, pairs, settings.leaderboard
        )
    return _Scored(results, scored.stages, evaluations, grand_challenge)


def _select(results: pd.DataFrame, plan: RoundPlan) -> pd.DataFrame:
    """Keep one submission per team: the last one, or the best by the round's ranking."""
    ran = set(zip(results["team"], results["submission"], strict=True))
    # A submission whose image could not be had did not run: the team's others are chosen from.
    order: dict[str, list[str]] = {}
    for s in plan.submissions:
        if (s.team, s.submission) in ran:
            order.setdefault(s.team, []).append(s.submission)
    keep: dict[str, str] = {}
    for team, subs in order.items():
        if plan.config.submission_policy == "last" or len(subs) == 1:
            keep[team] = subs[-1]
        else:
            keep[team] = _best_submission(results[results["team"] == team], subs, plan.ranking)
    mask = [keep.get(t) == s for t, s in zip(results["team"], results["submission"], strict=True)]
    return results[mask].reset_index(drop=True)


def _best_submission(team_rows: pd.DataFrame, subs: list[str], ranking: RankingConfig) -> str:
    """Rank a team's own submissions against each other with the round's ranking scheme."""
    as_teams = team_rows.drop(columns=["team", "display_name"]).rename(
        columns={"submission": "team"}
    )
    # Uncertainty plays no part in choosing; ties go to the later submission.
    ranking = ranking.model_copy(
        update={"bootstrap": ranking.bootstrap.model_copy(update={"resamples": 0})}
    )
    board = compute_leaderboard(as_teams, config=ranking).table
    best_rank = board["rank"].min()
    tied = set(board.loc[board["rank"] == best_rank, "team"])
    return [s for s in subs if s in tied][-1]


def _leaderboard_stage(
    plan: RoundPlan,
    chosen: pd.DataFrame,
    scored: _Scored,
    console: Console,
    *,
    not_ranked: list[dict[str, str]],
) -> dict[str, dict[str, Any]]:
    """The full leaderboard, grand-challenge's board, and one per tag filter (their records).

    ``not_ranked``: the submissions set aside at the images stage, named on each board whose
    tags they match.
    """
    leaderboard_dir = plan.out_dir / "leaderboard"
    publish(
        chosen,
        leaderboard_dir,
        plan,
        evaluations=scored.evaluations,
        stages=scored.stages,
        grand_challenge=scored.grand_challenge,
        not_ranked=not_ranked,
    )
    if scored.grand_challenge is not None:
        path = evaluation.write_grand_challenge_csv(scored.grand_challenge, leaderboard_dir)
        console.print(f"grand-challenge's leaderboard: {path}")
    return publish_filtered(
        chosen,
        plan,
        console,
        evaluations=scored.evaluations,
        stages=scored.stages,
        not_ranked=not_ranked,
    )


def _write_round_json(result: RoundResult, plan: RoundPlan) -> None:
    config = plan.config
    record = {
        "round": config.name,
        "phase": plan.phase,
        "profile": plan.profile,
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
                "image": s.image.ref,
                "digest": s.image.digest,
                "model": s.model,
                "determinism": determinism_of(s.run_dir),
                "run_dir": str(s.run_dir),
                "tags": dict(s.tags),
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
