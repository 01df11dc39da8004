"""The ``selma3d`` command line: one module per command group, thin wrappers over the library.

The options the commands share are defined once, in :mod:`harness.cli.options`.

Exit codes are defined with the errors they come from, in :mod:`harness.errors`.
"""

from __future__ import annotations

import sys

import click
from rich.console import Console

from common.errors import Selma3dError
from common.terminal import as_text
from harness.cli import containers, data, dev, evaluate, leaderboard, round, template, worker
from harness.cli.options import Group
from harness.errors import (
    EXIT_ABORTED,
    EXIT_BAD_INPUT,
    EXIT_ENGINE,
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_TERMINATED,
    ClusterError,
    EngineError,
    Terminated,
)

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_ENGINE",
    "EXIT_FAILED",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "cli",
    "main",
    "run",
]


@click.group(
    cls=Group,
    context_settings={"help_option_names": ["-h", "--help"]},
    # One module per command group; each module lists its commands once.
    commands=[
        command
        for module in (data, evaluate, containers, leaderboard, round, template, worker, dev)
        for command in module.COMMANDS
    ],
)
@click.version_option(package_name="selma3d")
def cli() -> None:
    """Run 3D light-sheet segmentation challenges: containers, metrics, leaderboards."""


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``selma3d`` console script: run the command, exit with its code."""
    # The process is the command's own: scoring cases reuses freed memory instead of refaulting
    # it. Set here and not in :func:`run`, so a caller's process keeps its allocator.
    from harness.scoring.allocator import keep_freed_memory

    keep_freed_memory()
    sys.exit(run(argv))


def run(argv: list[str] | None = None) -> int:
    """Run one ``selma3d`` command line in this process and return its exit code.

    Errors raised on purpose become exit 2 (bad input) or 3 (engine) with their message; anything
    else is a bug: its traceback is printed and the code is 4.
    """
    err = Console(stderr=True)
    try:
        # Without standalone mode click returns a command's ``ctx.exit(code)`` instead of exiting.
        code = cli.main(args=argv, prog_name="selma3d", standalone_mode=False)
        return code if isinstance(code, int) else EXIT_OK
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except Terminated:
        err.print("[red]terminated[/red]")
        return EXIT_TERMINATED
    except SystemExit as exc:
        # A command that ends with sys.exit(code), e.g. exit 1 for a submission that failed.
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    except click.ClickException as exc:
        exc.show()
        return EXIT_BAD_INPUT
    except click.exceptions.Abort:
        err.print("[red]aborted[/red]")
        return EXIT_ABORTED
    except ClusterError as exc:
        err.print(f"[red]cluster error:[/red] {as_text(exc)}", highlight=False)
        return EXIT_ENGINE
    except EngineError as exc:
        err.print(f"[red]engine error:[/red] {as_text(exc)}", highlight=False)
        return EXIT_ENGINE
    except Selma3dError as exc:
        err.print(f"[red]error:[/red] {as_text(exc)}", highlight=False)
        return EXIT_BAD_INPUT
    except Exception:
        # A bug, not a verdict on the submission: CI must not read it as exit code 1.
        err.print_exception()
        err.print("[red]internal error of selma3d; please report it with the traceback above[/red]")
        return EXIT_INTERNAL
