"""Build a leaderboard: validate results -> rank -> bootstrap -> write CSV, JSON, Markdown, HTML.

All four files are written atomically (``common.files.write_atomic``) and depend on the
inputs only: no timestamps, sorted JSON keys, PNGs without metadata.

Its length (over 500 lines) is the ranking's and its files': the ranked table and every file
written from it (CSV, JSON, Markdown, the HTML report) live together, so they cannot disagree.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import math
import re
import secrets
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console

from common.errors import ResultsError
from common.files import write_atomic
from common.profiles import get_profile
from common.status import FAILURES, STATUSES
from common.tables import csv_text
from leaderboard import metric_info
from leaderboard.bootstrap import BootstrapResult, bootstrap_ranks, tied_groups
from leaderboard.cases import SplitInfo, VolumeLoader
from leaderboard.config import RankingConfig
from leaderboard.public import public_metadata
from leaderboard.ranking import Ranking, RankingInputs, ranking_inputs, score
from leaderboard.report import (
    NONDETERMINISTIC_MARK,
    nondeterministic_teams,
    not_ranked,
    render_html,
)
from leaderboard.results import Results, prepare_results

__all__ = [
    "OUTPUT_FILES",
    "Leaderboard",
    "build_leaderboard",
    "compute_leaderboard",
]

OUTPUT_FILES: tuple[str, ...] = (
    "leaderboard.csv",
    "leaderboard.json",
    "leaderboard.md",
    "index.html",
)
_DASH = "\u2013"  # en dash for ranges and empty cells
_ROUND = 6


@dataclass(frozen=True)
class Leaderboard:
    """Everything the outputs are made of.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per team in rank order (the columns of ``leaderboard.csv``).
    results : Results
        The validated, completed per-case table.
    inputs : RankingInputs
    ranking : Ranking
        Scores on all cases (replicate axis of length 1).
    bootstrap : BootstrapResult or None
        None when ``bootstrap.resamples`` is 0.
    order : (T,) ndarray of int
        Indices into ``results.teams`` in rank order.
    groups : (T,) ndarray of int
        Tied group of each team, in ``results.teams`` order.
    config : RankingConfig
    ranked : dict of str to tuple of str
        Ranked metrics per track actually used.
    """

    table: pd.DataFrame
    results: Results
    inputs: RankingInputs
    ranking: Ranking
    bootstrap: BootstrapResult | None
    order: np.ndarray
    groups: np.ndarray
    config: RankingConfig
    ranked: dict[str, tuple[str, ...]]


def _tool_version() -> str:
    try:
        return version("selma3d")
    except PackageNotFoundError:
        return "unknown"


def _unit_label(unit: tuple[str, str | None]) -> str:
    return unit[0] if unit[1] is None else f"{unit[0]}:{unit[1]}"


def compute_leaderboard(
    results: pd.DataFrame,
    *,
    config: RankingConfig,
    split: SplitInfo | None = None,
    source: str = "results",
) -> Leaderboard:
    """Validate, rank and bootstrap, without writing anything.

    Parameters
    ----------
    results : pandas.DataFrame
        One row per (team, case); see ``leaderboard.results.prepare_results``.
    config : RankingConfig, keyword-only
    split : SplitInfo, optional, keyword-only
        The split the results were computed on (see ``prepare_results``).
    source : str, keyword-only
        Name of the results file, for messages.

    Returns
    -------
    Leaderboard
    """
    profile_problems = _profile_problems(results, config.profile)
    if profile_problems:
        raise ResultsError(source, profile_problems)
    per_track = metric_info.track_metrics()
    ranked = {t: config.ranked_for(t) for t in per_track}
    prepared = prepare_results(results, ranked=ranked, source=source, split=split)
    ranked = {t: m for t, m in ranked.items() if m and t in prepared.tracks}
    if not ranked:
        raise ResultsError(
            source,
            [
                f"no track with cases has a ranked metric: tracks {list(prepared.tracks)}, "
                f"ranked metrics {dict((t, list(config.ranked_for(t))) for t in per_track)}"
            ],
        )
    categories = _structure_categories(prepared, config, ranked, source)
    inputs = ranking_inputs(
        prepared, ranked=ranked, aggregation=config.aggregation, categories=categories
    )
    full = score(inputs, scheme=config.scheme, alpha=config.test.alpha)
    rank = full.rank[0]
    boot = None
    if config.bootstrap.resamples > 0:
        boot = bootstrap_ranks(
            inputs,
            rank,
            scheme=config.scheme,
            resamples=config.bootstrap.resamples,
            seed=config.bootstrap.seed,
            confidence=config.bootstrap.confidence,
            alpha=config.test.alpha,
        )
    groups = tied_groups(rank, boot.low if boot else None, boot.high if boot else None)
    teams = np.array(prepared.teams, dtype=object)
    order = np.lexsort((teams, rank))
    table = _team_table(prepared, inputs, full, boot, groups)
    table = table.iloc[order].reset_index(drop=True)
    return Leaderboard(
        table=table,
        results=prepared,
        inputs=inputs,
        ranking=full,
        bootstrap=boot,
        order=order,
        groups=groups,
        config=config,
        ranked=ranked,
    )


def _structure_categories(
    results: Results, config: RankingConfig, ranked: dict[str, tuple[str, ...]], source: str
) -> dict[str, str] | None:
    """Category of every structure of the ranked tracks; an error names each unmapped one."""
    if config.categories is None:
        return None
    mapping: dict[str, str] = {}
    problems = []
    cases = results.cases[results.cases["track"].isin(list(ranked))]
    for structure, group in cases.groupby("structure", sort=True):
        category = config.category_of(str(structure))
        if category is None:
            problems.append(
                f"structure {structure!r} (cases {', '.join(group['case_id'])}) has no category: "
                f"the ranking configuration's categories map only "
                f"{', '.join(sorted(config.categories))}; add it"
            )
        else:
            mapping[str(structure)] = category
    if problems:
        raise ResultsError(source, problems)
    return mapping


def _profile_problems(results: pd.DataFrame, name: str) -> list[str]:
    """Rows scored under another profile, or whose track the profile gives differently."""
    profile = get_profile(name)
    problems = []
    if "profile" in results.columns:
        for other in sorted({str(p) for p in results["profile"].dropna()} - {name}):
            problems.append(
                f"column profile: the results were scored under profile {other!r}, the ranking "
                f"uses {name!r}; score them again with --profile {name}"
            )
    if profile.structure_tracks is None or not {"structure", "track"} <= set(results.columns):
        return problems
    pairs = results[["case_id", "structure", "track"]].drop_duplicates()
    for case_id, structure, track in pairs.itertuples(index=False):
        try:
            want = profile.track_of(str(structure))
        except ValueError as exc:
            problems.append(f"case {case_id}: {exc}")
            continue
        if want != track:
            problems.append(
                f"case {case_id}: structure {structure!r} is {want}-track under profile "
                f"{name!r}, but the results score it as {track!r}; score them again with "
                f"--profile {name}"
            )
    return problems


def _team_table(
    results: Results,
    inputs: RankingInputs,
    ranking: Ranking,
    boot: BootstrapResult | None,
    groups: np.ndarray,
) -> pd.DataFrame:
    teams = list(results.teams)
    frame = results.frame
    cols: dict[str, Any] = {
        "rank": ranking.rank[0],
        "team": teams,
        "display_name": [results.display_names[t] for t in teams],
        "score": ranking.overall[0],
        "rank_ci_low": boot.low if boot else np.full(len(teams), np.nan),
        "rank_ci_high": boot.high if boot else np.full(len(teams), np.nan),
        "rank_median": boot.median if boot else np.full(len(teams), np.nan),
        "tied_group": groups,
        "statistically_tied": groups > 0,
    }
    for track, values in ranking.track_scores.items():
        cols[f"{track}_rank"] = values[0]
    if any(u[1] is not None for u in inputs.units):
        for unit, values in ranking.unit_scores.items():
            cols[f"{_unit_label(unit)}_rank"] = values[0]
    value_kind = {"rank-then-aggregate": "mean_case_rank", "test-then-rank": "wins"}
    for (unit, name), values in ranking.metric_ranks.items():
        cols[f"{_unit_label(unit)}_{name}_rank"] = values[0]
    for (unit, name), values in ranking.metric_values.items():
        kind = value_kind.get(ranking.scheme)
        if kind is None and unit[1] is None:
            continue  # the mean is already a track-mean column below
        cols[f"{_unit_label(unit)}_{name}_{kind or 'mean'}"] = values[0]
    per_track = metric_info.track_metrics()
    grouped = frame.groupby(["team", "track"], sort=True)
    for track in results.tracks:
        for name in per_track[track]:
            if name not in results.metrics:
                continue
            # skipna=False: a mean over some cases only would look like a full result.
            means = grouped[name].apply(lambda s: s.mean(skipna=False))
            cols[f"{track}_{name}_mean"] = [means.get((t, track), np.nan) for t in teams]
    by_team = frame.groupby("team", sort=True)
    cols["cases_total"] = by_team.size().reindex(teams).to_numpy()
    cols["cases_completed"] = (
        by_team["status"].apply(lambda s: int((s == "ok").sum())).reindex(teams).to_numpy()
    )
    for status in FAILURES:
        counts = by_team["status"].apply(lambda s, st=status: int((s == st).sum()))
        cols[f"failed_{status}"] = counts.reindex(teams).to_numpy()
    if "wall_time_s" in frame.columns:
        cols["wall_time_s_mean"] = by_team["wall_time_s"].mean().reindex(teams).to_numpy()
    if "peak_memory_bytes" in frame.columns:
        cols["peak_memory_bytes_max"] = by_team["peak_memory_bytes"].max().reindex(teams).to_numpy()
    return pd.DataFrame(cols)


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_clean(v) for v in value.tolist()]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        v = float(value)
        if not math.isfinite(v):
            return None
        r = round(v, _ROUND)
        return int(r) if r.is_integer() and abs(r) < 2**53 else r
    return value


def _results_digest(results: Results) -> str:
    canonical = results.frame.to_csv(index=False, lineterminator="\n", float_format="%.10g")
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def leaderboard_record(
    board: Leaderboard, *, metadata: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The content of ``leaderboard.json`` as a dictionary."""
    res = board.results
    boot = board.bootstrap
    teams_json = []
    # One count of every (team, status) and one index: a lookup per team would read the whole
    # table once per team (time growing with the square of the teams).
    counts = res.frame.groupby(["team", "status"]).size().to_dict()
    index_of = {team: i for i, team in enumerate(res.teams)}
    for row in board.table.to_dict(orient="records"):
        team = row["team"]
        i = index_of[team]
        entry = dict(row)
        entry["image_digests"] = res.image_digests.get(team, [])
        entry["statuses"] = {s: int(counts.get((team, s), 0)) for s in STATUSES}
        if boot is not None:
            entry["rank_frequency"] = boot.frequency[i]
        teams_json.append(entry)
    tracks = {}
    for track in res.tracks:
        cases = res.cases[res.cases["track"] == track]
        tracks[track] = {
            "cases": list(cases["case_id"]),
            "structures": {
                str(s): list(g["case_id"]) for s, g in cases.groupby("structure", sort=True)
            },
            "ranked_metrics": list(board.ranked.get(track, ())),
        }
        if board.config.categories is not None:
            tracks[track]["categories"] = {
                str(u[1]): list(board.inputs.unit_cases[u])
                for u in board.inputs.units
                if u[0] == track
            }
    groups = []
    for g in sorted({int(x) for x in board.groups if x > 0}):
        members = [res.teams[i] for i in board.order if board.groups[i] == g]
        groups.append(members)
    bootstrap = None
    if boot is not None:
        taus = boot.kendall_tau[np.isfinite(boot.kendall_tau)]
        bootstrap = {
            "resamples": boot.resamples,
            "seed": boot.seed,
            "confidence": boot.confidence,
            "stratified_by": board.config.unit_kind,
            "kendall_tau": {
                "mean": float(taus.mean()) if taus.size else None,
                "median": float(np.median(taus)) if taus.size else None,
                "min": float(taus.min()) if taus.size else None,
                "undefined": int(boot.resamples - taus.size),
            },
        }
    config = board.config.model_dump(mode="json")
    config["ranked_metrics"] = {t: list(m) for t, m in board.ranked.items()}
    profile = get_profile(board.config.profile)
    record = {
        "title": board.config.report.title,
        "profile": {"name": profile.name, "title": profile.title},
        "tool": {"name": "selma3d", "version": _tool_version()},
        "split_hash": res.split_hash,
        "results_digest": _results_digest(res),
        "ranking_config": config,
        "metrics": metric_info.metric_definitions(res.metrics),
        "tracks": tracks,
        "teams": teams_json,
        "tied_groups": groups,
        "bootstrap": bootstrap,
        "metadata": metadata or {},
        "columns": list(board.table.columns),
    }
    return _clean(record)


