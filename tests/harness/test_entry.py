"""The console script's entry: a Ctrl-C or SIGTERM while the command line loads is one line.

Both once the command runs: tests/harness/cli/test_round.py (a round on a local cluster) and
tests/integration/test_evaluation_orphans.py (an evaluation container).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import harness

# A Ctrl-C arriving while click is being imported: an import hook raises it there, as the
# interpreter would on SIGINT at that moment.
INTERRUPTED_IMPORT = textwrap.dedent(
    """
    import sys

    class CtrlC:
        def find_spec(self, name, path=None, target=None):
            if name == "click":
                raise KeyboardInterrupt
            return None

    sys.meta_path.insert(0, CtrlC())
    from harness.entry import main
    main()
    """
)


# SIGTERM arriving at the same moment: the process sends it to itself there.
TERMINATED_IMPORT = INTERRUPTED_IMPORT.replace(
    "raise KeyboardInterrupt", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"
)


def _env() -> dict[str, str]:
    root = str(Path(harness.__file__).resolve().parent.parent)
    return {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}


@pytest.mark.parametrize(
    ("program", "code", "line"),
    [(INTERRUPTED_IMPORT, 130, "aborted\n"), (TERMINATED_IMPORT, 143, "terminated\n")],
    ids=["ctrl-c", "sigterm"],
)
def test_a_ctrl_c_while_the_command_line_loads_prints_one_line(tmp_path, program, code, line):
    done = subprocess.run(
        [sys.executable, "-c", program, "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_env(),
        timeout=60,
    )
    assert (done.returncode, done.stdout, done.stderr) == (code, "", line)


def test_python_dash_m_harness_runs_the_command_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "harness", "--version"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("selma3d, version ")
