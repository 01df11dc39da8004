"""Commands of the ``leaderboard`` group: ``selma3d leaderboard RESULTS --out DIR``."""

from __future__ import annotations

from pathlib import Path

import click

from common.profiles import DEFAULT_PROFILE, PROFILES

__all__ = ["COMMANDS", "leaderboard"]


@click.command("leaderboard")
@click.argument("results", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for leaderboard.csv/.json/.md and index.html.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Ranking configuration (YAML); SELMA3D 2026 defaults when omitted.",
)
@click.option(
    "--split",
    "split_path",
    type=click.Path(path_type=Path),
    help="The split the results were computed on: checks cases and hash, and draws "
    "maximum-intensity projections of each team's predictions.",
)
@click.option(
    "--profile",
    type=click.Choice(list(PROFILES)),
    default=None,
    help=f"The edition's rules [default: the configuration's, else {DEFAULT_PROFILE}].",
)
@click.option("--quiet", is_flag=True, help="No progress output.")
def leaderboard(
    results: Path,
    out_dir: Path,
    config_path: Path | None,
    split_path: Path | None,
    profile: str | None,
    quiet: bool,
) -> None:
    """Rank teams from RESULTS (CSV or Parquet, one row per team and case) and write reports."""
    from rich.console import Console

    from leaderboard import RankingConfig, build_leaderboard, load_ranking_config, read_results

    for folder in (out_dir, *out_dir.parents):
        if folder.exists():
            if not folder.is_dir():
                raise click.BadParameter(
                    f"{out_dir}: {folder} is a file; expected a folder", param_hint="--out"
                )
            break
    if config_path:
        config = load_ranking_config(config_path, profile=profile)
    else:
        config = RankingConfig(profile=profile or DEFAULT_PROFILE)
    split = volumes = None
    if split_path is not None:
        from harness.scoring.volumes import SplitVolumes
        from harness.split.manifest import load_split

        split = load_split(split_path, check_volumes=False)
        volumes = SplitVolumes(split, base_dir=results.resolve().parent)
    table = read_results(results)
    board = build_leaderboard(
        table,
        out_dir,
        config=config,
        split=split,
        volumes=volumes,
        results_path=results,
        progress=not quiet,
    )
    if not quiet:
        from rich.markup import escape

        console = Console()
        ignored = board.results.ignored_columns
        if ignored:
            console.print(
                f"[yellow]ignored[/yellow] column(s) {escape(', '.join(ignored))} of {results}: "
                "neither an id, an optional column nor a metric of the registry",
                highlight=False,
            )
        for row in board.table.head(10).to_dict(orient="records"):
            tied = " ≈" if row["statistically_tied"] else ""
            # Team names are text, never console markup.
            console.print(
                f"{row['rank']:>3}{tied:2} {escape(str(row['display_name']))}  "
                f"score {row['score']:.3f}",
                highlight=False,
            )
        console.print(f"[green]wrote[/green] {out_dir / 'index.html'}")


COMMANDS: list[click.Command] = [leaderboard]
