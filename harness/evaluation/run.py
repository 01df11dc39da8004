"""Run an evaluation container on one submission as grand-challenge does, and record the run.

:func:`run_evaluation` stages ``/input`` (:mod:`harness.evaluation.contract`), mounts the ground
truth read-only at ``/opt/ml/input/data/ground_truth``, and runs the image under every isolation
flag of a participant's container (:func:`harness.containers.isolation.container_options`: no
network, non-root, read-only root file system and inputs) and the evaluation's limits: once as a
program, or, for an image labeled ``org.grand-challenge.api-method=invoke``, as a server asked
once with ``POST /invoke`` and then stopped. Its log is read once the container stopped (the
engine has all of it only then). It then reads ``/output/metrics.json`` within its bounds
(:mod:`harness.evaluation.metrics_json`) and compares it with selma3d's rows
(:func:`harness.evaluation.compare.compare_metrics`, in the form
:mod:`harness.evaluation.forms` detects or the round declares).

Nothing the container does raises: a failure, a timeout, a missing or invalid ``metrics.json``
becomes the run's ``status`` with a reason and the end of its log.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from common.errors import ConfigError
from common.files import resolved
from harness.containers.cleanup import chmod_tree, remove_tree
from harness.containers.images import ImageInfo, ImagePins, resolve_image
from harness.containers.invoke import InvokeServer, relay_image_id
from harness.containers.isolation import (
    LABEL_DEADLINE,
    LABEL_RUN_ID,
    STOP_GRACE_S,
    ContainerResult,
    image_volume_tmpfs,
    remove_expired_containers,
    remove_run_containers,
    run_container,
)
from harness.containers.limits import Limits
from harness.containers.verdicts import log_reason, log_tail
from harness.errors import SubmissionError
from harness.evaluation.compare import compare_metrics
from harness.evaluation.config import EvaluationConfig
from harness.evaluation.contract import (
    GROUND_TRUTH_MOUNT,
    EvaluationJob,
    ground_truth_hash,
    image_names,
    jobs_from_results,
    prepare_ground_truth,
    stage_predictions,
)
from harness.evaluation.forms import CompareTarget
from harness.evaluation.metrics_json import MAX_METRICS_BYTES, finite_or_none, read_metrics
from harness.predictions.validate import OFFICIAL_GATE, GateOptions
from harness.split.manifest import Split

__all__ = [
    "LOG_NAME",
    "MAX_METRICS_BYTES",
    "STATUSES",
    "EvaluationRun",
    "PreparedEvaluation",
    "evaluate_with_container",
    "evaluation_run_id",
    "prepare_evaluation",
    "read_metrics",
    "run_evaluation",
]

STATUSES = ("ok", "not_run", "failed", "timeout", "oom", "missing_metrics", "invalid_metrics")
"""``ok``: metrics.json read and compared (differences may be flagged); ``not_run``: grand-challenge
would not evaluate the submission (a job failed); the others: what went wrong with the container."""
_LOG_BYTES = 1 << 20
LOG_NAME = "container.log"
"""The container's output, kept in the run's folder."""


@dataclass(frozen=True)
class EvaluationRun:
    """One evaluation container run on one submission.

    Attributes
    ----------
    status : str
        One of :data:`STATUSES`.
    reason : str
        Why it is not ``ok`` (with the end of the log when the container failed).
    image, image_digest, api_method : str
        The evaluation image as run (its id), and ``invoke`` for a server.
    ground_truth, ground_truth_sha256 : str
        What was mounted, and its hash (:func:`~harness.evaluation.contract.ground_truth_hash`).
    jobs : int
        Entries of ``predictions.json``.
    wall_time_s : float or None
    peak_memory_bytes : int or None
    log_tail : str
        The last lines of the container's output.
    log_file : str
        Where its whole output (the last MiB) was written.
    metrics : dict or None
        The parsed ``metrics.json`` when it is valid (a value that is not finite is None).
    comparison : dict or None
        :meth:`~harness.evaluation.compare.Comparison.as_record`, when there are metrics; its
        ``notes`` name every value read as no value (NaN, Infinity).
    """

    status: str
    reason: str = ""
    image: str = ""
    image_digest: str = ""
    api_method: str = ""
    ground_truth: str = ""
    ground_truth_sha256: str = ""
    jobs: int = 0
    wall_time_s: float | None = None
    peak_memory_bytes: int | None = None
    log_tail: str = ""
    log_file: str = ""
    metrics: dict[str, Any] | None = None
    comparison: dict[str, Any] | None = field(default=None)

    @property
    def differences(self) -> list[dict[str, Any]]:
        """The flagged differences (empty without a comparison)."""
        return list((self.comparison or {}).get("differences", []))

    def as_record(self) -> dict[str, Any]:
        """The run as ``round.json`` and ``<out>.container.json`` record it."""
        return {
            "status": self.status,
            "reason": self.reason,
            "image": self.image,
            "image_digest": self.image_digest,
            "api_method": self.api_method,
            "ground_truth": self.ground_truth,
            "ground_truth_sha256": self.ground_truth_sha256,
            "jobs": self.jobs,
            "wall_time_s": self.wall_time_s,
            "peak_memory_bytes": self.peak_memory_bytes,
            "log_tail": self.log_tail,
            "log_file": self.log_file,
            # No value JSON cannot hold reaches a record, whatever the container wrote.
            "metrics": finite_or_none(self.metrics),
            "comparison": finite_or_none(self.comparison),
        }


def evaluation_run_id(key: Path) -> str:
    """The run label of the evaluation container of ``key`` (a run's folder or ``--out``).

    Derived from the path, so the next run on the same folder finds and removes a container
    that an interrupted (even ``kill -9``-ed) run left behind.
    """
    digest = hashlib.sha256(str(resolved(key)).encode()).hexdigest()
    return f"evaluation-{digest[:16]}"


def run_evaluation(
    image: ImageInfo,
    jobs: Sequence[EvaluationJob],
    rows: Sequence[Mapping[str, Any]],
    split: Split,
    *,
    ground_truth: Path,
    ground_truth_dir: Path,
    ground_truth_sha256: str,
    limits: Limits,
    work_dir: Path,
    client: Any,
    gate: GateOptions = OFFICIAL_GATE,
    relay_image: str | None = None,
    run_id: str | None = None,
    compare: dict[str, CompareTarget] | None = None,
) -> EvaluationRun:
    """Run the evaluation container on one submission's predictions and compare its metrics.

    Parameters
    ----------
    image : ImageInfo
        The evaluation image (run by its id).
    jobs : sequence of EvaluationJob
        The submission's jobs (:func:`~harness.evaluation.contract.jobs_from_results`).
    rows : sequence of mapping
        selma3d's rows of the same submission, for the comparison.
    split : Split
    ground_truth : Path, keyword-only
        What the organizer gave (recorded).
    ground_truth_dir : Path, keyword-only
        The folder mounted at ``/opt/ml/input/data/ground_truth``.
    ground_truth_sha256 : str, keyword-only
    limits : Limits, keyword-only
    work_dir : Path, keyword-only
        A folder of this run's own (``input/`` and ``output/`` are made fresh in it).
    client : docker.DockerClient, keyword-only
    gate : GateOptions, keyword-only
        The prediction gate the predictions were scored with.
    relay_image : str, keyword-only, optional
        The pinned id an invoke image's relay is created from.
    run_id : str, keyword-only
        The container's run label; :func:`evaluation_run_id` of ``work_dir`` by default. A
        container left with this label by an interrupted run is removed first.
    compare : dict of str to CompareTarget, keyword-only, optional
        round.yaml ``evaluation.compare``; without it the form is detected.

    Raises
    ------
    docker.errors.APIError, requests.exceptions.ConnectionError
        The engine failed (not the container).
    """
    run_id = run_id or evaluation_run_id(work_dir)
    remove_run_containers(client, run_id)
    base = EvaluationRun(
        status="ok",
        image=image.ref,
        image_digest=image.digest,
        api_method=image.api_method,
        ground_truth=str(ground_truth),
        ground_truth_sha256=ground_truth_sha256,
        jobs=len(jobs),
    )
    input_dir, output_dir = work_dir / "input", work_dir / "output"
    for folder in (input_dir, output_dir):
        remove_tree(folder)  # an interrupted run's, closed folders included
        folder.mkdir(parents=True)
    try:
        stage_predictions(jobs, split, input_dir, gate=gate)
    except SubmissionError as exc:
        return _replace(base, status="not_run", reason=f"a prediction could not be staged: {exc}")
    # The container's user is not this process's: it reads the inputs and writes /output.
    _open_modes(input_dir, output_dir)
    mounts = {ground_truth_dir: GROUND_TRUTH_MOUNT}
    # Past every limit, a container whose runner was killed is removed by any later sweep.
    lifetime = limits.startup_timeout_s + limits.timeout_s + 2 * STOP_GRACE_S + 60.0
    labels = {LABEL_RUN_ID: run_id, LABEL_DEADLINE: f"{time.time() + lifetime:.0f}"}
    if image.invoke:
        result = _invoke_once(
            client, image, input_dir, output_dir, work_dir, limits=limits, labels=labels,
            mounts=mounts, relay_image=relay_image,
        )
    else:
        result = run_container(
            client, image, input_dir, output_dir, limits=limits, timeout_s=limits.timeout_s,
            labels=labels, log_bytes=_LOG_BYTES, mounts=mounts,
        )
    log_file = work_dir / LOG_NAME
    log_file.write_text(result.log, encoding="utf-8")
    base = _replace(
        base,
        wall_time_s=round(result.wall_time_s, 3),
        peak_memory_bytes=result.peak_memory_bytes,
        log_tail=log_tail(result.log),
        log_file=str(log_file),
    )
    problem = _container_problem(result, limits)
    if problem is not None:
        status, reason = problem
        return _replace(base, status=status, reason=reason)
    read = read_metrics(output_dir / "metrics.json")
    if read.metrics is None:
        return _replace(base, status=read.status, reason=read.reason)
    comparison, problems = compare_metrics(
        read.metrics, rows, case_of_image=_case_of_image(split), compare=compare
    )
    if comparison is None:
        more = len(problems) - 10
        shown = "; ".join(problems[:10]) + (f"; and {more} more" if more > 0 else "")
        return _replace(
            base, status="invalid_metrics", reason=f"/output/metrics.json: {shown}"
        )
    record = comparison.as_record()
    record["notes"] = [*read.notes, *record["notes"]]
    return _replace(base, metrics=read.metrics, comparison=record)


def _case_of_image(split: Split) -> dict[str, str]:
    return {name: case_id for case_id, name in image_names(split).items()}


def _replace(run: EvaluationRun, **changes: Any) -> EvaluationRun:
    return replace(run, **changes)


def _open_modes(input_dir: Path, output_dir: Path) -> None:
    chmod_tree(input_dir, dirs=0o755, files=0o644)
    os.chmod(output_dir, 0o777)


def _container_problem(result: ContainerResult, limits: Limits) -> tuple[str, str] | None:
    with_log = log_reason(result.log) or "; no output"
    if result.failure is not None:
        return result.failure
    if result.timed_out:
        return "timeout", f"still running after {limits.timeout_s:g} s; killed{with_log}"
    if result.oom:
        return "oom", f"killed for exceeding the memory limit of {limits.memory}{with_log}"
    if result.output_problem is not None:
        return "failed", f"killed for its output: {result.output_problem}"
    if result.exit_code not in (0, None):
        return "failed", f"exited with code {result.exit_code}" + (
            log_reason(result.log, tail_of=result.stderr) or "; no output"
        )
    return None


def _invoke_once(
    client: Any,
    image: ImageInfo,
    input_dir: Path,
    output_dir: Path,
    work_dir: Path,
    *,
    limits: Limits,
    labels: dict[str, str],
    mounts: dict[Path, str],
    relay_image: str | None = None,
) -> ContainerResult:
    """Start the server, ``POST /invoke`` once, and describe it as one container run."""
    relay = work_dir / "relay"
    if relay.exists():
        remove_tree(relay)
    server = InvokeServer(
        client, image, input_dir, output_dir, relay, limits=limits, labels=labels,
        log_bytes=_LOG_BYTES, mounts=mounts, relay_image=relay_image,
    )
    try:
        startup = server.start(startup_timeout_s=limits.startup_timeout_s)
        if not startup.healthy:
            return ContainerResult(
                exit_code=None, timed_out=False, oom=startup.status == "oom",
                wall_time_s=startup.startup_s, peak_memory_bytes=None, log=startup.log,
                failure=(startup.status if startup.status != "ok" else "failed", startup.reason),
            )
        # Stopped once it answered: its log is complete only once it stopped.
        outcome = server.invoke(timeout_s=limits.timeout_s, last=True)
        result = outcome.result
        return ContainerResult(
            exit_code=result.exit_code, timed_out=result.timed_out, oom=result.oom,
            wall_time_s=startup.startup_s + result.wall_time_s,
            peak_memory_bytes=result.peak_memory_bytes, log=result.log,
            output_problem=result.output_problem, failure=result.failure,
        )
    finally:
        server.close()


@dataclass(frozen=True)
class PreparedEvaluation:
    """An evaluation image and ground truth, resolved once for every submission of a round."""

    image: ImageInfo
    ground_truth: Path
    ground_truth_dir: Path
    ground_truth_sha256: str
    limits: Limits
    relay_image: str | None = None
    """The id an invoke evaluation image's relay is created from (pinned with the image)."""
    compare: dict[str, CompareTarget] | None = None


def prepare_evaluation(
    config: EvaluationConfig,
    *,
    cache_dir: Path,
    client: Any,
    where: str,
    log: Callable[[str], None] = print,
    pins: Any | None = None,
) -> PreparedEvaluation:
    """Resolve the evaluation image (built offline, loaded or looked up) and the ground truth.

    Parameters
    ----------
    config : EvaluationConfig
        With paths already resolved.
    cache_dir : Path, keyword-only
        Where a ground truth tarball is extracted (once per content).
    where : str, keyword-only
        Who gave the settings, for messages (the round file, or ``--container``).
    pins : harness.containers.images.ImagePins, keyword-only, optional
        The command's pins: the image's tag (or a build's bases) and the relay's are kept there.

    Raises
    ------
    ConfigError
        The image cannot be had, runs as root, or the ground truth cannot be read.
    """
    pins = pins if pins is not None else ImagePins(client, during="the evaluation")
    remove_expired_containers(client)
    try:
        image = resolve_image(config.image, client=client, log=log, pins=pins, name="evaluation")
    except SubmissionError as exc:
        raise ConfigError(f"{where}: evaluation.image: {exc}") from exc
    if image.runs_as_root:
        raise ConfigError(
            f"{where}: evaluation.image {config.image}: its user is root; grand-challenge runs "
            "evaluation containers as a non-root user (add a USER line to its Dockerfile)"
        )
    try:
        # A VOLUME no tmpfs may cover is refused here, before any case.
        image_volume_tmpfs(image, tmp_bytes=config.limits.tmp_bytes, mounted=(GROUND_TRUTH_MOUNT,))
    except SubmissionError as exc:
        raise ConfigError(f"{where}: evaluation.image {config.image}: {exc}") from exc
    sha = ground_truth_hash(config.ground_truth)
    folder = prepare_ground_truth(config.ground_truth, sha, cache_dir=cache_dir)
    relay = relay_image_id(client, pins) if image.invoke else None
    return PreparedEvaluation(
        image, config.ground_truth, folder, sha, config.limits, relay, compare=config.compare
    )


def evaluate_with_container(
    prepared: PreparedEvaluation,
    rows: Sequence[Mapping[str, Any]],
    split: Split,
    *,
    work_dir: Path,
    client: Any,
    gate: GateOptions = OFFICIAL_GATE,
    run_id: str | None = None,
) -> EvaluationRun:
    """Run the evaluation container on one submission, unless a job failed (then ``not_run``).

    Parameters
    ----------
    prepared : PreparedEvaluation
    rows : sequence of mapping
        selma3d's rows of the submission (:func:`harness.scoring.evaluate.evaluate_predictions`).
    split : Split
    work_dir : Path, keyword-only
        This submission's own folder for the run.
    run_id : str, keyword-only
        As in :func:`run_evaluation`.
    """
    jobs, reason = jobs_from_results(rows, split)
    if reason:
        return EvaluationRun(
            status="not_run",
            reason=reason,
            image=prepared.image.ref,
            image_digest=prepared.image.digest,
            api_method=prepared.image.api_method,
            ground_truth=str(prepared.ground_truth),
            ground_truth_sha256=prepared.ground_truth_sha256,
        )
    return run_evaluation(
        prepared.image,
        jobs,
        rows,
        split,
        ground_truth=prepared.ground_truth,
        ground_truth_dir=prepared.ground_truth_dir,
        ground_truth_sha256=prepared.ground_truth_sha256,
        limits=prepared.limits,
        work_dir=work_dir,
        client=client,
        gate=gate,
        relay_image=prepared.relay_image,
        run_id=run_id,
        compare=prepared.compare,
    )
