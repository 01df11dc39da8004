"""Helpers shared by the integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable

import pytest


def _kill_when(
    proc: subprocess.Popen,
    ready: Callable[[], bool],
    *,
    within_s: float,
    poll_s: float,
    output: Callable[[], str],
) -> None:
    """Wait until ``ready()``, then SIGKILL ``proc``'s process group (it must lead a new
    session). The process is killed and reaped whatever happens, so a failing test leaves no
    harness running on into the next one."""
    deadline = time.monotonic() + within_s
    try:
        while time.monotonic() < deadline:
            if ready():
                break
            if proc.poll() is not None:
                pytest.fail(f"the run ended before it could be killed:\n{output()}")
            time.sleep(poll_s)
        else:
            pytest.fail(f"the run was not ready to be killed within {within_s:.0f} s")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture
def kill_when():  # type: ignore[no-untyped-def]
    """:func:`_kill_when`, for tests that kill a harness mid-run."""
    return _kill_when
