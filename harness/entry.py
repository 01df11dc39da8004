"""The ``selma3d`` console script's entry: Ctrl-C or SIGTERM is one line, even while loading.

Loading the command line (click, rich, every command's module) takes about a tenth of a second;
a Ctrl-C in that window would otherwise end in a traceback of whichever import it hit. Once the
commands are loaded, :func:`harness.cli.run` turns a Ctrl-C into the same line.

SIGTERM (``kill``, a batch system ending a job) ends a command as Ctrl-C does: Python's default
would end the process on the spot, leaving its containers running and its temporary copies of
the ground truth on disk.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

from harness.errors import EXIT_ABORTED, EXIT_TERMINATED, Terminated

__all__ = ["main"]


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def main() -> None:
    """Load the command line and run it; a stop while it loads is one line.

    Ctrl-C prints ``aborted`` (exit 130), SIGTERM ``terminated`` (exit 143).
    """
    signal.signal(signal.SIGTERM, _terminated)
    try:
        # Imported here, inside the guard: the import is the window this module closes.
        from harness.cli import main as run_command_line
    except KeyboardInterrupt:
        sys.stderr.write("aborted\n")
        sys.exit(EXIT_ABORTED)
    except Terminated:
        sys.stderr.write("terminated\n")
        sys.exit(EXIT_TERMINATED)
    run_command_line()