def _json_text(record: dict[str, Any]) -> str:
    """``json.dumps(record, sort_keys=True, indent=2)``, each team's rank frequencies spliced in.

    Those lists hold teams x teams numbers; the encoder would keep two pieces of text per number
    until the end (hundreds of MB for 2,000 teams). Each list is rendered alone, the same bytes.
    A placeholder carries a fresh random token, so no other value can be taken for one.
    """
    teams = record.get("teams") or []
    lists = [t.get("rank_frequency") for t in teams]
    token = secrets.token_hex(16)
    splice = re.compile(rf'^( *)"rank_frequency": "{token}:(\d+)"', re.MULTILINE)
    try:
        for i, team in enumerate(teams):
            if "rank_frequency" in team:
                team["rank_frequency"] = f"{token}:{i}"
        text = json.dumps(record, sort_keys=True, indent=2, allow_nan=False, ensure_ascii=False)
    finally:
        for team, values in zip(teams, lists, strict=True):
            if values is not None:
                team["rank_frequency"] = values
    out = io.StringIO()
    start = 0
    for match in splice.finditer(text):
        pad, values = match.group(1), lists[int(match.group(2))]
        out.write(text[start : match.start()])
        out.write(f'{pad}"rank_frequency": ')
        if values:
            inner = pad + "  "
            out.write("[\n" + ",\n".join(inner + json.dumps(v, allow_nan=False) for v in values))
            out.write(f"\n{pad}]")
        else:
            out.write("[]")
        start = match.end()
    out.write(text[start:])
    return out.getvalue()


