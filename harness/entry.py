"""The ``selma3d`` console script's entry: a Ctrl-C is one line, even while the commands load.

Loading the command line (click, rich, every command's module) takes about a tenth of a second;
a Ctrl-C in that window would otherwise end in a traceback of whichever import it hit. Once the
commands are loaded, :func:`harness.cli.run` turns a Ctrl-C into the same line.
"""

from __future__ import annotations

import sys

from harness.errors import EXIT_ABORTED

__all__ = ["main"]


def main() -> None:
    """Load the command line and run it; a Ctrl-C while it loads prints ``aborted`` alone."""
    try:
        # Imported here, inside the guard: the import is the window this module closes.
        from harness.cli import main as run_command_line
    except KeyboardInterrupt:
        sys.stderr.write("aborted\n")
        sys.exit(EXIT_ABORTED)
    run_command_line()
