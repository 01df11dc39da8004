"""What a participant may see: the one rule for the metadata every published leaderboard carries.

Everything under a round's ``leaderboard/`` and ``leaderboards/<name>/`` (HTML, JSON, CSV,
Markdown) is public. Published: statuses, counts, metric values, image and model digests,
ground-truth hashes, times, peak memory, and the names the organizer chose (round, phase, teams,
affiliations, tag filters). Never published: text a container controls (its log, a log tail, a
reason that quotes either, names its ``metrics.json`` gives), paths of the organizer's machine,
anything naming the hidden ground truth's files. Reasons become a fixed text of their status
(:data:`EVALUATION_STATUS_TEXT`). The full records stay in the organizer's ``round.json`` and run
folders.

:func:`public_metadata` applies the rule by allow-list: per key of the metadata, the fields
kept; a key it does not know is refused, so a new kind of record is published only once it is
added here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["EVALUATION_STATUS_TEXT", "NOT_RANKED_STATUS_TEXT", "PUBLIC_FIELDS", "public_metadata"]

EVALUATION_STATUS_TEXT: Mapping[str, str] = {
    "ok": "",
    "not_run": "not run: a job of the submission did not succeed",
    "failed": "the evaluation container failed",
    "timeout": "the evaluation container ran past its time limit",
    "oom": "the evaluation container ran out of memory",
    "missing_metrics": "the evaluation container wrote no metrics.json",
    "invalid_metrics": "the evaluation container's metrics.json could not be used",
}
"""The published reason of each evaluation status (the organizer's record keeps the real one)."""

NOT_RANKED_STATUS_TEXT: Mapping[str, str] = {
    "image_failed": "its image could not be built, loaded or found",
}
"""The published reason of each status that keeps a submission off the board before it ran."""

_EVALUATION_FIELDS = (
    "status",
    "image_digest",
    "api_method",
    "ground_truth_sha256",
    "jobs",
    "wall_time_s",
    "peak_memory_bytes",
)
_COMPARED_FIELDS = ("metric", "track", "statistic", "case", "container", "selma3d", "differs")
_FORM = re.compile(r"^[a-z0-9_-]{1,40}$")
_DETERMINISM_FIELDS = ("case_id", "status", "identical", "differing_voxels")
PUBLIC_FIELDS: Mapping[str, str] = {
    "round": "the round's name",
    "phase": "the phase's name",
    "split_hash": "the split's content hash",
    "affiliations": "team -> affiliation, from the round file",
    "models": "team -> model sha256",
    "leaderboard": "a tag filter's name and where",
    "stages": "busy times of the round's stages (numbers)",
    "determinism": f"team -> {', '.join(_DETERMINISM_FIELDS)} and a reason made here",
    "evaluation_container": f"team -> {', '.join(_EVALUATION_FIELDS)}, the status's fixed text "
    "and the comparison's values",
    "not_ranked": "each submission that ran no case: its team, submission, status and the "
    "status's fixed text",
    "grand_challenge_leaderboard": "grand-challenge's board: the organizer's column titles and "
    "settings, each shown result's team, submission, rank and numbers, and each result left off "
    "with selma3d's reason",
}
"""The metadata keys a leaderboard may carry, and what of each is published."""
_WORD = re.compile(r"^[a-z_]{1,40}$")
_NUMBER_TEXT = re.compile(r"^[0-9.eE+\-±() ]{0,80}$")
_VOXELS_DIFFER = re.compile(r"^\d+ of \d+ voxels differ between two runs of the same case$")


def _status(value: Any) -> str:
    text = str(value)
    return text if _WORD.match(text) else "unknown"


def _numbers(value: Any) -> Any:
    """``value`` with every string leaf removed: only numbers, booleans and nulls stay."""
    if isinstance(value, Mapping):
        return {str(k): _numbers(v) for k, v in value.items() if not isinstance(v, str)}
    if isinstance(value, list | tuple):
        return [_numbers(v) for v in value if not isinstance(v, str)]
    return value


def _evaluation(run: Mapping[str, Any]) -> dict[str, Any]:
    status = _status(run.get("status", ""))
    out: dict[str, Any] = {k: run[k] for k in _EVALUATION_FIELDS if k in run}
    out["status"] = status
    out["reason"] = EVALUATION_STATUS_TEXT.get(status, f"the evaluation container's run: {status}")
    comparison = run.get("comparison")
    if isinstance(comparison, Mapping):
        form = str(comparison.get("form", ""))
        out["comparison"] = {
            # The form is selma3d's name for what it detected or was told; paths and notes
            # quote the container's metrics.json and stay in round.json.
            "form": form if _FORM.match(form) else "",
            "note_count": len(comparison.get("notes") or []),
            "compared": comparison.get("compared"),
            "tolerance": comparison.get("tolerance"),
            "differences": [
                {k: d.get(k) for k in _COMPARED_FIELDS} for d in comparison.get("differences", [])
            ],
            "values": [
                {k: v.get(k) for k in _COMPARED_FIELDS} for v in comparison.get("values", [])
            ],
        }
    return out


def _cell(value: Any) -> Any:
    """A board's cell: a number, or the text of one (grand-challenge shows numbers as text)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    text = str(value)
    return text if _NUMBER_TEXT.match(text) else ""


def _grand_challenge(board: Mapping[str, Any]) -> dict[str, Any]:
    # Titles, settings, teams and submissions are the organizer's; values reach the board only
    # as numbers (gc_leaderboard shows what is not a number as ""); a reason is selma3d's own
    # text (harness.rounds.evaluation gives a failed evaluation its status's fixed text).
    headers = [str(h) for h in board.get("headers", [])]
    named = {i for i, h in enumerate(headers) if h in ("team", "submission")}

    def rows(key: str) -> list[list[Any]]:
        return [
            [str(v) if i in named else _cell(v) for i, v in enumerate(row)]
            for row in board.get(key, [])
        ]

    return {
        "headers": headers,
        "rows": rows("rows"),
        "shown": rows("shown"),
        "hidden": [
            {k: str(h.get(k, "")) for k in ("team", "submission", "reason")}
            for h in board.get("hidden", [])
        ],
        "settings": board.get("settings", {}),
    }


def _not_ranked(entry: Mapping[str, Any]) -> dict[str, str]:
    # The real reason (a build log, the engine's words on a tarball) stays in round.json.
    status = _status(entry.get("status", ""))
    return {
        "team": str(entry.get("team", "")),
        "submission": str(entry.get("submission", "")),
        "status": status,
        "reason": NOT_RANKED_STATUS_TEXT.get(status, f"not run: {status}"),
    }


def _determinism(outcome: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: outcome[k] for k in _DETERMINISM_FIELDS if k in outcome}
    if "status" in out:
        out["status"] = _status(out["status"])
    reason = str(outcome.get("reason", ""))
    if outcome.get("identical") is False:
        # selma3d's own count (harness.containers.determinism); anything else gets a fixed text.
        out["reason"] = reason if _VOXELS_DIFFER.match(reason) else "the two masks differ"
    elif outcome.get("identical") is None:
        out["reason"] = (
            f"the second run ended {out.get('status', 'unknown')}; nothing was compared"
            if outcome.get("case_id") is not None
            else "no case was ok: nothing to compare"
        )
    else:
        out["reason"] = ""
    return out


def public_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """The part of a leaderboard's ``metadata`` that may be published (see the module's rule).

    Raises
    ------
    ValueError
        A key not in :data:`PUBLIC_FIELDS`.

    Examples
    --------
    >>> run = public_metadata({"evaluation_container": {"a": {"status": "failed",
    ...     "reason": "exited with code 3; log tail: /data/gt/case7.nii.gz",
    ...     "log_tail": "boom", "ground_truth": "/data/gt.tar.gz", "jobs": 2}}})
    >>> run["evaluation_container"]["a"]
    {'status': 'failed', 'jobs': 2, 'reason': 'the evaluation container failed'}
    """
    out: dict[str, Any] = {}
    for key, value in (metadata or {}).items():
        if key not in PUBLIC_FIELDS:
            raise ValueError(
                f"metadata key {key!r} is not publishable; a leaderboard carries only "
                f"{', '.join(PUBLIC_FIELDS)} (leaderboard.public)"
            )
        if key == "evaluation_container":
            out[key] = {str(t): _evaluation(r) for t, r in dict(value).items()}
        elif key == "determinism" and isinstance(value, Mapping):
            out[key] = {
                str(t): _determinism(o) if isinstance(o, Mapping) else o for t, o in value.items()
            }
        elif key == "grand_challenge_leaderboard" and isinstance(value, Mapping):
            out[key] = _grand_challenge(value)
        elif key == "not_ranked":
            out[key] = [_not_ranked(e) for e in value]
        elif key == "stages":
            out[key] = _numbers(value)
        else:
            out[key] = value
    return out
