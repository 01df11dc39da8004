"""The ``selma3d evaluate`` command: score a folder of predictions against a labeled split."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from harness.cli.options import (
    Command,
    engine_option,
    gate_from_options,
    gate_options,
    metric_options,
    metrics_from_options,
    no_progress_option,
    option,
    out_option,
    profile_option,
    split_option,
)

__all__ = ["COMMANDS", "evaluate"]


@click.command("evaluate", cls=Command)
@engine_option()
@split_option("Split folder or its manifest.csv (must be labeled).")
@click.option(
    "--predictions",
    "predictions_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder of <case_id>.<ext> masks, or a `selma3d predict` output folder.",
)
@out_option("CSV to write (atomically).")
@option(
    "--processes",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    old_names=("--jobs",),
    help="Cases scored in parallel processes; results are identical to --processes 1.",
)
@click.option(
    "--container",
    default=None,
    help="An evaluation container (image reference, `docker save` tarball or folder) run on "
    "the predictions as grand-challenge runs it; its values go beside selma3d's.",
)
@click.option(
    "--ground-truth",
    "ground_truth",
    default=None,
    type=click.Path(path_type=Path),
    help="With --container: the ground truth tarball or folder it reads.",
)
@click.option("--team", default=None, help="Team name in the table [default: the folder's name].")
@metric_options()
@gate_options()
@profile_option("The edition's rules: which track (and metrics) each structure gets.")
@no_progress_option()
def evaluate(
    split_path: Path,
    predictions_dir: Path,
    out: Path,
    processes: int,
    team: str | None,
    connectivity: str | None,
    iou_threshold: float | None,
    matching: str | None,
    threshold: float | None,
    geometry: str,
    profile: str,
    container: str | None,
    ground_truth: Path | None,
    no_progress: bool,
) -> None:
    """Score predictions against a split; one CSV row per case with a status and the metrics.

    Exit status 0 when every case is `ok`, 1 when some case is missing, invalid or failed (the
    table is written either way), 2 for a bad split or folder. With --container, also 1 when
    the container failed or one of its values differs from selma3d's (each is named; the run
    is recorded in <out>.container.json).
    """
    from rich.console import Console

    from harness.errors import EXIT_FAILED
    from harness.scoring.evaluate import evaluate_predictions, write_results
    from harness.split.manifest import load_split
    from metrics import TRACK_METRICS

    options = metrics_from_options(connectivity, iou_threshold, matching)
    gate = gate_from_options(threshold, geometry)
    _check_out(out)
    if (container is None) != (ground_truth is None):
        raise click.UsageError("--container and --ground-truth go together")
    split = load_split(split_path, check_volumes=False)
    name = team or predictions_dir.resolve().name
    frame = evaluate_predictions(
        split,
        {name: predictions_dir},
        jobs=processes,
        options=options,
        gate=gate,
        progress=not no_progress,
        profile=profile,
    )
    side_by_side = None
    if container is not None and ground_truth is not None:
        from harness.evaluation.cli_run import run_for_cli

        frame, side_by_side = run_for_cli(
            frame, split, container=container, ground_truth=ground_truth, out=out
        )
    write_results(frame, out)

    console = Console()
    counts = frame["status"].value_counts().sort_index()
    console.print(
        f"{len(frame)} case(s) scored for team {name!r} under profile {profile}: "
        + ", ".join(f"{status} {n}" for status, n in counts.items())
    )
    for track, columns in sorted(TRACK_METRICS.items()):
        rows = frame[frame["track"] == track]
        if len(rows):
            means = ", ".join(f"{c} {rows[c].astype(float).mean():.4f}" for c in columns)
            console.print(f"  {track} ({len(rows)} case(s)), means: {means}")
    for _, row in frame[frame["status"] != "ok"].iterrows():
        console.print(f"  [red]{row['case_id']}[/red]: {row['status']}: {row['message']}",
                      highlight=False)
    for extra in frame.attrs.get("unexpected_files", {}).get(name, []):
        console.print(f"  [yellow]ignored[/yellow] {extra}: matches no case of the split",
                      highlight=False)
    console.print(f"wrote {out}")
    if side_by_side is not None:
        for line in side_by_side.lines:
            console.print(line, highlight=False, markup=False)
    if (frame["status"] != "ok").any() or (side_by_side is not None and not side_by_side.agrees):
        # sys.exit, not click's Exit: the entry point runs click with standalone_mode=False,
        # where click returns an Exit's code instead of exiting with it.
        sys.exit(EXIT_FAILED)


def _check_out(out: Path) -> None:
    """Refuse an ``--out`` that cannot be written, before any case is scored."""
    if out.is_dir():
        raise click.BadParameter(f"{out} is a folder; expected the path of a CSV file",
                                 param_hint="--out")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise click.BadParameter(f"{out} lies under {parent}, which is a file",
                                         param_hint="--out")
            if not os.access(parent, os.W_OK):
                raise click.BadParameter(
                    f"{out} cannot be written: {parent} is read-only (nothing was scored)",
                    param_hint="--out",
                )
            break


COMMANDS: list[click.Command] = [evaluate]
