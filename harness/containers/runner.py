"""Run a submission's container on every case of a split, safely, and keep every result.

Data flow: resolve the image -> check it (non-root user) -> open the run folder (the same image,
split, contract, model and gate as an earlier run into it) -> clean orphans of an interrupted
run -> for each batch of cases (one case with the grand-challenge contract,
:mod:`harness.containers.exec_runs`; one server per job slot for an invoke image,
:mod:`harness.containers.invoke_slots`): stage inputs into a fresh folder, run the container
under the isolation flags (:mod:`harness.containers.isolation`), judge its outcome and validate
``/output`` (:mod:`harness.containers.verdicts`) -> append one record per case to
``cases.jsonl`` (:mod:`harness.containers.run_state`).

Output folder
-------------
A run folder (:mod:`harness.containers.run_folder`, its one owner): ``run.json`` (the run, in
the shape documented there), ``cases.jsonl`` (one record per finished case,
:class:`~harness.containers.records.CaseRecord`), ``predictions/<case_id>.nii.gz`` (uint8 0/1
on the case image's grid, for ``ok`` cases), ``logs/<case_id>.log`` (the container's output, the
last ``log_bytes``, with the harness's verdict on top) and ``.lock``.

Invoke images (labeled ``org.grand-challenge.api-method=invoke``, as grand-challenge decides):
one server per job slot, started once and reused for its cases
(:mod:`harness.containers.invoke`). The harness stages each case into the slot's ``/input`` and
empties its ``/output`` itself, calls ``POST /invoke``, and validates the output as for the exec
contract. A server that never becomes healthy fails every case; one that times out, dies or
overfills ``/output`` is replaced by a fresh one for the remaining cases. With ``reuse="case"``
each case gets a fresh server, as on grand-challenge. ``run.json`` lists each server's start-up
time under ``servers``.

Model: ``RunConfig.model`` (a tarball or a folder, :mod:`harness.containers.model`) is mounted
read-only at ``/opt/ml/model`` in both contracts; its sha256 is in ``run.json``.

Resuming: a second run into the same folder skips finished cases; ``retry_failed`` reruns the
cases whose newest status is not ``ok``; ``infrastructure_error`` cases always rerun, since the
team is never charged for them. A folder resumes only the same image, split, contract, model and
gate (:class:`~harness.containers.run_folder.RunIdentity`). A harness killed mid-run leaves
containers labeled with the run id: the rerun removes them first.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from common.errors import ConfigError
from common.outputs import refuse_overlap
from harness.containers.canary import FINISHED, STOPPED_BY_CANARY
from harness.containers.cleanup import remove_tree
from harness.containers.determinism import judge_rerun, plan_rerun
from harness.containers.engine import engine_client, engine_traits
from harness.containers.exec_runs import execute_exec
from harness.containers.images import ImageInfo, resolve_image
from harness.containers.invoke import relay_image_id
from harness.containers.invoke_slots import execute_invoke
from harness.containers.isolation import (
    image_volume_tmpfs,
    remove_run_containers,
)
from harness.containers.model import ModelInfo, prepare_model, refuse_model_in_split
from harness.containers.records import (
    CaseRecord,
    RunSummary,
)
from harness.containers.run_config import RunConfig
from harness.containers.run_folder import RunFolder, run_identity
from harness.containers.run_state import RunState
from harness.errors import SubmissionError
from harness.split.manifest import Case, Split, load_split

__all__ = ["run_inputs", "run_submission"]


def run_inputs(
    split: Split, *, image: object = None, model: str | Path | None = None
) -> dict[str, Any]:
    """What a run reads, by what it is: no output may be or lie inside one of them.

    ``image`` counts when it is a path (a tarball or a folder), ``model`` when given.
    """
    inputs: dict[str, Any] = {
        "split": split.root,
        "split's manifest": split.manifest,
        "split's images": [p for c in split.cases for p in c.images],
        "split's labels": [c.label for c in split.cases if c.label is not None],
        "model": model,
    }
    if isinstance(image, (str, Path)) and Path(image).exists():
        inputs["image"] = Path(image)
    return inputs


def run_submission(
    image: str | Path | ImageInfo,
    split: str | Path | Split,
    out_dir: str | Path,
    *,
    config: RunConfig = RunConfig(),
    client: Any | None = None,
    on_record: Callable[[CaseRecord], None] | None = None,
) -> RunSummary:
    """Run a submission on every case of a split (resuming an earlier run into ``out_dir``).

    Parameters
    ----------
    image : str, Path or ImageInfo
        Image reference, ``docker save`` tarball or folder with a Dockerfile
        (:func:`harness.containers.images.resolve_image`).
    split : str, Path or Split
        The split (its labels are never staged).
    out_dir : str or Path
        Output folder (see the module docstring for its layout).
    config : RunConfig, keyword-only
    client : docker.DockerClient, keyword-only
        Defaults to :func:`harness.containers.engine.connect`.
    on_record : callable, keyword-only
        Called with each record as it is written.

    Returns
    -------
    RunSummary

    Raises
    ------
    SubmissionError
        The image is missing, runs as root (without ``allow_root``), or differs from the image
        of an earlier run into the same folder.
    Selma3dError
        The split changed since the earlier run, or another run holds the folder.
    EngineError
        The engine is unreachable.
    """
    t_start = time.perf_counter()
    split = split if isinstance(split, Split) else load_split(split)
    # Checked before the engine is asked anything: a refused path is told at once.
    if config.model is not None:
        refuse_model_in_split(config.model, split)
    refuse_overlap({"--out": out_dir}, run_inputs(split, image=image, model=config.model))
    with engine_client(client) as client:
        info = image if isinstance(image, ImageInfo) else resolve_image(image, client=client)
        if info.runs_as_root and not config.allow_root:
            raise SubmissionError(
                f"image {info.ref} runs as root (configured user {info.user or 'empty'!r}); add a "
                "non-root user and `USER` to its Dockerfile (see submissions/template), or pass "
                "--allow-root if the organizers accept it."
            )
        # A VOLUME no tmpfs may cover is refused before any case, not at each case's container.
        image_volume_tmpfs(info, tmp_bytes=config.limits.tmp_bytes)
        ncpu = int(client.info().get("NCPU") or 0)
        if ncpu and config.limits.cpus > ncpu:
            raise ConfigError(
                f"RunConfig: cpus is {config.limits.cpus}, but the engine has only {ncpu} CPU(s)."
            )
        if info.invoke and config.contract != "grand-challenge":
            raise SubmissionError(
                f"image {info.ref} is an invoke server (label org.grand-challenge.api-method="
                f"invoke), which serves the grand-challenge contract; got --contract "
                f"{config.contract!r}."
            )
        if info.invoke and config.relay_image is None:
            # Pinned once for the whole run: every relay is created from this id, never the tag.
            config = replace(config, relay_image=relay_image_id(client))
        model = prepare_model(config.model) if config.model is not None else None
        identity = run_identity(info, split, config, None if model is None else model.as_record())
        # The engine that ran the containers, beside the settings (Docker or Podman, its version).
        traits = engine_traits(client)
        record = {**config.as_record(), "engine": f"{traits.name} {traits.version}"}
        with RunFolder.open(out_dir, identity, config=record) as folder:
            return _run_locked(client, folder, config, on_record, t_start, model)


def _run_locked(
    client: Any,
    folder: RunFolder,
    config: RunConfig,
    on_record: Callable[[CaseRecord], None] | None,
    t_start: float,
    model: ModelInfo | None,
) -> RunSummary:
    info, split = folder.identity.image, folder.identity.split
    out = folder.path
    folder.orphans_removed = remove_run_containers(client, folder.run_id)
    work_root = Path(config.work_dir) if config.work_dir else out / ".work"
    if not config.work_dir and work_root.exists():
        remove_tree(work_root)  # staging folders of an interrupted run
    work_root.mkdir(parents=True, exist_ok=True)

    pending = folder.pending(retry_failed=config.retry_failed)
    attempt_of = folder.attempt_of(pending)
    folder.write(state="running")

    run = RunState(
        client=client,
        image=info,
        config=config,
        contract=config.make_contract(),
        folder=folder,
        work_root=work_root,
        model=model,
        first_server=len(folder.servers) + 1,
    )
    stopped_early = False
    try:
        stopped_early = _execute(run, pending, attempt_of, on_record)
        folder.servers.extend(run.servers)  # numbered on from the folder's already
        if config.determinism:
            _check_determinism(run, split, ran=bool(pending), stopped=stopped_early)
    except BaseException as exc:
        # Interrupted (Ctrl-C) or a harness bug: leave no container behind, and a run.json
        # that counts what cases.jsonl holds.
        remove_run_containers(client, folder.run_id)
        try:
            folder.write(state="interrupted")
        except OSError as failed:
            # The run's own error is the one raised; this one goes with it.
            exc.add_note(f"{folder.path}: run.json could not be updated: {failed}")
        raise
    finally:
        if work_root.exists() and not any(work_root.iterdir()) and not config.work_dir:
            work_root.rmdir()
    known = set(split.case_ids)
    summary = RunSummary(
        out_dir=out,
        run_id=folder.run_id,
        image=info,
        records={k: v for k, v in folder.records.items() if k in known},
        n_cases=len(split.cases),
        ran=len(pending),
        stopped_early=stopped_early,
        wall_time_s=time.perf_counter() - t_start,
        servers=list(run.servers),
    )
    folder.write(state=STOPPED_BY_CANARY if stopped_early else FINISHED)
    return summary


def _check_determinism(run: RunState, split: Split, *, ran: bool, stopped: bool) -> None:
    """Make the determinism check :func:`plan_rerun` asks for; keep its outcome in ``run.json``.

    The case to check runs again, apart (an ordinary run of that case alone).
    """
    folder = run.folder
    plan = plan_rerun(split.cases, folder.records, folder.determinism, ran=ran, stopped=stopped)
    if plan.outcome is not None:
        folder.determinism = dict(plan.outcome)
    if plan.case is None:
        return
    case = plan.case
    scratch = Path(tempfile.mkdtemp(prefix="rerun-", dir=run.work_root))
    try:
        reference = folder.path / folder.records[case.case_id].prediction
        one = Split(root=split.root, cases=(case,), content_hash=split.content_hash)
        # An ordinary run of that one case into a scratch folder: the same staging and verdict.
        again = run_submission(
            run.image, one, scratch, config=run.config.for_part(), client=run.client
        )
        outcome, servers = judge_rerun(again, case.case_id, reference), again.servers
    finally:
        remove_tree(scratch)
    # The second run's servers: numbered on from the run's, slot -1 (apart from the slots).
    _, added = folder.add_servers(servers, slot=-1)
    run.servers.extend(added)
    folder.determinism = outcome


def _execute(
    run: RunState,
    pending: list[Case],
    attempt_of: dict[str, int],
    on_record: Callable[[CaseRecord], None] | None,
) -> bool:
    cfg = run.config
    statuses: Counter[str] = Counter()
    progress = Progress(
        TextColumn("[bold]predict[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[counts]}"),
        disable=not cfg.progress,
        transient=False,
    )
    task = progress.add_task("cases", total=len(pending), counts="")

    def record_done(rec: CaseRecord) -> None:
        statuses[rec.status] += 1
        counts = " ".join(f"{k}={v}" for k, v in sorted(statuses.items()))
        progress.update(task, advance=1, counts=counts)
        if on_record is not None:
            on_record(rec)

    run.on_record = record_done
    if run.image.invoke:
        with progress:
            return execute_invoke(run, pending, attempt_of)
    with progress:
        return execute_exec(run, pending, attempt_of)
