"""The report's section on the organizers' evaluation container, beside selma3d's own scores.

Reads ``metadata["evaluation_container"]``: team -> the run's public record
(:func:`leaderboard.public.public_metadata`: status and its fixed text, image digest, ground
truth hash, time, peak memory, and the comparison with selma3d's values that
``harness.evaluation`` made: the form of its ``metrics.json``, each value by what selma3d
compared it with, and how many notes the organizer's record holds); no log, no path and no
name from the container's ``metrics.json`` ever reach it. It renders what it is given; it
parses and compares nothing.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

__all__ = ["METADATA_KEY", "container_section"]

METADATA_KEY = "evaluation_container"


def _e(value: Any) -> str:
    return html.escape(str(value))


def _num(value: Any) -> str:
    return "-" if value is None else f"{float(value):.6g}"


def _what(value: Mapping[str, Any]) -> str:
    """``dice, vessel, mean`` or ``dice, case vessel_000``."""
    if value.get("case"):
        return f"{value.get('metric')}, case {value['case']}"
    return f"{value.get('metric')}, {value.get('track')}, {value.get('statistic')}"


def container_section(
    metadata: Mapping[str, Any] | None, display_names: Mapping[str, str]
) -> str | None:
    """The section's HTML body, or None when the round ran no evaluation container.

    Examples
    --------
    >>> body = container_section({"evaluation_container": {"a": {"status": "failed",
    ...     "reason": "the evaluation container failed"}}}, {"a": "Team A"})
    >>> "Team A" in body and "the evaluation container failed" in body
    True
    """
    runs = (metadata or {}).get(METADATA_KEY)
    if not runs:
        return None
    rows = []
    details = []
    for team, run in sorted(runs.items()):
        name = display_names.get(team, team)
        comparison = run.get("comparison") or {}
        differences = comparison.get("differences") or []
        compared = comparison.get("compared")
        peak = run.get("peak_memory_bytes")
        verdict = (
            f"{len(differences)} difference(s) in {compared}" if compared is not None
            else _e(run.get("reason", ""))
        )
        rows.append(
            "<tr>"
            f"<td>{_e(name)}</td><td>{_e(run.get('status', ''))}</td><td>{verdict}</td>"
            f"<td>{_num(run.get('wall_time_s'))} s</td>"
            f"<td>{'-' if peak is None else f'{peak / (1 << 20):.0f} MiB'}</td>"
            f"<td><code>{_e(str(run.get('image_digest', ''))[:19])}</code></td>"
            f"<td><code>{_e(str(run.get('ground_truth_sha256', ''))[:19])}</code></td>"
            "</tr>"
        )
        if differences:
            items = "".join(
                f"<li>{_e(_what(d))}: container "
                f"{_num(d['container'])} vs selma3d {_num(d['selma3d'])}</li>"
                for d in differences
            )
            details.append(f"<h3>{_e(name)}: differences</h3><ul>{items}</ul>")
        aggregates = [v for v in comparison.get("values") or [] if not v.get("case")]
        if aggregates:
            cells = "".join(
                f"<tr><td>{_e(_what(v))}</td>"
                f"<td>{_num(v['container'])}</td><td>{_num(v['selma3d'])}</td>"
                f"<td>{'≠' if v.get('differs') else '='}</td></tr>"
                for v in aggregates
            )
            details.append(
                f"<h3>{_e(name)}: side by side ({_e(comparison.get('form', ''))} form)</h3>"
                "<table><tr><th>selma3d value</th><th>container</th>"
                f"<th>selma3d</th><th></th></tr>{cells}</table>"
            )
        if comparison.get("note_count"):
            details.append(
                f"<p>{_e(name)}: {int(comparison['note_count'])} note(s) on values with no "
                "counterpart or no value (NaN, Infinity); the organizer's round.json names them."
                "</p>"
            )
    table = (
        "<table><tr><th>team</th><th>status</th><th>compared with selma3d</th><th>time</th>"
        "<th>peak memory</th><th>image</th><th>ground truth</th></tr>" + "".join(rows) + "</table>"
    )
    note = (
        '<p class="note">The organizers\' evaluation container, run on each team\'s predictions '
        "as grand-challenge runs it; every value it reports is compared with selma3d's for the "
        "same cases, and a difference beyond 1e-9 is named.</p>"
    )
    return note + table + "".join(details)
