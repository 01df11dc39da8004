"""A round's published results: the leaderboards, their tag-filtered copies, the terminal summary.

The last stages of :func:`harness.rounds.round.run_round`, once every submission is scored and
one is selected per team.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table

from harness.containers.records import read_run
from harness.rounds.config import LeaderboardFilter, tags_match
from harness.rounds.plan import RoundPlan, Submission
from harness.scoring.volumes import SplitVolumes
from leaderboard import build_leaderboard
from leaderboard.container_report import METADATA_KEY
from leaderboard.gc_report import METADATA_KEY as GC_KEY
from leaderboard.report import NONDETERMINISTIC_MARK
from metrics import METRIC_COLUMNS

__all__ = [
    "determinism_by_team",
    "determinism_of",
    "print_summary",
    "publish",
    "publish_filtered",
]


def publish(
    chosen: pd.DataFrame,
    leaderboard_dir: Path,
    plan: RoundPlan,
    *,
    board: LeaderboardFilter | None = None,
    evaluations: dict[str, dict[str, Any]] | None = None,
    stages: dict[str, Any] | None = None,
    grand_challenge: dict[str, Any] | None = None,
    not_ranked: Sequence[Mapping[str, str]] = (),
) -> None:
    """Build the leaderboard of ``chosen`` (one submission per team) into ``leaderboard_dir``.

    With ``board``, the leaderboard of a tag filter: its name and ``where`` go into the
    report's metadata and title. ``evaluations`` (per ``team/submission``, the evaluation
    container's runs) go into the report beside selma3d's scores; ``stages`` (the container
    and scoring stages' busy times and overlap) into its provenance; ``grand_challenge``
    (grand-challenge's board, :func:`harness.rounds.evaluation.grand_challenge_leaderboard`)
    into its own section. ``not_ranked`` (the images stage's records of submissions set aside)
    are named under the table, with their status's fixed text.
    """
    metadata_ = _metadata(chosen, plan, board=board, evaluations=evaluations)
    if not_ranked:
        metadata_["not_ranked"] = [dict(e) for e in not_ranked]
    if grand_challenge is not None:
        metadata_[GC_KEY] = grand_challenge
    if stages:
        metadata_["stages"] = stages
    ranking = plan.ranking
    if "title" not in ranking.report.model_fields_set:
        title = f"{plan.config.name} · {plan.phase}" + (f" · {board.name}" if board else "")
        report = ranking.report.model_copy(update={"title": title})
        ranking = ranking.model_copy(update={"report": report})
    build_leaderboard(
        chosen.drop(columns=["submission"]),
        leaderboard_dir,
        config=ranking,
        split=plan.split,
        volumes=SplitVolumes(plan.split, base_dir=None, gate=plan.gate),
        metadata=metadata_,
    )


def _metadata(
    chosen: pd.DataFrame,
    plan: RoundPlan,
    *,
    board: LeaderboardFilter | None,
    evaluations: dict[str, dict[str, Any]] | None,
) -> dict[str, Any]:
    """The report's metadata of ``chosen``: the round, its teams' models, determinism, board."""
    picked = set(zip(chosen["team"], chosen["submission"], strict=True))
    # In the round file's order.
    selected = [s for s in plan.submissions if (s.team, s.submission) in picked]
    metadata_: dict[str, Any] = {
        "round": plan.config.name,
        "phase": plan.phase,
        "split_hash": plan.split.content_hash,
        "affiliations": {t.name: t.affiliation for t in plan.config.teams if t.affiliation},
        # Beside the image digests in the report's provenance.
        "models": {s.team: s.model["sha256"] for s in selected if s.model is not None},
    }
    # Only when the round ran the check, so a round without it writes the same files as before.
    determinism = determinism_by_team(chosen, plan.submissions)
    if determinism:
        metadata_["determinism"] = determinism
    if board is not None:
        metadata_["leaderboard"] = {"name": board.name, "where": board.where}
    if evaluations:
        # The whole metrics.json stays in round.json; the report shows the comparison.
        metadata_[METADATA_KEY] = {
            s.team: {k: v for k, v in evaluations[s.key].items() if k != "metrics"}
            for s in sorted(selected, key=lambda s: (s.team, s.submission))
            if s.key in evaluations
        }
    return metadata_


def publish_filtered(
    chosen: pd.DataFrame,
    plan: RoundPlan,
    console: Console,
    *,
    evaluations: dict[str, dict[str, Any]] | None = None,
    stages: dict[str, Any] | None = None,
    not_ranked: Sequence[Mapping[str, str]] = (),
) -> dict[str, dict[str, Any]]:
    """One leaderboard per tag filter, in ``leaderboards/<name>/``, of the matching teams.

    A team is in when the submission selected for it (as for the full leaderboard) carries the
    filter's tags; the teams are ranked among themselves. A submission of ``not_ranked`` is
    named on each board whose tags it carries.
    """
    records: dict[str, dict[str, Any]] = {}
    tags = {(s.team, s.submission): s.tags for s in plan.submissions}
    entry_tags = {(e.team.name, e.submission): e.tags for e in plan.entries}
    for board in plan.config.leaderboards:
        keep = [
            tags_match(dict(tags[t, s]), board.where)
            for t, s in zip(chosen["team"], chosen["submission"], strict=True)
        ]
        rows = chosen[keep].reset_index(drop=True)
        teams = sorted(set(rows["team"]))
        folder: str | None = f"leaderboards/{board.name}/"
        if teams:
            publish(
                rows,
                plan.out_dir / "leaderboards" / board.name,
                plan,
                board=board,
                evaluations=evaluations,
                stages=stages,
                not_ranked=[
                    e
                    for e in not_ranked
                    if tags_match(dict(entry_tags[e["team"], e["submission"]]), board.where)
                ],
            )
            console.print(f"leaderboard {board.name} ({board.where}): {', '.join(teams)}")
        else:
            folder = None
            console.print(
                f"[yellow]leaderboard {board.name}: no team's selected submission has the tags "
                f"{board.where}; nothing written[/yellow]"
            )
        records[board.name] = {"where": board.where, "teams": teams, "dir": folder}
    return records


def determinism_by_team(
    chosen: pd.DataFrame, submissions: Sequence[Submission]
) -> dict[str, dict[str, Any]]:
    """The determinism outcome of each team's selected submission, for those that have one."""
    picked = set(zip(chosen["team"], chosen["submission"], strict=True))
    return {
        s.team: det
        for s in submissions
        if (s.team, s.submission) in picked and (det := determinism_of(s.run_dir)) is not None
    }


def determinism_of(run_dir: Path) -> dict[str, Any] | None:
    """The second run of one case (``determinism: true``), from the ledger's ``run.json``."""
    return read_run(run_dir).get("determinism") if run_dir.is_dir() else None


# Column headers short enough for an 80-column terminal.
_SHORT = {"dice": "Dice", "cldice": "clDice", "blob_f1": "F1", "pq": "PQ"}


def print_summary(
    chosen: pd.DataFrame,
    leaderboard_dir: Path,
    console: Console,
    timings: dict[str, float],
    *,
    flagged: dict[str, str] | None = None,
) -> None:
    """The ranked board on the terminal; ``flagged`` teams (not deterministic) marked, with why."""
    flagged = flagged or {}
    board = pd.read_csv(leaderboard_dir / "leaderboard.csv")
    # The metrics that ranked each track (columns "<track>_<metric>_rank", or
    # "<track>:<structure or category>_<metric>_rank" per unit), shown as means over the track.
    names = "|".join(re.escape(m) for m in METRIC_COLUMNS)
    ranked = list(
        dict.fromkeys(
            (match.group(1), match.group(2))
            for col in board.columns
            if (match := re.fullmatch(rf"(vessel|spot)(?::.+)?_({names})_rank", col))
        )
    )
    # No vertical rules, so the whole board fits an 80-column terminal.
    table = Table(
        title="Leaderboard",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        collapse_padding=True,
    )
    headers = ["rank", "team", "score", "rank\n95%", "tied"]
    headers += [f"{track}\n{_SHORT.get(metric, metric)}" for track, metric in ranked]
    headers += ["cases\nok", "run\ntime s"]
    longest = int(board["team"].astype(str).str.len().max()) if len(board) else 4
    for col in headers:
        if col == "team":
            table.add_column(col, no_wrap=True, min_width=min(longest, 20))
        else:
            table.add_column(col, justify="right")
    for _, row in board.iterrows():
        rows = chosen[chosen["team"] == row["team"]]
        ok = int((rows["status"] == "ok").sum())
        wall = pd.to_numeric(rows["wall_time_s"], errors="coerce").sum()
        means = [
            f"{value:.3f}" if pd.notna(value := row.get(f"{track}_{metric}_mean")) else "-"
            for track, metric in ranked
        ]
        table.add_row(
            str(row["rank"]),
            str(row["team"]) + (f" {NONDETERMINISTIC_MARK}" if row["team"] in flagged else ""),
            f"{row['score']:.3f}",
            f"{row['rank_ci_low']}-{row['rank_ci_high']}",
            str(row["tied_group"]),
            *means,
            f"{ok}/{len(rows)}",
            f"{wall:.1f}",
        )
    console.print(table)
    console.print(
        "Metrics are means over cases. Lower score is better. Teams with the same 'tied' "
        "number cannot be told apart (bootstrap over cases)."
    )
    if flagged:
        console.print(
            f"{NONDETERMINISTIC_MARK} not deterministic (flagged, not failed): "
            + "; ".join(f"{team}, {why}" for team, why in flagged.items()),
            highlight=False,
        )
    total = sum(timings.values())
    console.print(f"report: {leaderboard_dir / 'index.html'}  ({total:.0f} s in all)")
