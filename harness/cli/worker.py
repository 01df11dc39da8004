"""Command ``worker``: a Dask worker that runs a round's container and scoring tasks."""

from __future__ import annotations

import click

from harness.cli.options import Command, engine_option, option

__all__ = ["COMMANDS"]


@click.command("worker", cls=Command)
@engine_option()
@click.argument(
    "scheduler_address",
    metavar="SCHEDULER_ADDRESS",
    help="The Dask scheduler's address, such as tcp://10.0.0.5:8786.",
)
@option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    old_names=("--slots",),
    help="Containers run at once on this machine (the worker's `slots` resource).",
)
@click.option(
    "--scoring",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Cases this machine scores at once, beside its containers (the `cpu` resource).",
)
@click.option("--gpus", help="GPUs offered to containers: 'all' or device ids such as 0,1.")
@click.option("--name", help="The worker's name in progress and the dashboard (default: host).")
@click.option(
    "--connect-timeout-s",
    "connect_timeout",
    type=click.FloatRange(min=0, min_open=True, max=3600),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="Wait this long for a Dask scheduler to answer at SCHEDULER_ADDRESS, then exit 2.",
)
def worker_command(
    scheduler_address: str,
    jobs: int,
    scoring: int,
    gpus: str | None,
    name: str | None,
    connect_timeout: float,
) -> None:
    """Serve a round's tasks from the Dask scheduler at SCHEDULER_ADDRESS until it stops.

    Waits at most --connect-timeout-s for the scheduler (exit 2 if none answers), checks this
    machine's Docker engine (exit 3 if none answers) and advertises its container slots
    (--jobs), scoring slots (--scoring) and GPUs. It needs the split and the round's folder at
    the same paths as the organizer's machine (a shared file system); see docs/cluster.md.
    """
    # Loaded when the command runs: the CLI starts in 0.1 s, the library takes 1 s.
    from harness.cli.options import scheduler_option_value
    from harness.rounds.cluster import serve_worker

    scheduler_option_value(scheduler_address, flag="SCHEDULER_ADDRESS")
    serve_worker(
        scheduler_address,
        slots=jobs,
        scoring=scoring,
        gpus=gpus,
        name=name,
        connect_timeout=connect_timeout,
    )


COMMANDS: list[click.Command] = [worker_command]
