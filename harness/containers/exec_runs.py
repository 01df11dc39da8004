"""Exec runs: cases staged into a fresh folder and run in one container per batch.

The grand-challenge contract runs one case per container; the folder contract batches cases,
one batch per job slot.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from harness.containers.canary import after_canary, canary_split
from harness.containers.cleanup import chmod_tree, remove_tree
from harness.containers.contracts import Contract
from harness.containers.isolation import (
    LABEL_OUT_DIR,
    LABEL_RUN_ID,
    ContainerResult,
    is_engine_failure,
    remove_run_containers,
    run_container,
)
from harness.containers.records import CaseRecord
from harness.containers.run_state import RunState, finish_case
from harness.split.manifest import Case

__all__ = ["exec_batches", "execute_exec", "run_exec_batch"]


def run_exec_batch(
    run: RunState, cases: Sequence[Case], attempt_of: dict[str, int]
) -> list[CaseRecord]:
    """Stage ``cases`` into a fresh folder, run one container on them, and finish each case."""
    cfg = run.config
    contract = run.contract
    work = Path(tempfile.mkdtemp(prefix="run-", dir=run.work_root))
    input_dir, output_dir = work / "input", work / "output"
    try:
        input_dir.mkdir()
        staged = contract.stage(cases, input_dir)
        # The container's user is not the harness's: inputs world-readable, output writable.
        chmod_tree(input_dir, dirs=0o755, files=0o644)
        timeout = cfg.limits.timeout_s * len(cases)
        result: ContainerResult | None = None
        engine_error = ""
        for attempt in range(cfg.limits.retries + 1):
            if output_dir.exists():
                remove_tree(output_dir)
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
            finish_case(run, s, result, output_dir, engine_error, attempt_of, len(staged))
            for s in staged
        ]
    finally:
        remove_tree(work)


def exec_batches(cases: Sequence[Case], contract: Contract, jobs: int) -> list[list[Case]]:
    """One case per batch for a per-case contract; else ``jobs`` interleaved batches at most."""
    if contract.per_case:
        return [[c] for c in cases]
    n = max(1, min(jobs, len(cases)))
    return [list(cases[i::n]) for i in range(n) if cases[i::n]]


def execute_exec(run: RunState, pending: list[Case], attempt_of: dict[str, int]) -> bool:
    """Run the pending cases in batches, ``jobs`` at once; True if the canary stopped the run."""
    cfg = run.config
    canary = canary_split(pending, canary=cfg.canary)
    if canary is not None:
        first, pending = canary
        record = run_exec_batch(run, first, attempt_of)[0]
        if not after_canary(record, held=len(pending)).send_rest:
            return True
    batches = exec_batches(pending, run.contract, cfg.limits.jobs)
    if not batches:
        return False
    with ThreadPoolExecutor(max_workers=cfg.limits.jobs, thread_name_prefix="selma3d-case") as pool:
        futures: set[Future[list[CaseRecord]]] = {
            pool.submit(run_exec_batch, run, b, attempt_of) for b in batches
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
