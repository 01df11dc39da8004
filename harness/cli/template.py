"""Command ``template``: a participant's starting point, written out of the installed package."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.options import Command

__all__ = ["COMMANDS", "template_command"]


@click.command("template", cls=Command)
@click.argument(
    "folder",
    type=click.Path(path_type=Path),
    help="The new submission folder (new or empty; nothing is overwritten).",
)
@click.option(
    "--example",
    default="template",
    show_default=True,
    help="Which shipped submission to copy: the template or a baseline (baseline-threshold, ...).",
)
def template_command(folder: Path, example: str) -> None:
    """Write the submission template (Dockerfile, predict.py, README, CI workflow) into FOLDER.

    FOLDER must be new or empty: nothing is ever overwritten. Then build and check it with
    `selma3d check FOLDER --split SAMPLE`.
    """
    # Loaded when the command runs: the CLI starts in 0.1 s, the library takes 1 s.
    from harness.assets import write_submission

    written = write_submission(folder, example=example)
    for path in sorted(p for p in written.rglob("*") if p.is_file()):
        click.echo(path.relative_to(written).as_posix())
    click.echo(f"wrote the {example} submission into {written}")


COMMANDS: list[click.Command] = [template_command]