def _markdown(
    board: Leaderboard, flagged: dict[str, str], metadata: dict[str, Any] | None = None
) -> str:
    """The Markdown table; ``flagged`` teams (not deterministic) get a mark and a footnote.

    Submissions that ran no case (``metadata["not_ranked"]``) are named under the table.
    """
    t = board.table
    tracks = list(board.ranking.track_scores)
    header = ["Rank", "Team", "Score", *[f"{tr} rank" for tr in tracks]]
    if board.bootstrap is not None:
        header.append(f"{round(board.bootstrap.confidence * 100)}% rank interval")
    header += ["Cases completed", "Failures", "Tied group"]
    lines = [f"# {_md_escape(board.config.report.title)}", ""]
    lines.append(
        f"Profile: {board.config.profile}. "
        f"Scheme: {board.config.scheme}, aggregated per {board.config.unit_kind}; "
        + "; ".join(f"{tr}: {', '.join(board.ranked[tr])}" for tr in tracks)
        + ". Lower score is better."
    )
    lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in t.to_dict(orient="records"):
        fails = {s: row[f"failed_{s}"] for s in FAILURES if row[f"failed_{s}"]}
        mark = f" {NONDETERMINISTIC_MARK}" if row["team"] in flagged else ""
        cells = [
            str(row["rank"]),
            _md_escape(row["display_name"]) + mark,
            f"{row['score']:.3f}",
            *[f"{row[f'{tr}_rank']:.3f}" for tr in tracks],
        ]
        if board.bootstrap is not None:
            cells.append(f"{int(row['rank_ci_low'])}{_DASH}{int(row['rank_ci_high'])}")
        cells += [
            f"{row['cases_completed']}/{row['cases_total']}",
            ", ".join(f"{k} {v}" for k, v in fails.items()) or _DASH,
            str(row["tied_group"]) if row["tied_group"] else "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if flagged:
        names = board.results.display_names
        lines.append(
            f"{NONDETERMINISTIC_MARK} Not deterministic (flagged, not failed: ranked on the first "
            "run): "
            + "; ".join(
                f"{_md_escape(names.get(t, t))}, {_md_escape(w)}" for t, w in flagged.items()
            )
            + "."
        )
        lines.append("")
    if skipped := not_ranked(metadata):
        lines += [
            "Not ranked, having run no case: " + "; ".join(map(_md_escape, skipped)) + ".",
            "",
        ]
    foot = [f"Split: `{board.results.split_hash or 'not recorded'}`."]
    if board.bootstrap is not None:
        taus = board.bootstrap.kendall_tau[np.isfinite(board.bootstrap.kendall_tau)]
        mean_tau = f"{taus.mean():.3f}" if taus.size else "undefined"
        foot.append(
            f"Rank intervals from {board.bootstrap.resamples} bootstrap resamples of the cases "
            f"(seed {board.bootstrap.seed}); mean Kendall's tau to the full ranking {mean_tau}. "
            "Teams in the same tied group cannot be separated."
        )
    foot.append(f"selma3d {_tool_version()}.")
    lines.append(" ".join(foot))
    return "\n".join(lines) + "\n"


def _md_escape(text: str) -> str:
    # Markdown renders inline HTML: a team name must stay text (no tags, no entities).
    return html.escape(str(text)).replace("|", "\\|").replace("\n", " ")


def build_leaderboard(
    results: pd.DataFrame,
    out_dir: str | Path,
    *,
    config: RankingConfig | None = None,
    split: SplitInfo | None = None,
    volumes: VolumeLoader | None = None,
    metadata: dict[str, Any] | None = None,
    results_path: str | Path | None = None,
    progress: bool = False,
) -> Leaderboard:
    """Rank teams and write ``leaderboard.csv``, ``.json``, ``.md`` and ``index.html``.

    Parameters
    ----------
    results : pandas.DataFrame
        One row per (team, case): ``team, case_id, track, structure, status``, the metric
        columns of ``selma3d evaluate`` (at least the ranked ones), optionally ``wall_time_s``,
        ``peak_memory_bytes``, ``image_digest``, ``split_hash``, ``display_name``,
        ``prediction``.
    out_dir : str or Path
        Created if needed.
    config : RankingConfig, keyword-only
        Defaults to ``RankingConfig()`` (SELMA3D 2026: aggregate, then rank).
    split : SplitInfo, optional, keyword-only
        Checks the cases and split hash.
    volumes : VolumeLoader, optional, keyword-only
        With ``split``, enables the projection gallery (needs the ``prediction`` column).
    metadata : dict, optional, keyword-only
        JSON-serialisable facts recorded under ``metadata`` in ``leaderboard.json``, as far as
        :func:`leaderboard.public.public_metadata` publishes them (a key it does not know raises
        ValueError; container logs, reasons and paths are never written). Its
        optional ``determinism`` (team -> ``{case_id, identical, reason, ...}``) marks each team
        whose ``identical`` is false in the Markdown and HTML tables, with a note
        (:func:`leaderboard.report.nondeterministic_teams`).
    results_path : str or Path, optional, keyword-only
        Where the table was read from, named in messages.
    progress : bool, keyword-only
        Show the stages on the terminal.

    Returns
    -------
    Leaderboard

    Raises
    ------
    leaderboard.results.ResultsError
        When the table is invalid (every problem listed with its row and column).
    """
    config = config or RankingConfig()
    if metadata is not None:
        try:
            json.dumps(metadata, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"metadata must be JSON-serialisable: {exc}") from exc
    # Everything written here is public: only what leaderboard.public lets a participant see.
    metadata = public_metadata(metadata) if metadata is not None else None
    flagged = nondeterministic_teams(metadata)
    console = Console(stderr=True, quiet=not progress)
    source = str(results_path) if results_path is not None else "results"
    with console.status("validating and ranking"):
        board = compute_leaderboard(results, config=config, split=split, source=source)
    console.print(f"ranked {len(board.results.teams)} teams on {len(board.results.cases)} cases")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table_text = csv_text(board.table.assign(profile=config.profile), float_format="%.6g")
    record = leaderboard_record(board, metadata=metadata)
    json_text = _json_text(record)
    with console.status("drawing the report"):
        html_text = render_html(board, record, split=split, volumes=volumes)
    write_atomic(out / "leaderboard.csv", table_text)
    write_atomic(out / "leaderboard.json", json_text + "\n")
    teams = set(board.results.teams)
    flags = {t: why for t, why in flagged.items() if t in teams}
    write_atomic(out / "leaderboard.md", _markdown(board, flags, metadata))
    write_atomic(out / "index.html", html_text)
    console.print(f"wrote {', '.join(OUTPUT_FILES)} to {out}")
    return board
