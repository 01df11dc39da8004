"""The report's section on grand-challenge's leaderboard, beside selma3d's own ranking.

Renders ``metadata["grand_challenge_leaderboard"]``, a table computed elsewhere
(``harness.evaluation.gc_leaderboard``): ``headers`` and ``rows`` (``rank``, ``team``,
``submission``, ``rank_score``, then the phase's columns), ``shown`` (the same rows as
grand-challenge's leaderboard shows them: ``0.7731 ± 0.0362 (2)``; optional),
``hidden`` (submissions grand-challenge would not show, each with why) and ``settings`` (the
phase's settings). Each team's rank there (its best row's) is set beside its rank in selma3d's
board, and every team whose two ranks differ is named.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

__all__ = ["METADATA_KEY", "grand_challenge_section", "rank_differences"]

METADATA_KEY = "grand_challenge_leaderboard"


def _e(value: Any) -> str:
    return html.escape(str(value))


def rank_differences(
    table: Mapping[str, Any], selma3d_ranks: Mapping[str, int]
) -> list[tuple[str, int, int | None]]:
    """Teams whose grand-challenge rank differs from selma3d's: ``(team, selma3d, gc)``.

    A team's grand-challenge rank is its best row's (with several results shown per team);
    ``None`` when it has no row.

    Examples
    --------
    >>> t = {"headers": ["rank", "team"], "rows": [[1, "b"], [2, "a"], [3, "b"]]}
    >>> rank_differences(t, {"a": 1, "b": 2, "c": 3})
    [('a', 1, 2), ('b', 2, 1), ('c', 3, None)]
    """
    headers = list(table["headers"])
    rank_at, team_at = headers.index("rank"), headers.index("team")
    gc: dict[str, int] = {}
    for row in table["rows"]:
        team, rank = row[team_at], int(row[rank_at])
        gc[team] = min(rank, gc.get(team, rank))
    return [
        (team, int(rank), gc.get(team))
        for team, rank in sorted(selma3d_ranks.items(), key=lambda item: (item[1], item[0]))
        if gc.get(team) != int(rank)
    ]


def grand_challenge_section(
    metadata: Mapping[str, Any] | None,
    display_names: Mapping[str, str],
    selma3d_ranks: Mapping[str, int],
) -> str | None:
    """The section's HTML body, or None when the round computed no grand-challenge board.

    Examples
    --------
    >>> meta = {"grand_challenge_leaderboard": {"headers": ["rank", "team", "submission",
    ...     "rank_score", "Dice"], "rows": [[1, "a", "v1", 1, "0.9000"]], "hidden": [],
    ...     "settings": {"scoring_method_choice": "abs", "result_display_choice": "all"}}}
    >>> body = grand_challenge_section(meta, {"a": "Team A"}, {"a": 1})
    >>> "Team A" in body and "0.9000" in body and "same rank" in body
    True
    """
    table = (metadata or {}).get(METADATA_KEY)
    if not table:
        return None
    headers = list(table["headers"])
    team_at = headers.index("team")
    head = "".join(
        f'<th class="{"team" if h == "team" else ""}">{_e(h)}</th>' for h in headers
    )
    body = []
    for row in table.get("shown") or table["rows"]:
        cells = []
        for i, value in enumerate(row):
            if i == team_at:
                cells.append(f'<td class="team">{_e(display_names.get(value, value))}</td>')
            else:
                cells.append(f"<td>{_e(value)}</td>")
        body.append(f'<tr data-team="{_e(row[team_at])}">' + "".join(cells) + "</tr>")
    settings = table.get("settings") or {}
    note = (
        '<p class="note">The board grand-challenge computes from each submission\'s '
        "<code>metrics.json</code> (the evaluation container's) with the phase's settings: "
        f"scoring <code>{_e(settings.get('scoring_method_choice', ''))}</code>, results shown "
        f"<code>{_e(settings.get('result_display_choice', ''))}</code>. Values as its "
        "leaderboard shows them (<code>score_decimal_places</code>); equal rank scores share a "
        "rank. Also in <code>grand-challenge.csv</code>.</p>"
    )
    parts = [note, f'<div class="scroll"><table><tr>{head}</tr>{"".join(body)}</table></div>']
    hidden = table.get("hidden") or []
    if hidden:
        items = "".join(
            f"<li>{_e(display_names.get(h['team'], h['team']))} / {_e(h['submission'])}: "
            f"{_e(h['reason'])}</li>"
            for h in hidden
        )
        parts.append(f"<h3>Not on grand-challenge's board</h3><ul>{items}</ul>")
    differences = rank_differences(table, selma3d_ranks)
    if differences:
        items = "".join(
            f"<li>{_e(display_names.get(team, team))}: selma3d rank {ours}, grand-challenge "
            + (f"rank {theirs}" if theirs is not None else "no row")
            + "</li>"
            for team, ours, theirs in differences
        )
        parts.append(
            '<h3 id="grand-challenge-differences">Ranked differently by selma3d and '
            f"grand-challenge</h3><ul>{items}</ul>"
        )
    else:
        parts.append(
            '<p class="note">Every team has the same rank on both boards (same rank on '
            "selma3d's and grand-challenge's).</p>"
        )
    return "".join(parts)
