"""The ``selma3d evaluate`` command: score a folder of predictions against a labeled split."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from common.files import resolved
from common.terminal import as_text
from harness.cli.options import (
    LIMIT_FLAGS,
    Command,
    engine_option,
    gate_from_options,
    gate_options,
    limits_from_options,
    metric_options,
    metrics_from_options,
    no_progress_option,
    option,
    out_option,
    profile_option,
    split_option,
)

if TYPE_CHECKING:
    from harness.containers.limits import Limits
    from harness.predictions.validate import GateOptions
    from harness.split.manifest import Split
    from metrics import MetricOptions

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
@option(
    LIMIT_FLAGS["timeout_s"].name,
    "timeout_s",
    type=float,
    default=None,
    mirrors="evaluation.limits.timeout_s",
    help="With --container: wall-clock seconds the evaluation container may run "
    "[default: 3600, grand-challenge's].",
)
@option(
    LIMIT_FLAGS["memory"].name,
    "memory",
    type=str,
    default=None,
    mirrors="evaluation.limits.memory",
    help="With --container: its memory limit, no swap (512m, 8g) [default: 8g, grand-challenge's].",
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
    timeout_s: float | None,
    memory: str | None,
    no_progress: bool,
) -> None:
    """Score predictions against a split; one CSV row per case with a status and the metrics.

    Exit status 0 when every case is `ok`, 1 when some case is missing, invalid or failed (the
    table is written either way), 2 for a bad split or folder. With --container, also 1 when
    the container failed, one of its values differs from selma3d's (each is named; every
    compared value is printed; the run is recorded in <out>.container.json) or none could be
    compared.
    """
    # Loaded when the command runs: the CLI starts in 0.1 s, the library takes 1 s.
    from common.outputs import lock_file_output, refuse_overlap, starts_with
    from harness.cli.evaluate_container import log_path, record_path
    from harness.split.manifest import load_split

    options = metrics_from_options(connectivity, iou_threshold, matching)
    gate = gate_from_options(threshold, geometry)
    _check_out(out)
    if (container is None) != (ground_truth is None):
        raise click.UsageError("--container and --ground-truth go together")
    if container is None and (timeout_s is not None or memory is not None):
        raise click.UsageError("--timeout-s and --memory limit the evaluation container: give "
                               "them with --container")
    # Loaded when the command runs: the CLI starts in 0.1 s, the library takes 1 s.
    from harness.evaluation.config import DEFAULT_EVALUATION_LIMITS

    limits = limits_from_options(
        {"timeout_s": timeout_s, "memory": memory}, base=DEFAULT_EVALUATION_LIMITS
    )
    split = load_split(split_path, check_volumes=False)
    refuse_overlap(
        {"--out": out, "--out's container record": record_path(out),
         "--out's container log": log_path(out)},
        {
            "split": split.root,
            "split's manifest": split.manifest,
            "split's images": [p for c in split.cases for p in c.images],
            "split's labels": [c.label for c in split.cases if c.label is not None],
            "predictions": predictions_dir,
            "ground truth": ground_truth,
            "evaluation container": Path(container) if container and Path(container).exists()
            else None,
        },
    )
    # One writer of the table (and its container record) at a time: a second is refused.
    # An existing table is replaced only if it is one (its header), never a user's file.
    with lock_file_output(out, ours=starts_with("case_id", "status")):
        _evaluate_locked(split, predictions_dir, out, processes, team, options, gate, profile,
                         container, ground_truth, limits, no_progress)


def _evaluate_locked(
    split: Split,
    predictions_dir: Path,
    out: Path,
    processes: int,
    team: str | None,
    options: MetricOptions,
    gate: GateOptions,
    profile: str,
    container: str | None,
    ground_truth: Path | None,
    limits: Limits,
    no_progress: bool,
) -> None:
    """:func:`evaluate` once its output is locked."""
    # Loaded when the command runs: the CLI starts in 0.1 s, the library takes 1 s.
    from rich.console import Console

    from harness.errors import EXIT_FAILED
    from harness.scoring.evaluate import evaluate_predictions, write_results
    from metrics import TRACK_METRICS

    name = team or resolved(predictions_dir).name
    frame = evaluate_predictions(
        split,
        {name: predictions_dir},
        jobs=processes,
        options=options,
        gate=gate,
        progress=not no_progress,
        profile=profile,
    )
    # Loaded when the command runs: the CLI starts in 0.1 s, the library takes 1 s.
    from harness.evaluation.official import profile_name_warnings

    for line in profile_name_warnings(split, frame, profile):
        click.echo(f"warning: {line}", err=True)
    side_by_side = None
    if container is not None and ground_truth is not None:
        # Loaded when the command runs: the CLI starts in 0.1 s, the library takes 1 s.
        from harness.cli.evaluate_container import run_for_cli

        frame, side_by_side = run_for_cli(
            frame, split, container=container, ground_truth=ground_truth, out=out,
            limits=limits, gate=gate,
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
        console.print(f"  [red]{as_text(row['case_id'])}[/red]: {row['status']}: "
                      f"{as_text(row['message'])}",
                      highlight=False)
    for extra in frame.attrs.get("unexpected_files", {}).get(name, []):
        console.print(f"  [yellow]ignored[/yellow] {as_text(extra)}: matches no case of the "
                      "split",
                      highlight=False)
    console.print(f"wrote {out}")
    if side_by_side is not None:
        for line in side_by_side.lines:
            console.print(as_text(line), highlight=False, soft_wrap=True)
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
