"""The ``selma3d`` command line: one module per command group, thin wrappers over the library.

Exit codes
----------
0  success
1  the run finished but the submission did not pass (a case not ``ok``, a check failed)
2  bad input: configuration, split, volume or usage error (the message names the file)
3  the Docker engine is unreachable or failed (infrastructure, never the team's fault)
4  an internal error of selma3d itself (a bug: the traceback is printed)
"""

from __future__ import annotations

import sys

import click
from rich.console import Console

from harness.errors import EngineError, HarnessError

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_ENGINE",
    "EXIT_FAILED",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "cli",
    "main",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_ENGINE = 3
EXIT_INTERNAL = 4


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="selma3d")
def cli() -> None:
    """Run 3D light-sheet segmentation challenges: containers, metrics, leaderboards."""


def _register() -> None:
    # Imported here so each group's module stays the one place its command lives.
    from harness.cli import baselines, data, evaluate, leaderboard, round, runner

    for module in (data, evaluate, runner, leaderboard, baselines, round):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``selma3d`` console script."""
    err = Console(stderr=True)
    # The command's process is ours: scoring cases reuses freed memory instead of refaulting it.
    from harness.memory import keep_freed_memory

    keep_freed_memory()
    try:
        # Without standalone mode click returns a command's ``ctx.exit(code)`` instead of exiting.
        code = cli.main(args=argv, prog_name="selma3d", standalone_mode=False)
        if isinstance(code, int):
            sys.exit(code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_BAD_INPUT)
    except click.exceptions.Abort:
        err.print("[red]aborted[/red]")
        sys.exit(130)
    except EngineError as exc:
        err.print(f"[red]engine error:[/red] {exc}", highlight=False)
        sys.exit(EXIT_ENGINE)
    except HarnessError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(EXIT_BAD_INPUT)
    except Exception:
        # A bug, not a verdict on the submission: CI must not read it as exit code 1.
        err.print_exception()
        err.print("[red]internal error of selma3d; please report it with the traceback above[/red]")
        sys.exit(EXIT_INTERNAL)
