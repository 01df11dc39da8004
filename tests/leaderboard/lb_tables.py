"""Builders of small results tables whose rankings are worked out by hand in the tests."""

from __future__ import annotations

import pandas as pd

from leaderboard import RankingConfig

STRUCTURE = {"vessel": "blood_vessel", "spot": "cfos"}


def rows(
    track: str,
    values: dict[str, dict[str, list[float]]],
    *,
    cases: list[str] | None = None,
    structure: str | None = None,
) -> list[dict]:
    """values[team][metric] = per-case list; case ids default to <track>_<k>."""
    out = []
    for team, metrics in values.items():
        n = len(next(iter(metrics.values())))
        ids = cases or [f"{track}_{k}" for k in range(n)]
        for k, case in enumerate(ids):
            row = {
                "team": team,
                "case_id": case,
                "track": track,
                "structure": structure or STRUCTURE[track],
                "status": "ok",
            }
            row.update({m: v[k] for m, v in metrics.items()})
            out.append(row)
    return out


def frame(*parts: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([r for p in parts for r in p])


def config(**fields) -> RankingConfig:
    fields.setdefault("bootstrap", {"resamples": 0})
    return RankingConfig(**fields)
