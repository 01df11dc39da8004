"""The state of one runner call and the finishing of each case, shared by exec and invoke runs.

:func:`finish_case` judges a container's outcome, keeps its mask and log, and appends the case's
record; every way a case runs ends there.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.files import write_atomic
from harness.containers.contracts import Contract, StagedCase
from harness.containers.images import ImageInfo
from harness.containers.isolation import (
    ContainerResult,
)
from harness.containers.model import ModelInfo
from harness.containers.records import CaseRecord, log_name, now, prediction_name
from harness.containers.run_config import RunConfig
from harness.containers.run_folder import RunFolder
from harness.containers.verdicts import CaseVerdict, case_verdict
from harness.predictions.validate import save_mask

__all__ = ["OUTPUT_CHANGED", "RunState", "finish_case"]

OUTPUT_CHANGED = (
    "/output changed while selma3d read it (files appeared or vanished after the container's "
    "answer); its output was not used"
)
# What reading a folder another process still writes raises.
_CHANGED_UNDER_READ = (errno.ENOENT, errno.ENOTDIR, errno.ENOTEMPTY, errno.ESTALE)


@dataclass
class RunState:
    """One runner call as its case runs see it: engine, image, settings, folders, servers."""

    client: Any
    image: ImageInfo
    config: RunConfig
    contract: Contract
    folder: RunFolder
    work_root: Path
    model: ModelInfo | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    on_record: Callable[[CaseRecord], None] = lambda r: None
    servers: list[dict[str, Any]] = field(default_factory=list)
    first_server: int = 1
    # (status, reason, log) of a server that never became healthy: every later case gets it.
    startup_failure: tuple[str, str, str] | None = None

    @property
    def out_dir(self) -> Path:
        """The run folder."""
        return self.folder.path

    @property
    def run_id(self) -> str:
        """The run's id, which labels its containers."""
        return self.folder.run_id

    @property
    def model_dir(self) -> Path | None:
        """The prepared model folder mounted at ``/opt/ml/model``, if any."""
        return self.model.path if self.model is not None else None


def finish_case(
    run: RunState,
    staged: StagedCase,
    result: ContainerResult | None,
    output_dir: Path,
    engine_error: str,
    attempt_of: dict[str, int],
    cases_in_run: int,
    server: dict[str, Any] | None = None,
) -> CaseRecord:
    """Judge one case's container outcome, keep its mask and log, and append its record."""
    cfg = run.config
    pred_path = run.out_dir / prediction_name(staged.case_id)
    log_path = run.out_dir / log_name(staged.case_id)
    try:
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
    except OSError as exc:
        if exc.errno not in _CHANGED_UNDER_READ:
            raise
        # A server that keeps writing after its answer: the error names a host path, not shown.
        verdict = CaseVerdict("invalid_output", OUTPUT_CHANGED)
    status, reason = verdict.status, verdict.reason
    exit_code, wall, peak, log = (
        (result.exit_code, result.wall_time_s, result.peak_memory_bytes, result.log)
        if result is not None
        else (None, 0.0, None, "")
    )
    prediction = ""
    if verdict.mask is not None:
        save_mask(verdict.mask, staged.grid, pred_path)
        prediction = prediction_name(staged.case_id)
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
        log=log_name(staged.case_id),
        server=server["server"] if server is not None else None,
        startup_s=server["startup_s"] if server is not None else None,
    )
    run.folder.append(record)
    run.on_record(record)
    return record
