"""Command ``leaderboard``: ``selma3d leaderboard RESULTS --out DIR [--ranking RANKING.yaml]``."""

from __future__ import annotations

from pathlib import Path

import click

from common.files import resolved
from common.profiles import DEFAULT_PROFILE
from common.terminal import as_text
from harness.cli.options import (
    Command,
    no_progress_option,
    option,
    out_option,
    profile_option,
    split_option,
)

__all__ = ["COMMANDS", "leaderboard"]


@click.command("leaderboard", cls=Command)
@click.argument(
    "results",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The results table: CSV or Parquet, one row per team and case (`evaluate`, a round).",
)
@out_option("Folder for leaderboard.csv/.json/.md and index.html.", file_okay=False)
@option(
    "--ranking",
    "ranking_path",
    metavar="RANKING.yaml",
    type=click.Path(path_type=Path, dir_okay=False),
    old_names=("--config",),
    mirrors="ranking",
    help="Ranking configuration (YAML, as round.yaml's ranking:); SELMA3D 2026 defaults when "
    "omitted.",
)
@split_option(
    "The split the results were computed on: checks cases and hash, and draws "
    "maximum-intensity projections of each team's predictions.",
    required=False,
)
@profile_option(
    f"The edition's rules [default: the configuration's, else {DEFAULT_PROFILE}].", default=None
)
@no_progress_option(old_names=("--quiet",))
def leaderboard(
    results: Path,
    out: Path,
    ranking_path: Path | None,
    split_path: Path | None,
    profile: str | None,
    no_progress: bool,
) -> None:
    """Rank teams from RESULTS (CSV or Parquet, one row per team and case) and write reports."""
    # Loaded when the command runs: the CLI starts in 0.1 s, the library takes 1 s.
    from rich.console import Console

    from common.outputs import claim_folder, only_names, refuse_overlap
    from leaderboard import RankingConfig, build_leaderboard, load_ranking_config, read_results
    from leaderboard.build import OUTPUT_FILES

    for folder in (out, *out.parents):
        if folder.exists():
            if not folder.is_dir():
                raise click.BadParameter(
                    f"{out}: {folder} is a file; expected a folder", param_hint="--out"
                )
            break
    if ranking_path:
        config = load_ranking_config(ranking_path, profile=profile)
    else:
        config = RankingConfig(profile=profile or DEFAULT_PROFILE)
    split = volumes = None
    inputs: dict[str, object] = {"results": results, "ranking file": ranking_path}
    if split_path is not None:
        # Loaded when the command runs: the CLI starts in 0.1 s, the library takes 1 s.
        from harness.scoring.volumes import SplitVolumes
        from harness.split.manifest import load_split

        split = load_split(split_path, check_volumes=False)
        volumes = SplitVolumes(split, base_dir=resolved(results).parent)
        inputs.update({
            "split": split.root,
            "split's manifest": split.manifest,
            "split's images": [p for c in split.cases for p in c.images],
            "split's labels": [c.label for c in split.cases if c.label is not None],
        })
    refuse_overlap({"--out": out}, inputs)  # type: ignore[arg-type]
    table = read_results(results)
    # The folder is selma3d's (new, empty, marked, or a leaderboard an earlier release wrote)
    # and this command's until it ends.
    legacy = only_names(OUTPUT_FILES, needs=("leaderboard.json",))
    with claim_folder(out, kind="leaderboard", legacy=legacy):
        board = build_leaderboard(
            table,
            out,
            config=config,
            split=split,
            volumes=volumes,
            results_path=results,
            progress=not no_progress,
        )
    console = Console()
    ignored = board.results.ignored_columns
    if ignored:
        console.print(
            f"[yellow]ignored[/yellow] column(s) {as_text(', '.join(ignored))} of {results}: "
            "neither an id, an optional column nor a metric of the registry",
            highlight=False,
        )
    for row in board.table.head(10).to_dict(orient="records"):
        tied = " ≈" if row["statistically_tied"] else ""
        # Team names are text, never console markup.
        console.print(
            f"{row['rank']:>3}{tied:2} {as_text(row['display_name'])}  "
            f"score {row['score']:.3f}",
            highlight=False,
        )
    console.print(f"[green]wrote[/green] {out / 'index.html'}")


COMMANDS: list[click.Command] = [leaderboard]
