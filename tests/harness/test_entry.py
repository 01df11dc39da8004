"""The console script's entry: a Ctrl-C while the command line loads is one line, exit 130."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

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


def _env() -> dict[str, str]:
    root = str(Path(harness.__file__).resolve().parent.parent)
    return {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}


def test_a_ctrl_c_while_the_command_line_loads_prints_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_IMPORT, "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_env(),
        timeout=60,
    )
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "aborted\n")


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
