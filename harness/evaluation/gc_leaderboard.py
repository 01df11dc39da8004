"""grand-challenge's leaderboard of a phase, computed as grand-challenge computes it.

On grand-challenge the board participants see is made from each successful evaluation's
``metrics.json`` by the phase's settings (:class:`~harness.evaluation.config.LeaderboardSettings`:
``score_jsonpath``, ``extra_results_columns``, ``scoring_method_choice``,
``result_display_choice``...). This module ports that computation from grand-challenge's own
code (repository comic/grand-challenge.org, ``app/grandchallenge/``), one function per upstream
function, so a rehearsal shows the ranks grand-challenge will show:

- :func:`get_jsonpath`: ``evaluation/templatetags/evaluation_extras.py`` ``get_jsonpath``
  (dotted keys, objects only; anything missing is ``""``);
- :func:`stored_metrics`: ``components/backends/base.py`` ``_create_json_result``
  (``NaN``, ``Infinity`` and ``-Infinity`` are stored as null);
- :func:`valid_metrics`: ``evaluation/models.py`` ``Phase.valid_metrics`` (the score, then
  every extra column not ``exclude_from_ranking``);
- :func:`invalid_metrics`: ``Evaluation.invalid_metrics`` (a ranked path whose value is not an
  ``int`` or ``float``);
- :func:`scores_to_ranks`: ``evaluation/utils.py`` ``_scores_to_ranks`` (sorted, tied values
  share the position of the first of them: 1, 2, 2, 4);
- :func:`rank_results`: ``rank_results``, ``_filter_valid_results``, ``_get_rank_per_metric``
  and ``Phase.scoring_method`` (absolute: the score's own rank; mean or median position:
  ``statistics.mean`` / ``statistics.median`` of the ranks per metric path);
- :func:`most_recent_per_participant`, :func:`best_per_participant` and
  :func:`calculate_ranks`: ``evaluation/tasks.py`` ``filter_by_creators_most_recent``,
  ``filter_by_creators_best`` and ``calculate_ranks`` (evaluations newest first; the
  leaderboard view shows those with ``rank > 0``);
- :func:`floatformat`: the leaderboard row template's ``floatformat`` (Django's: the value's
  decimal text rounded half up), with ``score_decimal_places``.

A participant on grand-challenge is a user (the submission's creator); here it is a team.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from harness.evaluation.config import LeaderboardSettings

__all__ = [
    "Board",
    "BoardRow",
    "Evaluation",
    "Metric",
    "Positions",
    "best_per_participant",
    "board_table",
    "calculate_ranks",
    "floatformat",
    "get_jsonpath",
    "invalid_metrics",
    "most_recent_per_participant",
    "rank_results",
    "scores_to_ranks",
    "stored_metrics",
    "valid_metrics",
]


@dataclass(frozen=True)
class Metric:
    """A ranked column: its JSON path, and ``reverse`` (True: higher is better, ``desc``)."""

    path: str
    reverse: bool


@dataclass(frozen=True)
class Evaluation:
    """One submission's successful evaluation.

    Attributes
    ----------
    key : str
        Unique (``team/submission``).
    participant : str
        Who submitted it (grand-challenge's submission creator; a team here).
    submission : str
    metrics : mapping
        The parsed ``metrics.json`` (after :func:`stored_metrics`).
    """

    key: str
    participant: str
    submission: str
    metrics: Mapping[str, Any]


@dataclass(frozen=True)
class Positions:
    """``rank_results``' answer: final rank, rank score and rank per metric path, by key."""

    ranks: dict[str, int]
    rank_scores: dict[str, float]
    rank_per_metric: dict[str, dict[str, int]]


@dataclass(frozen=True)
class BoardRow:
    """One row of the leaderboard (an evaluation with ``rank > 0``)."""

    evaluation: Evaluation
    rank: int
    rank_score: float
    rank_per_metric: dict[str, int]


@dataclass(frozen=True)
class Board:
    """The leaderboard: shown rows by rank, and why each other evaluation is not shown.

    Attributes
    ----------
    rows : tuple of BoardRow
        By rank; equal ranks by participant, then submission (grand-challenge leaves their
        order to the database).
    hidden : dict
        Key -> why it has rank 0 (not on the board).
    """

    rows: tuple[BoardRow, ...]
    hidden: dict[str, str] = field(default_factory=dict)


def get_jsonpath(obj: Any, jsonpath: str) -> Any:
    """The value at a dotted path, or ``""`` when any step is missing.

    Port of grand-challenge's template filter ``get_jsonpath``: the path is split on ``.``
    and each part used as a key; a missing key or a step into something that takes no string
    key (a list, a number, null) gives ``""``.

    Examples
    --------
    >>> get_jsonpath({"aggregates": {"dice": {"mean": 0.8}}}, "aggregates.dice.mean")
    0.8
    >>> get_jsonpath({"results": [{"dice": 1.0}]}, "results.0.dice")
    ''
    """
    value = obj
    for key in str(jsonpath).split("."):
        try:
            value = value[key]
        except (KeyError, TypeError, IndexError):
            return ""
    return value


def stored_metrics(metrics: Any) -> Any:
    """``metrics`` as grand-challenge stores it: every non-finite float becomes None.

    grand-challenge reads ``metrics.json`` with ``json.loads(..., parse_constant=lambda x:
    None)`` (``_create_json_result``), so ``NaN``, ``Infinity`` and ``-Infinity`` are null;
    Python's ``json`` module, which read the file here, made them floats.

    Examples
    --------
    >>> stored_metrics({"a": float("nan"), "b": [1.0, float("inf")]})
    {'a': None, 'b': [1.0, None]}
    """
    if isinstance(metrics, float) and not math.isfinite(metrics):
        return None
    if isinstance(metrics, dict):
        return {k: stored_metrics(v) for k, v in metrics.items()}
    if isinstance(metrics, list):
        return [stored_metrics(v) for v in metrics]
    return metrics


def valid_metrics(settings: LeaderboardSettings) -> tuple[Metric, ...]:
    """The ranked metrics: the score, then each extra column not excluded from ranking.

    Port of ``Phase.valid_metrics``; ``desc`` ranks higher values first.
    """
    return (
        Metric(settings.score_jsonpath, settings.score_default_sort == "desc"),
        *(
            Metric(c.path, c.order == "desc")
            for c in settings.extra_results_columns
            if not c.exclude_from_ranking
        ),
    )


def invalid_metrics(metrics: Mapping[str, Any], paths: Iterable[Metric]) -> set[str]:
    """The ranked paths whose value is not an ``int`` or ``float`` (``Evaluation.invalid_metrics``).

    A string, null, an object or a missing key is invalid; ``true``/``false`` are valid, as
    Python's ``bool`` is an ``int``.

    Examples
    --------
    >>> sorted(invalid_metrics({"a": 1, "b": "0.5", "c": None},
    ...     [Metric("a", True), Metric("b", True), Metric("c", True), Metric("d", True)]))
    ['b', 'c', 'd']
    """
    return {m.path for m in paths if not isinstance(get_jsonpath(metrics, m.path), int | float)}


def scores_to_ranks(scores: Mapping[str, Any], *, reverse: bool = False) -> dict[str, int]:
    """Ranks from scores; equal scores share the rank of the first of them (``_scores_to_ranks``).

    The scores are sorted (stably; ``reverse`` for descending) and each takes its 1-based
    position, unless it equals the previous score, whose rank it then keeps.

    Examples
    --------
    >>> scores_to_ranks({"a": 0.9, "b": 0.7, "c": 0.9, "d": 0.5}, reverse=True)
    {'a': 1, 'c': 1, 'b': 3, 'd': 4}
    """
    ranks: dict[str, int] = {}
    current_score: Any = None
    current_rank = 0
    for position, (key, score) in enumerate(
        sorted(scores.items(), key=lambda item: item[1], reverse=reverse), start=1
    ):
        if score != current_score:
            current_score, current_rank = score, position
        ranks[key] = current_rank
    return ranks


def _scoring_method(choice: str) -> Callable[[list[int]], float]:
    """``Phase.scoring_method``: the rank score from the ranks per metric, in metric order."""
    if choice == "abs":
        return lambda ranks: ranks[0]
    if choice == "avg":
        return statistics.mean
    if choice == "med":
        return statistics.median
    raise ValueError(f"scoring_method_choice must be abs, avg or med. Got {choice!r}.")


def rank_results(
    evaluations: Sequence[Evaluation], *, metrics: Sequence[Metric], scoring_method_choice: str
) -> Positions:
    """Rank evaluations as grand-challenge's ``rank_results`` does.

    Evaluations with an invalid ranked metric are left out (``_filter_valid_results``); each
    remaining one is ranked per metric path (:func:`scores_to_ranks`; two columns with one
    path count once, as upstream keys the ranks by path); the rank score is the score's own
    rank (``abs``), or the mean (``avg``) or median (``med``) of the ranks; the final rank
    ranks the rank scores, lowest first.

    Parameters
    ----------
    evaluations : sequence of Evaluation
        Newest first (the order only decides the order of equal entries).
    metrics : sequence of Metric
        :func:`valid_metrics`.
    scoring_method_choice : {"abs", "avg", "med"}, keyword-only
    """
    method = _scoring_method(scoring_method_choice)
    valid = [e for e in evaluations if not invalid_metrics(e.metrics, metrics)]
    by_path: dict[str, dict[str, int]] = {}
    for metric in metrics:
        by_path[metric.path] = scores_to_ranks(
            {e.key: get_jsonpath(e.metrics, metric.path) for e in valid}, reverse=metric.reverse
        )
    per_metric = {e.key: {path: ranks[e.key] for path, ranks in by_path.items()} for e in valid}
    rank_scores = {key: method(list(ranks.values())) for key, ranks in per_metric.items()}
    return Positions(
        ranks=scores_to_ranks(rank_scores, reverse=False),
        rank_scores=rank_scores,
        rank_per_metric=per_metric,
    )


def most_recent_per_participant(evaluations: Sequence[Evaluation]) -> list[Evaluation]:
    """Each participant's first evaluation in ``evaluations`` (newest first): its most recent.

    Port of ``filter_by_creators_most_recent``. It runs before invalid metrics are filtered,
    so a participant whose most recent evaluation lacks a ranked metric has no row at all.
    """
    seen: set[str] = set()
    kept = []
    for e in evaluations:
        if e.participant not in seen:
            seen.add(e.participant)
            kept.append(e)
    return kept


def best_per_participant(
    evaluations: Sequence[Evaluation], ranks: Mapping[str, int]
) -> list[Evaluation]:
    """Each participant's best-ranked evaluation (``filter_by_creators_best``).

    An unranked evaluation (invalid metrics) is skipped; among equal ranks the first in
    ``evaluations`` (newest first) is kept.
    """
    best: dict[str, Evaluation] = {}
    for e in evaluations:
        if e.key not in ranks:
            continue
        if e.participant not in best or ranks[e.key] < ranks[best[e.participant].key]:
            best[e.participant] = e
    return list(best.values())


def calculate_ranks(
    evaluations: Sequence[Evaluation], settings: LeaderboardSettings
) -> Board:
    """The phase's leaderboard, as grand-challenge's ``calculate_ranks`` task computes it.

    Parameters
    ----------
    evaluations : sequence of Evaluation
        Every successful evaluation of the phase, oldest first (the order of submission).
    settings : LeaderboardSettings

    Returns
    -------
    Board
        The evaluations given a rank (shown), and for each other one why it has rank 0.

    Examples
    --------
    >>> s = LeaderboardSettings(score_jsonpath="dice")
    >>> b = calculate_ranks([Evaluation("a/1", "a", "1", {"dice": 0.5}),
    ...                      Evaluation("b/1", "b", "1", {"dice": 0.7})], s)
    >>> [(r.evaluation.key, r.rank) for r in b.rows]
    [('b/1', 1), ('a/1', 2)]
    """
    newest_first = list(reversed(evaluations))
    metrics = valid_metrics(settings)
    method = settings.scoring_method_choice
    shown = newest_first
    if settings.result_display_choice == "rec":
        shown = most_recent_per_participant(newest_first)
    elif settings.result_display_choice == "bst":
        every = rank_results(newest_first, metrics=metrics, scoring_method_choice=method)
        shown = best_per_participant(newest_first, every.ranks)
    final = rank_results(shown, metrics=metrics, scoring_method_choice=method)
    rows = [
        BoardRow(e, final.ranks[e.key], final.rank_scores[e.key], final.rank_per_metric[e.key])
        for e in newest_first
        if e.key in final.ranks
    ]
    rows.sort(key=lambda r: (r.rank, r.evaluation.participant, r.evaluation.submission))
    kept = {e.key for e in shown}
    hidden = {}
    for e in newest_first:
        if e.key in final.ranks:
            continue
        bad = sorted(invalid_metrics(e.metrics, metrics))
        if bad:
            hidden[e.key] = "no number at " + ", ".join(bad) + " in metrics.json"
        elif e.key not in kept:
            what = "most recent" if settings.result_display_choice == "rec" else "best"
            hidden[e.key] = f"not {e.participant}'s {what} result"
    return Board(tuple(rows), hidden)


def floatformat(value: Any, places: int = -1) -> str:
    """A value as grand-challenge's templates show it: Django's ``floatformat`` filter.

    The value's decimal text (``str``) is rounded half up to ``places`` decimals; a negative
    ``places`` shows that many decimals only when the value is not whole (the rank score is
    shown with the default, -1). What is not a number (``""`` for a missing path, null, an
    object) shows as ``""``.

    Examples
    --------
    >>> floatformat(2.675, 2), floatformat(0.5, 0), floatformat(2.0), floatformat(7 / 3)
    ('2.68', '1', '2', '2.3')
    >>> floatformat("", 4), floatformat(None, 4), floatformat(-0.00001, 2)
    ('', '', '0.00')
    """
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        try:
            d = Decimal(str(float(value)))
        except (ValueError, TypeError, InvalidOperation):
            return ""
    if not d.is_finite():
        return str(value)
    whole = d == d.to_integral_value()
    if whole and places <= 0:
        return str(int(d))
    rounded = d.quantize(Decimal(1).scaleb(-abs(places)), rounding=ROUND_HALF_UP)
    if rounded == 0:
        rounded = abs(rounded)
    return format(rounded, "f")


def board_table(
    board: Board, settings: LeaderboardSettings, *, shown: bool = False
) -> tuple[list[str], list[list[Any]]]:
    """The board as a table: ``rank``, ``team``, ``submission``, ``rank_score``, then each column.

    Each column (the score, then every extra column in order) is headed by its title.

    Parameters
    ----------
    board : Board
    settings : LeaderboardSettings
    shown : bool, keyword-only
        False: each column holds its value rounded to ``score_decimal_places`` as
        grand-challenge shows it (text with those digits), ``rank_score`` the exact rank score.
        True: each cell is the text of grand-challenge's leaderboard row template
        (``leaderboard_row.html``): the value, ``± error`` with an error path, and ``(rank)``
        for a ranked column unless the scoring method is absolute; ``rank_score`` with
        ``floatformat``'s default (one decimal when not whole).

    Returns
    -------
    (list of str, list of list)
        Headers and rows.
    """
    places = settings.score_decimal_places
    positioned = settings.scoring_method_choice != "abs"
    columns = [
        (settings.score_title, settings.score_jsonpath, settings.score_error_jsonpath, True),
        *(
            (c.title, c.path, c.error_path, not c.exclude_from_ranking)
            for c in settings.extra_results_columns
        ),
    ]
    headers = ["rank", "team", "submission", "rank_score", *(c[0] for c in columns)]
    rows = []
    for r in board.rows:
        metrics = r.evaluation.metrics
        score: Any = floatformat(r.rank_score) if shown else r.rank_score
        row: list[Any] = [r.rank, r.evaluation.participant, r.evaluation.submission, score]
        for _title, path, error_path, ranked in columns:
            cell = floatformat(get_jsonpath(metrics, path), places)
            if shown and error_path:
                cell += " ± " + floatformat(get_jsonpath(metrics, error_path), places)
            if shown and positioned and ranked:
                cell += f" ({r.rank_per_metric.get(path, '')})"
            row.append(cell)
        rows.append(row)
    return headers, rows
