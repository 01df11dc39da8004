"""The canary's rule: once the canary case is recorded, whether the held cases are sent.

A run (or a round's submission) with ``canary`` runs its first pending case alone first
(:func:`canary_split`). :func:`after_canary` then decides, from
that case's record, what happens to the others. The runner's two contracts
(:mod:`harness.containers.exec_runs`, :mod:`harness.containers.invoke_slots`) and a round's
container stage (:mod:`harness.rounds.cluster.dispatch`) all follow it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from harness.containers.records import CaseRecord

__all__ = ["FINISHED", "STOPPED_BY_CANARY", "CanaryDecision", "after_canary", "canary_split"]

_T = TypeVar("_T")

FINISHED = "finished"
"""``run.json``'s ``state`` once every case sent is recorded."""
STOPPED_BY_CANARY = "stopped_by_canary"
"""``run.json``'s ``state`` when the canary case was not ``ok`` and the others were not sent."""


@dataclass(frozen=True)
class CanaryDecision:
    """What follows the canary case.

    Attributes
    ----------
    send_rest : bool
        Whether the held cases are sent (run).
    state : str
        ``run.json``'s ``state`` once the cases sent are recorded: :data:`FINISHED`, or
        :data:`STOPPED_BY_CANARY` when the rest is not sent.
    reason : str
        Why the held cases are not run, for the console; empty when they are sent or when none
        is held.
    """

    send_rest: bool
    state: str
    reason: str


def after_canary(record: CaseRecord, *, held: int) -> CanaryDecision:
    """Decide, from the canary case's record, whether the ``held`` other cases are sent.

    Only an ``ok`` canary sends the rest. Any other status stops the run there, an
    ``infrastructure_error`` too (the engine that failed the canary would fail the rest). The
    held cases get no record: they stay pending, and the next run (or rerun of the round)
    starts again with its own canary.

    Parameters
    ----------
    record : CaseRecord
        The canary case's record, as written.
    held : int, keyword-only
        How many cases wait for it.

    Returns
    -------
    CanaryDecision

    Raises
    ------
    ValueError
        ``held`` is negative.

    Examples
    --------
    >>> from harness.containers.records import CaseRecord
    >>> def canary(status):
    ...     return CaseRecord("c1", status, 0, 1.0, None, "sha256:a", "", "r1")
    >>> after_canary(canary("ok"), held=2)
    CanaryDecision(send_rest=True, state='finished', reason='')
    >>> after_canary(canary("timeout"), held=2).reason
    'the canary case c1 is timeout; its other 2 case(s) are not run'
    """
    if held < 0:
        raise ValueError(f"held must be a count of cases (0 or more); got {held}")
    if record.status == "ok":
        return CanaryDecision(send_rest=True, state=FINISHED, reason="")
    if not held:
        return CanaryDecision(send_rest=False, state=STOPPED_BY_CANARY, reason="")
    reason = f"the canary case {record.case_id} is {record.status}; its other {held} case(s) are"
    return CanaryDecision(send_rest=False, state=STOPPED_BY_CANARY, reason=f"{reason} not run")


def canary_split(cases: Sequence[_T], *, canary: bool) -> tuple[list[_T], list[_T]] | None:
    """The canary case alone and the cases held until it is ``ok``; None without a canary.

    A run with ``canary`` runs its first pending case alone first; if that case is not ``ok``
    the run stops there (``stopped_by_canary``) and the held cases are not run.

    Examples
    --------
    >>> canary_split(["a", "b", "c"], canary=True), canary_split(["a"], canary=True)
    ((['a'], ['b', 'c']), (['a'], []))
    >>> canary_split(["a", "b"], canary=False), canary_split([], canary=True)
    (None, None)
    """
    if canary and cases:
        return [cases[0]], list(cases[1:])
    return None
