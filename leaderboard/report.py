"""The self-contained HTML report: tables, static PNG figures as ``data:`` URIs, inline CSS.

The page needs no network and no JavaScript. Team rows carry ``data-team`` and ``data-rank``
attributes so tools (and the tests) can read the order from the DOM.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from common.errors import ResultsError
from leaderboard import metric_info, plots
from leaderboard.cases import SplitInfo, VolumeLoader
from leaderboard.container_report import container_section
from leaderboard.gc_report import grand_challenge_section
from leaderboard.mips import error_projection, image_projection

__all__ = ["NONDETERMINISTIC_MARK", "nondeterministic_teams", "not_ranked", "render_html"]

_CSS = """
:root { --ink:#111827; --muted:#6b7280; --line:#e5e7eb; --accent:#1d4ed8; }
* { box-sizing: border-box; }
body { margin:0; font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; color:var(--ink);
  background:#f9fafb; line-height:1.45; font-size:15px; }
header { background:#0f172a; color:#f8fafc; padding:28px 40px 22px; }
header h1 { margin:0 0 6px; font-size:28px; font-weight:600; letter-spacing:-0.01em; }
header p { margin:2px 0; color:#cbd5e1; font-size:14px; }
header code { color:#e2e8f0; }
main { max-width:1280px; margin:0 auto; padding:8px 40px 60px; }
nav { margin:18px 0 0; font-size:14px; }
nav a { color:var(--accent); margin-right:16px; text-decoration:none; }
section { background:#fff; border:1px solid var(--line); border-radius:10px; padding:18px 24px;
  margin:22px 0; }
h2 { font-size:20px; margin:4px 0 12px; }
h3 { font-size:16px; margin:18px 0 8px; color:#374151; }
p.note { color:var(--muted); font-size:13px; margin:6px 0 10px; }
table { border-collapse:collapse; width:100%; font-size:14px; font-variant-numeric: tabular-nums; }
th, td { padding:6px 10px; border-bottom:1px solid var(--line); text-align:right;
  white-space:nowrap; }
th { background:#f3f4f6; font-weight:600; color:#374151; position:sticky; top:0; }
td.team, th.team { text-align:left; }
td.rank { font-weight:700; font-size:16px; }
tr.tied td.rank::after { content:" ≈"; color:var(--muted); font-weight:400; }
td.fail { color:#b91c1c; }
span.nondet { color:#b45309; font-weight:700; margin-left:4px; cursor:help; }
.scroll { overflow-x:auto; }
img { max-width:100%; height:auto; display:block; margin:8px 0 14px; }
.legend span { display:inline-block; padding:2px 8px; border-radius:4px; margin-right:6px;
  font-size:12px; }
dl { display:grid; grid-template-columns:max-content 1fr; gap:4px 16px; font-size:13px; }
dt { color:var(--muted); } dd { margin:0; font-family: "DejaVu Sans Mono", monospace; }
footer { color:var(--muted); font-size:12px; text-align:center; padding:10px; }
"""


_DASH = "\u2013"  # en dash for ranges and empty cells
NONDETERMINISTIC_MARK = "\u2020"
"""The dagger shown beside a team whose submission gave two different masks for one case."""


def not_ranked(metadata: Mapping[str, Any] | None) -> list[str]:
    """One line per submission that ran no case, from ``metadata["not_ranked"]``.

    Each line is ``"<team> (submission <id>): <reason>"``; the reason is already the fixed text
    of its status (:data:`leaderboard.public.NOT_RANKED_STATUS_TEXT`).

    Examples
    --------
    >>> not_ranked({"not_ranked": [{"team": "b", "submission": "s0", "status": "image_failed",
    ...     "reason": "its image could not be built, loaded or found"}]})
    ['b (submission s0): its image could not be built, loaded or found']
    """
    return [
        f"{e['team']} (submission {e['submission']}): {e['reason']}"
        for e in (metadata or {}).get("not_ranked", [])
    ]


def nondeterministic_teams(metadata: Mapping[str, Any] | None) -> dict[str, str]:
    """Teams the determinism check flagged, each with why, from ``metadata["determinism"]``.

    Parameters
    ----------
    metadata : mapping or None
        The leaderboard's metadata; its optional ``determinism`` maps a team to the outcome of
        running one of its cases twice: ``{case_id, identical, differing_voxels, reason}``
        (``identical`` true, false, or null when nothing was compared).

    Returns
    -------
    dict of str to str
        Team -> ``"case <id>: <reason>"`` for each team whose ``identical`` is false, sorted by
        team. Empty without ``determinism``.

    Raises
    ------
    ValueError
        ``determinism`` is not a mapping of team names to mappings with ``identical``.

    Examples
    --------
    >>> nondeterministic_teams({"determinism": {
    ...     "b": {"case_id": "c1", "identical": False, "reason": "3 of 8 voxels differ"},
    ...     "a": {"case_id": "c1", "identical": True, "reason": ""}}})
    {'b': 'case c1: 3 of 8 voxels differ'}
    """
    outcomes = (metadata or {}).get("determinism")
    if outcomes is None:
        return {}
    if not isinstance(outcomes, Mapping) or not all(
        isinstance(v, Mapping) and "identical" in v for v in outcomes.values()
    ):
        raise ValueError(
            "metadata['determinism'] must map each team to its determinism outcome "
            f"({{case_id, identical, reason}}); got {outcomes!r}"
        )
    return {
        str(team): f"case {det.get('case_id')}: {det.get('reason') or 'the two masks differ'}"
        for team, det in sorted(outcomes.items())
        if det["identical"] is False
    }


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return _DASH
    if isinstance(value, float | np.floating):
        return f"{value:.{digits}f}"
    return str(value)


def _row_style(group: int) -> str:
    colour = plots.group_colour(group, strong=False)
    return f' style="background:{colour}"' if colour else ""


def _overall_table(board: Any, flagged: Mapping[str, str]) -> str:
    t = board.table
    tracks = list(board.ranking.track_scores)
    boot = board.bootstrap is not None
    head = ["Rank", "Team", "Score", *[f"{tr} rank" for tr in tracks]]
    if boot:
        head += [f"{round(board.bootstrap.confidence * 100)}% rank interval", "median rank"]
    head += ["cases completed", "failures"]
    cells = [f'<th class="{"team" if h == "Team" else ""}">{_e(h)}</th>' for h in head]
    rows = []
    failures = [c for c in t.columns if c.startswith("failed_")]
    for r in t.to_dict(orient="records"):
        fails = ", ".join(f"{c[7:]} {r[c]}" for c in failures if r[c])
        mark = ""
        if r["team"] in flagged:
            mark = (
                f'<span class="nondet" title="not deterministic: {_e(flagged[r["team"]])}">'
                f"{NONDETERMINISTIC_MARK}</span>"
            )
        tds = [
            f'<td class="rank">{r["rank"]}</td>',
            f'<td class="team" title="{_e(r["team"])}">{_e(r["display_name"])}{mark}</td>',
            f"<td>{_fmt(r['score'])}</td>",
            *[f"<td>{_fmt(r[f'{tr}_rank'])}</td>" for tr in tracks],
        ]
        if boot:
            tds += [
                f"<td>{int(r['rank_ci_low'])} {_DASH} {int(r['rank_ci_high'])}</td>",
                f"<td>{_fmt(r['rank_median'], 1)}</td>",
            ]
        tds += [
            f"<td>{r['cases_completed']} / {r['cases_total']}</td>",
            f'<td class="{"fail" if fails else ""}">{_e(fails or _DASH)}</td>',
        ]
        cls = "tied" if r["statistically_tied"] else ""
        rows.append(
            f'<tr class="{cls}" data-team="{_e(r["team"])}" data-rank="{r["rank"]}"'
            f"{_row_style(int(r['tied_group']))}>{''.join(tds)}</tr>"
        )
    return (
        '<div class="scroll"><table id="overall"><thead><tr>'
        + "".join(cells)
        + "</tr></thead><tbody>"
        + "\n".join(rows)
        + "</tbody></table></div>"
    )


def _track_table(board: Any, track: str) -> str:
    t = board.table
    per_track = metric_info.track_metrics()[track]
    shown = [m for m in per_track if f"{track}_{m}_mean" in t.columns]
    ranked = board.ranked.get(track, ())
    units = [u for u in board.inputs.units if u[0] == track]
    head = ["Overall rank", "Team", f"{track} rank"]
    rank_cols = []
    for unit in units:
        label = track if unit[1] is None else f"{track}:{unit[1]}"
        for m in ranked:
            rank_cols.append(
                (f"{label}_{m}_rank", f"{m} rank" if unit[1] is None else f"{unit[1]} {m} rank")
            )
    head += [h for _, h in rank_cols]
    head += [f"mean {m}" + (" ★" if m in ranked else "") for m in shown]
    cells = [f'<th class="{"team" if h == "Team" else ""}">{_e(h)}</th>' for h in head]
    order = t.sort_values([f"{track}_rank", "team"], kind="stable")
    rows = []
    for r in order.to_dict(orient="records"):
        tds = [
            f'<td class="rank">{r["rank"]}</td>',
            f'<td class="team">{_e(r["display_name"])}</td>',
            f"<td>{_fmt(r[f'{track}_rank'])}</td>",
            *[f"<td>{_fmt(r[c], 2)}</td>" for c, _ in rank_cols],
            *[f"<td>{_fmt(r[f'{track}_{m}_mean'])}</td>" for m in shown],
        ]
        rows.append(f'<tr data-team="{_e(r["team"])}">{"".join(tds)}</tr>')
    return (
        f'<div class="scroll"><table id="track-{_e(track)}"><thead><tr>'
        + "".join(cells)
        + "</tr></thead><tbody>"
        + "\n".join(rows)
        + "</tbody></table></div>"
    )


def _mip_gallery(board: Any, split: SplitInfo | None, volumes: VolumeLoader | None) -> list[str]:
    frame = board.results.frame
    if split is None or volumes is None:
        return []
    if "prediction" not in frame.columns or not (frame["prediction"] != "").any():
        return []
    cfg = board.config.report
    teams = [board.results.teams[i] for i in board.order]
    names = board.results.display_names
    parts = []
    for case in list(split.cases)[: cfg.mip_cases]:
        image = volumes.image(case.case_id)
        first = image_projection(image, size=cfg.mip_size)
        panels: list[tuple[str, np.ndarray, str | None]] = [("image", first, None)]
        reference = volumes.reference(case.case_id)
        if reference is not None:
            panels.append(("reference", error_projection(reference, None, size=cfg.mip_size), None))
        rows = frame[frame["case_id"] == case.case_id].set_index("team")
        for team in teams:
            row = rows.loc[team]
            label = plots._short(names[team], 16)
            path_text = str(row["prediction"])
            if row["status"] != "ok" or not path_text:
                blank = np.zeros_like(panels[0][1])
                panels.append((label, blank, str(row["status"]).replace("_", " ")))
                continue
            prediction = volumes.prediction(case.case_id, path_text)
            if reference is None:
                rgb = error_projection(prediction, None, size=cfg.mip_size)
            else:
                if prediction.shape != reference.shape:
                    raise ResultsError(
                        path_text,
                        [
                            f"prediction shape {prediction.shape} differs from the reference "
                            f"{reference.shape} of case {case.case_id!r} (team {team!r})"
                        ],
                    )
                rgb = error_projection(reference, prediction, size=cfg.mip_size)
            dice = row.get("dice", np.nan)
            panels.append((f"{label} · Dice {_fmt(float(dice), 2)}", rgb, None))
        png = plots.mip_panels(panels)
        parts.append(
            f"<h3>{_e(case.case_id)} <small>({_e(case.track)}, {_e(case.structure)})</small></h3>"
            + _img(png, f"projections of case {case.case_id}")
        )
    if len(split.cases) > cfg.mip_cases:
        parts.append(
            f'<p class="note">Showing {cfg.mip_cases} of {len(split.cases)} cases '
            "(<code>report.mip_cases</code>).</p>"
        )
    return parts


def render_html(
    board: Any,
    record: dict[str, Any],
    *,
    split: SplitInfo | None = None,
    volumes: VolumeLoader | None = None,
) -> str:
    """Render the report page.

    Parameters
    ----------
    board : leaderboard.build.Leaderboard
    record : dict
        The ``leaderboard.json`` content (configuration and provenance shown at the end).
    split : SplitInfo, optional, keyword-only
        The split's cases; with ``volumes``, enables the projection gallery.
    volumes : VolumeLoader, optional, keyword-only
        Reads the images, references and predictions the gallery draws.

    Returns
    -------
    str
        The whole HTML document.
    """
    res = board.results
    teams = [res.teams[i] for i in board.order]
    labels = [res.display_names[t] for t in teams]
    metadata = record.get("metadata")
    # In page order; a section with nothing to show is left out, of the page and of its links.
    candidates: list[tuple[str, str, str | None]] = [
        ("overall", "Overall ranking", _overall_section(board, metadata)),
        *(
            (f"track-{track}", f"{track.capitalize()}-like track", _track_section(board, track))
            for track in board.ranking.track_scores
        ),
        (
            "grand-challenge",
            "grand-challenge's leaderboard",
            grand_challenge_section(
                metadata,
                res.display_names,
                dict(zip(board.table["team"], board.table["rank"], strict=True)),
            ),
        ),
        (
            "evaluation-container",
            "Evaluation container",
            container_section(metadata, res.display_names),
        ),
        ("uncertainty", "Ranking uncertainty", _uncertainty_section(board, labels)),
        ("distributions", "Per-case scores", _distributions_section(board, teams, labels)),
        ("cases", "Where teams fail", _cases_section(board, teams, labels)),
        ("resources", "Runtime and memory", _resources_section(board, teams, labels)),
        (
            "projections",
            "Maximum-intensity projections",
            _projections_section(board, split, volumes),
        ),
        ("provenance", "Provenance", _provenance_section(board, record, teams)),
    ]
    sections = [(anchor, title, body) for anchor, title, body in candidates if body is not None]
    return _page(board, record, sections, teams=teams)


def _overall_section(board: Any, metadata: Mapping[str, Any] | None) -> str:
    """The overall table, with the notes on flagged and tied teams."""
    res, cfg = board.results, board.config
    flagged = {
        t: why for t, why in nondeterministic_teams(metadata).items() if t in res.display_names
    }
    nondet_note = ""
    if flagged:
        nondet_note = (
            f'<p class="note" id="nondeterministic">{NONDETERMINISTIC_MARK} Not deterministic: '
            "one case, run a second time in a fresh container, gave a different mask ("
            + "; ".join(
                f"{_e(res.display_names.get(t, t))}, {_e(why)}" for t, why in flagged.items()
            )
            + "). Flagged, not failed: the team is ranked on its first run's masks.</p>"
        )
    tied_note = ""
    if board.bootstrap is not None:
        tied_note = (
            '<p class="note">Rows sharing a colour (and marked ≈) form a statistically tied group: '
            "their bootstrap rank intervals overlap with a neighbour's, so the data cannot "
            "separate them.</p>"
        )
    return (
        f'<p class="note">Profile {_e(cfg.profile)}: {_e(cfg.scheme)}, aggregated per '
        f"{_e(cfg.unit_kind)}. Score = mean of "
        "the track ranks; lower is better. Ties share the lowest rank.</p>"
        + _overall_table(board, flagged)
        + nondet_note
        + _not_ranked_note(metadata)
        + tied_note
    )


def _not_ranked_note(metadata: Mapping[str, Any] | None) -> str:
    lines = not_ranked(metadata)
    if not lines:
        return ""
    return (
        '<p class="note" id="not-ranked">Not ranked, having run no case: '
        + "; ".join(_e(line) for line in lines)
        + ".</p>"
    )


def _track_section(board: Any, track: str) -> str:
    """One track's ranked metrics and its table."""
    cases = int((board.results.cases["track"] == track).sum())
    return (
        f'<p class="note">Ranked: {_e(", ".join(board.ranked[track]))} (★). Means over '
        f"{cases} cases, failed cases at their worst "
        "values.</p>" + _track_table(board, track)
    )


def _uncertainty_section(board: Any, labels: list[str]) -> str | None:
    """The bootstrap's rank distribution; None without a bootstrap."""
    if board.bootstrap is None:
        return None
    b, cfg, order = board.bootstrap, board.config, list(board.order)
    taus = b.kendall_tau[np.isfinite(b.kendall_tau)]
    tau_text = (
        f"Kendall's tau between the full ranking and the resamples: mean {taus.mean():.3f}, "
        f"median {np.median(taus):.3f}."
        if taus.size
        else "Kendall's tau is undefined (every resample ties all teams)."
    )
    png = plots.blob_plot(
        b.frequency[order],
        labels=labels,
        median=b.median[order],
        low=b.low[order],
        high=b.high[order],
        groups=board.groups[order],
    )
    return (
        f'<p class="note">{b.resamples} bootstrap resamples of the cases (seed {b.seed}, '
        f"stratified per {_e(cfg.unit_kind)}). Circle area: share of resamples with that "
        f"rank; black: median and {round(b.confidence * 100)}% interval. {tau_text}</p>"
        + _img(png, "bootstrap rank distribution")
    )


def _distributions_section(board: Any, teams: list[str], labels: list[str]) -> str:
    """Per track, each ranked metric's (and the extra plotted metrics') values per case."""
    res, cfg = board.results, board.config
    frame = res.frame
    dist = []
    for track in board.ranking.track_scores:
        applicable = metric_info.track_metrics()[track]
        extra = [
            m
            for m in cfg.report.extra_plot_metrics
            if m in applicable
            and m in res.metrics
            and m not in board.ranked[track]
            and frame.loc[frame["track"] == track, m].notna().any()
        ]
        metrics = [*board.ranked[track], *extra]
        png = plots.metric_distributions(
            frame,
            track=track,
            metrics=metrics,
            teams=teams,
            labels=labels,
            ranked=board.ranked[track],
        )
        dist.append(f"<h3>{_e(track)}</h3>" + _img(png, f"{track} metric distributions"))
    return (
        '<p class="note">Each point is a case; red crosses are failed cases scored at the worst '
        "value.</p>" + "".join(dist)
    )


def _cases_section(board: Any, teams: list[str], labels: list[str]) -> str:
    """Per track, a heat map of each team's ranked scores per case, failures lettered."""
    heat = []
    for track in board.ranking.track_scores:
        metrics = board.ranked[track]
        png = plots.case_heatmap(
            board.results.frame,
            track=track,
            metrics=metrics,
            teams=teams,
            labels=labels,
            directions=[metric_info.higher_is_better(m) for m in metrics],
        )
        heat.append(_img(png, f"{track} scores per case"))
    legend = ", ".join(f"{code} {status}" for status, code in plots.STATUS_CODES.items())
    return (
        f'<p class="note">Rows in rank order. Letters mark cases that did not run cleanly: '
        f"{_e(legend)}.</p>" + "".join(heat)
    )


def _resources_section(board: Any, teams: list[str], labels: list[str]) -> str | None:
    """Runtime and peak memory per team; None when the table records neither."""
    png = plots.resource_plot(board.results.frame, teams=teams, labels=labels)
    return None if png is None else _img(png, "runtime and peak memory")


def _projections_section(
    board: Any, split: SplitInfo | None, volumes: VolumeLoader | None
) -> str | None:
    """The projection gallery; None when there is nothing to draw."""
    gallery = _mip_gallery(board, split, volumes)
    if not gallery:
        return None
    return (
        '<p class="note">Projections along z. Prediction panels: true positives white, false '
        "positives magenta, false negatives green (each pixel mixes the colours by voxel "
        "counts along its ray).</p>" + "".join(gallery)
    )


def _provenance_section(board: Any, record: dict[str, Any], teams: list[str]) -> str:
    """What the ranking was computed from and with: split, results, tool, images and models."""
    res, cfg = board.results, board.config
    provenance = [
        ("split", record.get("split_hash") or "not recorded"),
        ("results", record["results_digest"]),
        ("tool", f"selma3d {record['tool']['version']}"),
        ("profile", cfg.profile),
        ("scheme", cfg.scheme),
        ("aggregation", cfg.unit_kind),
        ("ranked metrics", "; ".join(f"{t}: {', '.join(m)}" for t, m in board.ranked.items())),
    ]
    stages = (record.get("metadata") or {}).get("stages")
    if stages:
        provenance.append(("stage times", _stage_times(stages)))
    models = (record.get("metadata") or {}).get("models") or {}
    for team in teams:
        digests = res.image_digests.get(team) or ["not recorded"]
        provenance.append((f"image of {team}", ", ".join(digests)))
        if team in models:
            provenance.append((f"model of {team}", str(models[team])))
    return "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in provenance) + "</dl>"


def _page(
    board: Any, record: dict[str, Any], sections: list[tuple[str, str, str]], *, teams: list[str]
) -> str:
    """The whole document: header, links to the sections, the sections, footer."""
    res, cfg = board.results, board.config
    subtitle = f"{len(teams)} teams · {len(res.cases)} cases · " + " · ".join(
        f"{t}: {int((res.cases['track'] == t).sum())} cases" for t in res.tracks
    )
    links = "".join(f'<a href="#{a}">{_e(t)}</a>' for a, t, _ in sections)
    body = "\n".join(
        f'<section id="{a}"><h2>{_e(t)}</h2>{text}</section>' for a, t, text in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(cfg.report.title)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{_CSS}</style></head><body>"
        f"<header><h1>{_e(cfg.report.title)}</h1><p>{_e(subtitle)}</p>"
        f"<p>split <code>{_e(record.get('split_hash') or 'not recorded')}</code></p></header>"
        f"<main><nav>{links}</nav>"
        + body
        + f"</main><footer>selma3d {_e(record['tool']['version'])}</footer></body></html>\n"
    )


def _stage_times(stages: Mapping[str, Any]) -> str:
    """A round's container and scoring busy times and their overlap, as one provenance line."""
    containers, scoring = stages.get("containers", {}), stages.get("scoring", {})
    return (
        f"containers busy {containers.get('busy_s', 0):.1f} s; scoring busy "
        f"{scoring.get('busy_s', 0):.1f} s ({scoring.get('cpu_s', 0):.1f} s CPU, "
        f"{scoring.get('tasks', 0)} task(s), {scoring.get('reused', 0)} case(s) reused); "
        f"overlap {stages.get('overlap_s', 0):.1f} s; scoring after the containers "
        f"{stages.get('scoring_after_containers_s', 0):.1f} s"
    )
