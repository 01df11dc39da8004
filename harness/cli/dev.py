"""Command group ``dev``: the developers' commands, apart from the participants' and organizers'.

``selma3d dev baselines`` remakes the shipped baseline artefacts and their results table; the
work is :mod:`harness.develop.experiments`'s. The group was ``selma3d baselines`` before; that
spelling still works for one release, with a deprecation message.
"""

from __future__ import annotations

import click

from harness.cli.baselines import baselines
from harness.cli.options import Group, warn_deprecated

__all__ = ["COMMANDS", "dev"]


@click.group(cls=Group, commands=[baselines])
def dev() -> None:
    """Developer commands: remake the shipped baselines (weights, parameters, results table)."""


@click.group(
    "baselines",
    cls=Group,
    commands=list(baselines.commands.values()),
    hidden=True,
    help="Deprecated: the same as `selma3d dev baselines`.",
)
@click.pass_context
def _old_baselines(ctx: click.Context) -> None:
    root = ctx.parent.command_path if ctx.parent else "selma3d"
    warn_deprecated("baselines", f"{root} dev baselines", command=root)


COMMANDS: list[click.Command] = [dev, _old_baselines]
