"""Temporary folders of hidden data: removed on exit, on Ctrl-C, and after a real kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.containers.scratch import owned_scratch, remove_abandoned

REPO = Path(__file__).resolve().parents[3]
PREFIX = "selma3d-test-scratch-"

HOLDER = """
import sys, time
from pathlib import Path
from harness.containers.scratch import owned_scratch
with owned_scratch(sys.argv[1], root=Path(sys.argv[2])) as d:
    (d / "hidden.nii.gz").write_bytes(b"label")
    print(d, flush=True)
    time.sleep(600)
"""


def _holder(root: Path) -> tuple[subprocess.Popen, Path]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, PREFIX, str(root)], cwd=REPO, stdout=subprocess.PIPE,
        text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    line = proc.stdout.readline().strip()
    if not line:
        proc.kill()
        pytest.fail("the holder process printed no folder")
    return proc, Path(line)


def test_the_folder_is_removed_on_exit_and_on_ctrl_c(tmp_path):
    with owned_scratch(PREFIX, root=tmp_path) as d:
        (d / "x").write_text("hidden")
    assert not d.exists()
    with pytest.raises(KeyboardInterrupt), owned_scratch(PREFIX, root=tmp_path) as d:
        (d / "x").write_text("hidden")
        raise KeyboardInterrupt
    assert not d.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_living_owner_keeps_its_folder_and_a_killed_ones_is_removed_next_time(tmp_path):
    proc, held = _holder(tmp_path)
    try:
        assert remove_abandoned(PREFIX, root=tmp_path) == []
        with owned_scratch(PREFIX, root=tmp_path):
            assert (held / "hidden.nii.gz").read_bytes() == b"label"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert held.exists()  # kill -9: nothing could clean up
        with owned_scratch(PREFIX, root=tmp_path) as fresh:
            assert not held.exists()
            assert fresh.exists()
        assert list(tmp_path.iterdir()) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def test_a_folder_without_owner_file_is_left_while_young(tmp_path):
    other = tmp_path / f"{PREFIX}other"
    other.mkdir()
    assert remove_abandoned(PREFIX, root=tmp_path) == []
    old = time.time() - 3600
    os.utime(other, (old, old))
    assert remove_abandoned(PREFIX, root=tmp_path) == [other]
