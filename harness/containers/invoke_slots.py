"""Invoke runs: one server per job slot, started once and reused for the slot's cases."""

from __future__ import annotations

import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness.containers.canary import after_canary, canary_split
from harness.containers.cleanup import chmod_tree, empty_folder, remove_tree
from harness.containers.contracts import StagedCase
from harness.containers.invoke import InvokeServer, Startup
from harness.containers.isolation import (
    LABEL_OUT_DIR,
    LABEL_RUN_ID,
    ContainerResult,
    is_engine_failure,
    remove_run_containers,
)
from harness.containers.records import CaseRecord
from harness.containers.run_state import RunState, finish_case
from harness.split.manifest import Case

__all__ = ["Slot", "clear_folder", "execute_invoke"]


def clear_folder(folder: Path) -> None:
    """Empty ``folder`` in place (a bind mount keeps its folder), never following a link.

    Raises
    ------
    OSError
        A process still writes into it, or it holds what cannot be removed.
    """
    empty_folder(folder)


class Slot:
    """One job slot of an invoke run: its ``/input`` and ``/output`` folders and its server.

    The server starts with the slot's first case and serves the next ones until it times out,
    dies or overfills ``/output``; a fresh one then serves the rest.
    """

    def __init__(self, run: RunState, index: int) -> None:
        self.run = run
        self.index = index
        self._make_folders()
        self.server: InvokeServer | None = None
        self.entry: dict[str, Any] | None = None

    def _make_folders(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"slot{self.index}-", dir=self.run.work_root))
        self.input_dir, self.output_dir = self.dir / "input", self.dir / "output"
        self.input_dir.mkdir()
        self.output_dir.mkdir()
        # The container's user is not the harness's: inputs world-readable, output writable.
        os.chmod(self.input_dir, 0o755)
        os.chmod(self.output_dir, 0o777)

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
            return finish_case(run, staged, never, self.output_dir, "", attempt_of, 1)
        if self.server is None:
            return finish_case(run, staged, None, self.output_dir, engine_error, attempt_of, 1)
        outcome = self.server.invoke(timeout_s=run.config.limits.timeout_s)
        if self.entry is not None:
            self.entry["cases"] += 1
        record = finish_case(
            run, staged, outcome.result, self.output_dir, "", attempt_of, 1, server=self.entry
        )
        if outcome.server_gone:
            self.stop(ended=record.status)
        elif run.config.reuse == "case":
            # One job per server, as grand-challenge runs them: the next case starts afresh.
            self.stop(ended="finished")
        return record

    def stage(self, case: Case) -> StagedCase:
        """Empty the slot's ``/input`` and ``/output`` and stage ``case`` alone.

        A server still writing into ``/output`` after its answer (or leaving there what cannot
        be removed while it runs) is stopped, and the slot takes fresh folders: the next case
        starts a fresh server, and nothing it left reaches another case or stops the run.
        """
        try:
            clear_folder(self.input_dir)
            clear_folder(self.output_dir)
        except OSError:
            self.stop(ended="output_not_cleared")
            self.renew()
        staged = self.run.contract.stage([case], self.input_dir)[0]
        chmod_tree(self.input_dir, dirs=0o755, files=0o644)
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
                relay_image=run.config.relay_image,
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

    def renew(self) -> None:
        """Replace the slot's folders by fresh ones (its server stopped), removing the old."""
        old = self.dir
        self._make_folders()
        remove_tree(old)

    def close(self) -> None:
        """Remove the server and the slot's folders."""
        self.stop(ended="finished")
        remove_tree(self.dir)


def execute_invoke(run: RunState, pending: list[Case], attempt_of: dict[str, int]) -> bool:
    """Run the pending cases on invoke servers, one per job slot; True if the canary stopped it."""
    queue = list(pending)
    slots = [Slot(run, 0)]
    try:
        canary = canary_split(queue, canary=run.config.canary)
        if canary is not None:
            (first,), queue = canary
            record = slots[0].run_case(first, attempt_of)
            if not after_canary(record, held=len(queue)).send_rest:
                return True
        slots += [Slot(run, i) for i in range(1, min(run.config.limits.jobs, len(queue)))]
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
