"""Run a submission's container on every case of a split, safely, and keep every result.

Data flow: resolve the image -> check it (non-root user, same digest as an earlier run into the
same folder) -> clean orphans of an interrupted run -> for each batch of cases (one case with the
grand-challenge contract): stage inputs into a fresh folder, run the container under the
isolation flags (:mod:`harness.containers.isolation`), judge its outcome and validate ``/output``
(:mod:`harness.containers.verdicts`) -> append one record per case to ``cases.jsonl``
(:mod:`harness.containers.records`).

Output folder
-------------
``run.json``
    The run: id, image (ref, digest, user), split hash, contract, limits, counts by status.
``cases.jsonl``
    One JSON record per finished case (:class:`~harness.containers.records.CaseRecord`).
``predictions/<case_id>.nii.gz``
    uint8 0/1 on the case image's grid, for ``ok`` cases.
``logs/<case_id>.log``
    The container's output (the last ``log_bytes``) with the harness's verdict on top.

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
team is never charged for them. A harness killed mid-run leaves containers labeled with the run
id: the rerun removes them first.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from common.files import write_atomic
from common.status import STATUS
from harness.containers.contracts import Contract, StagedCase
from harness.containers.images import ImageInfo, is_root_user, resolve_image
from harness.containers.invoke import InvokeServer, Startup
from harness.containers.isolation import (
    LABEL_OUT_DIR,
    LABEL_RUN_ID,
    ContainerResult,
    is_engine_failure,
    remove_run_containers,
    run_container,
)
from harness.containers.model import ModelInfo, prepare_model
from harness.containers.records import (
    RECORDS_NAME,
    CaseRecord,
    RunSummary,
    append_record,
    now,
    read_records,
    read_run,
    write_run,
)
from harness.containers.run_config import RunConfig
from harness.containers.verdicts import case_verdict
from harness.errors import ConfigError, Selma3dError, SubmissionError
from harness.predictions.validate import save_mask
from harness.split.manifest import Case, Split, load_split
from harness.split.volume import read_volume

__all__ = ["compare_runs", "run_submission"]


@dataclass
class _Run:
    client: Any
    image: ImageInfo
    config: RunConfig
    contract: Contract
    out_dir: Path
    run_id: str
    work_root: Path
    model: ModelInfo | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    on_record: Callable[[CaseRecord], None] = lambda r: None
    servers: list[dict[str, Any]] = field(default_factory=list)
    first_server: int = 1
    # (status, reason, log) of a server that never became healthy: every later case gets it.
    startup_failure: tuple[str, str, str] | None = None

    @property
    def model_dir(self) -> Path | None:
        return self.model.path if self.model is not None else None


def _chmod_tree(root: Path, *, dirs: int, files: int) -> None:
    for dirpath, _dirnames, filenames in os.walk(root):
        os.chmod(dirpath, dirs)
        for f in filenames:
            os.chmod(os.path.join(dirpath, f), files)


def _run_batch(run: _Run, cases: Sequence[Case], attempt_of: dict[str, int]) -> list[CaseRecord]:
    cfg = run.config
    contract = run.contract
    work = Path(tempfile.mkdtemp(prefix="run-", dir=run.work_root))
    input_dir, output_dir = work / "input", work / "output"
    try:
        input_dir.mkdir()
        staged = contract.stage(cases, input_dir)
        # The container's user is not the harness's: inputs world-readable, output writable.
        _chmod_tree(input_dir, dirs=0o755, files=0o644)
        timeout = cfg.limits.timeout_s * len(cases)
        result: ContainerResult | None = None
        engine_error = ""
        for attempt in range(cfg.limits.retries + 1):
            if output_dir.exists():
                shutil.rmtree(output_dir)
            output_dir.mkdir()
            os.chmod(output_dir, 0o777)
            try:
                result = run_container(
                    run.client,
                    run.image,
                    input_dir,
                    output_dir,
                    limits=cfg.limits,
                    timeout_s=timeout,
                    labels={LABEL_RUN_ID: run.run_id, LABEL_OUT_DIR: str(run.out_dir)},
                    log_bytes=cfg.log_bytes,
                    model_dir=run.model_dir,
                )
                break
            except Exception as exc:
                if not is_engine_failure(exc):
                    raise
                engine_error = f"the Docker engine failed (attempt {attempt + 1}): {exc}"
                if attempt < cfg.limits.retries:
                    time.sleep(min(5.0, 0.5 * 2**attempt))
        return [
            _finish_case(run, s, result, output_dir, engine_error, attempt_of, len(staged))
            for s in staged
        ]
    finally:
        shutil.rmtree(work, ignore_errors=False)


def _finish_case(
    run: _Run,
    staged: StagedCase,
    result: ContainerResult | None,
    output_dir: Path,
    engine_error: str,
    attempt_of: dict[str, int],
    cases_in_run: int,
    server: dict[str, Any] | None = None,
) -> CaseRecord:
    cfg = run.config
    pred_path = run.out_dir / "predictions" / f"{staged.case_id}.nii.gz"
    log_path = run.out_dir / "logs" / f"{staged.case_id}.log"
    verdict = case_verdict(
        result,
        staged,
        output_dir,
        contract=run.contract,
        limits=cfg.limits,
        gate=cfg.gate,
        cases_in_run=cases_in_run,
        engine_error=engine_error,
    )
    status, reason = verdict.status, verdict.reason
    exit_code, wall, peak, log = (
        (result.exit_code, result.wall_time_s, result.peak_memory_bytes, result.log)
        if result is not None
        else (None, 0.0, None, "")
    )
    prediction = ""
    if verdict.mask is not None:
        save_mask(verdict.mask, staged.grid, pred_path)
        prediction = f"predictions/{staged.case_id}.nii.gz"
    if status != "ok" and pred_path.exists():
        pred_path.unlink()  # a stale mask from an earlier attempt must not be scored
    header = (
        f"# selma3d case {staged.case_id}: {status}"
        f"{' - ' + reason if reason else ''}\n# exit code {exit_code}, wall {wall:.2f} s, "
        f"peak memory {peak} bytes, image {run.image.digest}\n"
    )
    if server is not None:
        header += (
            f"# invoke server {server['server']}: started in {server['startup_s']:.2f} s; the "
            "wall time is the POST /invoke's\n"
        )
    write_atomic(log_path, header + log)
    record = CaseRecord(
        case_id=staged.case_id,
        status=status,
        exit_code=exit_code,
        wall_time_s=round(wall, 3),
        peak_memory_bytes=peak,
        image_digest=run.image.digest,
        reason=reason,
        run_id=run.run_id,
        contract=run.contract.name,
        attempt=attempt_of.get(staged.case_id, 1),
        finished_at=now(),
        prediction=prediction,
        log=f"logs/{staged.case_id}.log",
        server=server["server"] if server is not None else None,
        startup_s=server["startup_s"] if server is not None else None,
    )
    append_record(run.out_dir / RECORDS_NAME, record, run.lock)
    run.on_record(record)
    return record


@contextlib.contextmanager
def _exclusive(out_dir: Path) -> Iterator[None]:
    fh = (out_dir / ".lock").open("w")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise Selma3dError(
                f"{out_dir}: another selma3d run is writing into this folder."
            ) from exc
        yield
    finally:
        fh.close()


def _batches(cases: Sequence[Case], contract: Contract, jobs: int) -> list[list[Case]]:
    if contract.per_case:
        return [[c] for c in cases]
    n = max(1, min(jobs, len(cases)))
    return [list(cases[i::n]) for i in range(n) if cases[i::n]]


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
    from harness.containers.engine import connect

    t_start = time.perf_counter()
    client = client if client is not None else connect()
    split = split if isinstance(split, Split) else load_split(split)
    info = image if isinstance(image, ImageInfo) else resolve_image(image, client=client)
    if is_root_user(info.user) and not config.allow_root:
        raise SubmissionError(
            f"image {info.ref} runs as root (configured user {info.user or 'empty'!r}); add a "
            "non-root user and `USER` to its Dockerfile (see submissions/template), or pass "
            "--allow-root if the organizers accept it."
        )
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
    model = prepare_model(config.model) if config.model is not None else None
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    with _exclusive(out):
        return _run_locked(client, info, split, out, config, on_record, t_start, model)


def _run_locked(
    client: Any,
    info: ImageInfo,
    split: Split,
    out: Path,
    config: RunConfig,
    on_record: Callable[[CaseRecord], None] | None,
    t_start: float,
    model: ModelInfo | None,
) -> RunSummary:
    previous = read_run(out)
    if previous:
        before = (previous.get("image") or {}).get("digest")
        if before and before != info.digest:
            raise SubmissionError(
                f"{out}: this folder holds results of image {before}, but {info.ref} is now "
                f"{info.digest}; refusing to mix two images in one run. Use a new --out folder."
            )
        split_before = (previous.get("split") or {}).get("content_hash")
        if split_before and split_before != split.content_hash:
            raise Selma3dError(
                f"{out}: this folder holds results on split {split_before}, but {split.root} is "
                f"now {split.content_hash}; use a new --out folder."
            )
        model_before = (previous.get("model") or {}).get("sha256")
        model_now = model.sha256 if model is not None else None
        if previous.get("run_id") and model_before != model_now:
            raise SubmissionError(
                f"{out}: this folder holds results with model {model_before or 'none'}, but "
                f"this run's model is {model_now or 'none'}; refusing to mix two models in one "
                "run. Use a new --out folder."
            )
        if previous.get("contract") and previous["contract"] != config.contract:
            raise Selma3dError(
                f"{out}: this folder holds a {previous['contract']!r} run; got --contract "
                f"{config.contract!r}. Use a new --out folder."
            )
    run_id = str(previous.get("run_id") or uuid.uuid4().hex[:12])
    orphans = remove_run_containers(client, run_id)
    work_root = Path(config.work_dir) if config.work_dir else out / ".work"
    if not config.work_dir and work_root.exists():
        shutil.rmtree(work_root)  # staging folders of an interrupted run
    work_root.mkdir(parents=True, exist_ok=True)

    records = read_records(out)
    known = set(split.case_ids)
    pending = [
        c
        for c in split.cases
        if c.case_id not in records
        # A failure not charged to the team (the engine's) is always run again.
        or (records[c.case_id].status != "ok" and not STATUS[records[c.case_id].status].charged)
        or (config.retry_failed and records[c.case_id].status != "ok")
    ]
    attempt_of = {
        c.case_id: (records[c.case_id].attempt + 1 if c.case_id in records else 1) for c in pending
    }
    meta = {
        "run_id": run_id,
        "image": asdict(info),
        "split": {
            "root": str(split.root),
            "content_hash": split.content_hash,
            "n_cases": len(split.cases),
        },
        "contract": config.contract,
        "api_method": "invoke" if info.invoke else "exec",
        "model": model.as_record() if model is not None else None,
        "config": config.as_record(),
        "started_at": previous.get("started_at") or now(),
        "updated_at": now(),
        "state": "running",
        "orphans_removed": orphans,
    }
    write_run(out, meta)

    contract = config.make_contract()
    run = _Run(
        client=client,
        image=info,
        config=config,
        contract=contract,
        out_dir=out,
        run_id=run_id,
        work_root=work_root,
        model=model,
        first_server=len(previous.get("servers", [])) + 1,
    )
    stopped_early = False
    determinism = previous.get("determinism")
    try:
        stopped_early = _execute(run, pending, attempt_of, on_record)
        if config.determinism and not stopped_early and (pending or determinism is None):
            determinism = _rerun_one(run, split, read_records(out))
    except BaseException:
        # Interrupted (Ctrl-C) or a harness bug: leave no container behind.
        remove_run_containers(client, run_id)
        raise
    finally:
        if work_root.exists() and not any(work_root.iterdir()) and not config.work_dir:
            work_root.rmdir()
    final = {k: v for k, v in read_records(out).items() if k in known}
    summary = RunSummary(
        out_dir=out,
        run_id=run_id,
        image=info,
        records=final,
        n_cases=len(split.cases),
        ran=len(pending),
        stopped_early=stopped_early,
        wall_time_s=time.perf_counter() - t_start,
        servers=list(run.servers),
    )
    meta.update(
        updated_at=now(),
        finished_at=now(),
        state="stopped_by_canary" if stopped_early else "finished",
        counts=summary.counts,
        passed=summary.passed,
        servers=[*previous.get("servers", []), *run.servers],
        determinism=determinism,
    )
    write_run(out, meta)
    return summary


def _rerun_one(run: _Run, split: Split, records: dict[str, CaseRecord]) -> dict[str, Any]:
    """Run the first ``ok`` case once more, apart, and compare its mask with the recorded one.

    A submission whose two masks differ is flagged in ``run.json`` (``determinism``), never
    failed: no platform requires determinism, but a leaderboard reader should know.
    """
    ok = [c for c in split.cases if c.case_id in records and records[c.case_id].status == "ok"]
    if not ok:
        return {"case_id": None, "identical": None, "reason": "no case was ok: nothing to compare"}
    case = ok[0]
    work = Path(tempfile.mkdtemp(prefix="rerun-", dir=run.work_root))
    try:
        if run.image.invoke:
            slot = _Slot(run, -1)
            try:
                staged = slot.stage(case)
                engine_error = slot.start_server()
                outcome = (
                    slot.server.invoke(timeout_s=run.config.limits.timeout_s)
                    if slot.server is not None
                    else None
                )
                result = outcome.result if outcome is not None else None
                verdict = case_verdict(
                    result,
                    staged,
                    slot.output_dir,
                    contract=run.contract,
                    limits=run.config.limits,
                    gate=run.config.gate,
                    cases_in_run=1,
                    engine_error=engine_error or "the server did not start",
                )
            finally:
                slot.close()
        else:
            input_dir, output_dir = work / "input", work / "output"
            input_dir.mkdir()
            output_dir.mkdir()
            os.chmod(output_dir, 0o777)
            staged = run.contract.stage([case], input_dir)[0]
            _chmod_tree(input_dir, dirs=0o755, files=0o644)
            result = run_container(
                run.client,
                run.image,
                input_dir,
                output_dir,
                limits=run.config.limits,
                timeout_s=run.config.limits.timeout_s,
                labels={LABEL_RUN_ID: run.run_id, LABEL_OUT_DIR: str(run.out_dir)},
                log_bytes=run.config.log_bytes,
                model_dir=run.model_dir,
            )
            verdict = case_verdict(
                result,
                staged,
                output_dir,
                contract=run.contract,
                limits=run.config.limits,
                gate=run.config.gate,
                cases_in_run=1,
            )
    finally:
        shutil.rmtree(work)
    first = read_volume(run.out_dir / records[case.case_id].prediction).array
    return compare_runs(
        case.case_id, first, verdict.mask, status=verdict.status, reason=verdict.reason
    )


def compare_runs(
    case_id: str,
    first: np.ndarray,
    second: np.ndarray | None,
    *,
    status: str = "ok",
    reason: str = "",
) -> dict[str, Any]:
    """How a second run of a case compares with its recorded run: ``run.json``'s ``determinism``.

    Parameters
    ----------
    case_id : str
    first : (Z, Y, X) ndarray
        The recorded mask (0/1).
    second : (Z, Y, X) ndarray or None
        The second run's mask on the same grid; None when the second run was not ``ok``.
    status, reason : str, keyword-only
        The second run's case status and its reason (as in ``cases.jsonl``).

    Returns
    -------
    dict
        ``case_id``; ``status``, the second run's; ``identical``, whether no voxel differs,
        or None when the second run failed (nothing was compared, so nothing is flagged: a
        failure of the rerun is never charged to the team); ``differing_voxels``,
        ``count(first != second)``, when compared; ``reason``, empty when identical.

    Raises
    ------
    ValueError
        The two masks have different shapes.
    """
    if second is None:
        return {
            "case_id": case_id,
            "status": status,
            "identical": None,
            "reason": f"the second run ended {status}: {reason}; nothing was compared",
        }
    if first.shape != second.shape:
        raise ValueError(
            f"case {case_id}: the recorded mask has shape {first.shape}, the second run's "
            f"{second.shape}; both must be on the case's grid."
        )
    differing = int(np.count_nonzero(first != second))
    return {
        "case_id": case_id,
        "status": "ok",
        "identical": differing == 0,
        "differing_voxels": differing,
        "reason": ""
        if differing == 0
        else f"{differing} of {first.size} voxels differ between two runs of the same case",
    }


def _execute(
    run: _Run,
    pending: list[Case],
    attempt_of: dict[str, int],
    on_record: Callable[[CaseRecord], None] | None,
) -> bool:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
            return _execute_invoke(run, pending, attempt_of)
    batches = _batches(pending, run.contract, cfg.limits.jobs)
    with progress:
        if cfg.canary and batches:
            first = [batches[0][0]]
            rest = [b for b in [batches[0][1:], *batches[1:]] if b]
            recs = _run_batch(run, first, attempt_of)
            if any(r.status != "ok" for r in recs):
                return True
            batches = _batches([c for b in rest for c in b], run.contract, cfg.limits.jobs)
        if not batches:
            return False
        with ThreadPoolExecutor(
            max_workers=cfg.limits.jobs, thread_name_prefix="selma3d-case"
        ) as pool:
            futures: set[Future[list[CaseRecord]]] = {
                pool.submit(_run_batch, run, b, attempt_of) for b in batches
            }
            try:
                while futures:
                    done, futures = wait(futures, return_when=FIRST_COMPLETED)
                    for f in done:
                        f.result()  # a harness bug in a worker surfaces here, not silently
            except BaseException:
                for f in futures:
                    f.cancel()
                # Kill what runs now so the pool's workers return at once, then re-raise.
                remove_run_containers(run.client, run.run_id)
                raise
    return False


def _clear_folder(folder: Path) -> None:
    """Empty ``folder`` in place (a bind mount keeps its folder), never following a link."""
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


class _Slot:
    """One job slot of an invoke run: its ``/input`` and ``/output`` folders and its server.

    The server starts with the slot's first case and serves the next ones until it times out,
    dies or overfills ``/output``; a fresh one then serves the rest.
    """

    def __init__(self, run: _Run, index: int) -> None:
        self.run = run
        self.index = index
        self.dir = Path(tempfile.mkdtemp(prefix=f"slot{index}-", dir=run.work_root))
        self.input_dir, self.output_dir = self.dir / "input", self.dir / "output"
        self.input_dir.mkdir()
        self.output_dir.mkdir()
        # The container's user is not the harness's: inputs world-readable, output writable.
        os.chmod(self.input_dir, 0o755)
        os.chmod(self.output_dir, 0o777)
        self.server: InvokeServer | None = None
        self.entry: dict[str, Any] | None = None

    def work(self, queue: list[Case], attempt_of: dict[str, int]) -> None:
        """Run cases from the shared ``queue`` until it is empty."""
        while True:
            with self.run.lock:
                if not queue:
                    return
                case = queue.pop(0)
            self.run_case(case, attempt_of)

    def run_case(self, case: Case, attempt_of: dict[str, int]) -> CaseRecord:
        """Stage ``case``, start a server if there is none, invoke it, and record the case."""
        run = self.run
        staged = self.stage(case)
        engine_error = ""
        if self.server is None and run.startup_failure is None:
            engine_error = self.start_server()
        if run.startup_failure is not None and self.server is None:
            status, reason, log = run.startup_failure
            never = ContainerResult(None, False, False, 0.0, None, log, failure=(status, reason))
            return _finish_case(run, staged, never, self.output_dir, "", attempt_of, 1)
        if self.server is None:
            return _finish_case(run, staged, None, self.output_dir, engine_error, attempt_of, 1)
        outcome = self.server.invoke(timeout_s=run.config.limits.timeout_s)
        if self.entry is not None:
            self.entry["cases"] += 1
        record = _finish_case(
            run, staged, outcome.result, self.output_dir, "", attempt_of, 1, server=self.entry
        )
        if outcome.server_gone:
            self.stop(ended=record.status)
        elif run.config.reuse == "case":
            # One job per server, as grand-challenge runs them: the next case starts afresh.
            self.stop(ended="finished")
        return record

    def stage(self, case: Case) -> StagedCase:
        """Empty the slot's ``/input`` and ``/output`` and stage ``case`` alone."""
        _clear_folder(self.input_dir)
        _clear_folder(self.output_dir)
        staged = self.run.contract.stage([case], self.input_dir)[0]
        _chmod_tree(self.input_dir, dirs=0o755, files=0o644)
        return staged

    def start_server(self) -> str:
        """Start a server (retrying engine failures); return the engine's error, or ``""``."""
        run = self.run
        limits = run.config.limits
        error = ""
        for attempt in range(limits.retries + 1):
            with run.lock:
                number = run.first_server + len(run.servers)
                entry: dict[str, Any] = {"server": number, "slot": self.index, "cases": 0}
                run.servers.append(entry)
            server = InvokeServer(
                run.client,
                run.image,
                self.input_dir,
                self.output_dir,
                self.dir / f"relay-{number}",
                limits=limits,
                labels={LABEL_RUN_ID: run.run_id, LABEL_OUT_DIR: str(run.out_dir)},
                log_bytes=run.config.log_bytes,
                model_dir=run.model_dir,
            )
            try:
                startup: Startup = server.start(startup_timeout_s=limits.startup_timeout_s)
            except Exception as exc:
                server.close()
                if not is_engine_failure(exc):
                    raise
                entry.update(startup_s=None, ended="infrastructure_error")
                error = (
                    f"the Docker engine failed starting the server (attempt {attempt + 1}): {exc}"
                )
                if attempt < limits.retries:
                    time.sleep(min(5.0, 0.5 * 2**attempt))
                continue
            entry.update(startup_s=round(startup.startup_s, 3), healthy=startup.healthy)
            if not startup.healthy:
                server.close()
                entry["ended"] = startup.status
                with run.lock:
                    if run.startup_failure is None:
                        run.startup_failure = (startup.status, startup.reason, startup.log)
                return ""
            self.server, self.entry = server, entry
            return ""
        return error

    def stop(self, *, ended: str) -> None:
        """Remove the server, if any."""
        if self.server is not None:
            self.server.close()
            if self.entry is not None:
                self.entry.setdefault("ended", ended)
        self.server = self.entry = None

    def close(self) -> None:
        """Remove the server and the slot's folders."""
        self.stop(ended="finished")
        shutil.rmtree(self.dir)


def _execute_invoke(run: _Run, pending: list[Case], attempt_of: dict[str, int]) -> bool:
    """Run the pending cases on invoke servers, one per job slot; True if the canary stopped it."""
    queue = list(pending)
    slots = [_Slot(run, 0)]
    try:
        if run.config.canary and queue:
            record = slots[0].run_case(queue.pop(0), attempt_of)
            if record.status != "ok":
                return True
        slots += [_Slot(run, i) for i in range(1, min(run.config.limits.jobs, len(queue)))]
        if len(slots) == 1:
            slots[0].work(queue, attempt_of)
            return False
        with ThreadPoolExecutor(max_workers=len(slots), thread_name_prefix="selma3d-slot") as pool:
            futures = [pool.submit(slot.work, queue, attempt_of) for slot in slots]
            try:
                for f in futures:
                    f.result()  # a harness bug in a worker surfaces here, not silently
            except BaseException:
                with run.lock:
                    queue.clear()
                remove_run_containers(run.client, run.run_id)
                raise
        return False
    finally:
        for slot in slots:
            slot.close()
