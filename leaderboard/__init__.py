"""Leaderboards: validate per-case results, rank teams, measure uncertainty, write reports.

Modules follow the data flow: ``results`` (load, validate, fill worst values) -> ``ranking``
(the three schemes) -> ``bootstrap`` (rank intervals, tied groups) -> ``build`` (CSV, JSON,
Markdown, and the HTML page of ``report``). ``report`` draws its figures with ``plots`` and
``mips``; its sections on what a round brings beside selma3d's ranking, ``gc_report``
(grand-challenge's leaderboard) and ``container_report`` (the organizers' evaluation container),
render what the harness computed and compute nothing. ``public`` is the one rule for what a
published leaderboard may tell a participant. ``metric_info`` is the one place metric directions
and defaults are read from (``metrics.METRICS``); ``config`` holds ``RankingConfig``; ``cases``
states, as protocols, what the leaderboard needs of a split and its volumes, which the harness
above provides. The statuses and the exception tree the leaderboard shares with the harness are
``common``'s (``common.status``, ``common.errors``).

Examples
--------
>>> import pandas as pd
>>> from leaderboard import RankingConfig, compute_leaderboard
>>> t = pd.DataFrame({"team": ["a", "b"], "case_id": "c1", "track": "vessel",
...     "structure": "blood_vessel", "status": "ok", "dice": [0.9, 0.8], "cldice": [0.7, 0.8]})
>>> cfg = RankingConfig(bootstrap={"resamples": 0})
>>> compute_leaderboard(t, config=cfg).table[["rank", "team"]].values.tolist()
[[1, 'a'], [1, 'b']]
"""

from common.status import STATUSES
from leaderboard.bootstrap import BootstrapResult, bootstrap_ranks, tied_groups
from leaderboard.build import OUTPUT_FILES, Leaderboard, build_leaderboard, compute_leaderboard
from leaderboard.config import RankingConfig, load_ranking_config
from leaderboard.ranking import holm_adjust, rank_min, ranking_inputs, score
from leaderboard.results import Results, prepare_results, read_results

__all__ = [
    "OUTPUT_FILES",
    "STATUSES",
    "BootstrapResult",
    "Leaderboard",
    "RankingConfig",
    "Results",
    "bootstrap_ranks",
    "build_leaderboard",
    "compute_leaderboard",
    "holm_adjust",
    "load_ranking_config",
    "prepare_results",
    "rank_min",
    "ranking_inputs",
    "read_results",
    "score",
    "tied_groups",
]
