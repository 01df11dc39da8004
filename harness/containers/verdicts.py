"""From a container run and what it left in ``/output`` to one case's status and reason.

With one run per case (grand-challenge) a failed run fails its case. A folder-contract run that
times out, runs out of memory or exits non-zero keeps what it wrote before: each case with an
output is judged on that output, the others take the run's failure. Output found unsafe anywhere
(links, devices, over a cap) discards the whole run's output. A case whose run never happened
because the engine failed is an ``infrastructure_error``, never charged to the team.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.containers.contracts import Contract, StagedCase
from harness.containers.isolation import ContainerResult
from harness.containers.limits import Limits
from harness.predictions.validate import (
    GateOptions,
    OutputLimits,
    scan_output_tree,
    validate_prediction,
)

__all__ = [
    "CaseVerdict",
    "Verdict",
    "case_verdict",
    "exceptions_in",
    "judge",
    "log_exceptions",
    "log_reason",
    "log_tail",
    "run_failure",
]

# An exception's last line as Python prints it, unindented: ``pkg.mod.SomeError: message``.
_EXCEPTION = re.compile(
    r"^(?:[A-Za-z_][\w]*\.)*[A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt|Failure|Fault)"
    r"(?::\s.*)?$"
)


@dataclass(frozen=True)
class Verdict:
    """The status of one case from its run and its output, before the prediction is validated.

    Attributes
    ----------
    status : str
    reason : str
    run_failure : tuple of (str, str) or None
        For an output kept from a multi-case run that then failed: the run's failure
        ``(status, reason)``, which the case gets instead if that output does not validate.
    """

    status: str
    reason: str = ""
    run_failure: tuple[str, str] | None = None


@dataclass(frozen=True)
class CaseVerdict:
    """The final status and reason of one case, and its mask when it is ``ok``.

    Attributes
    ----------
    status : str
        One of :data:`common.status.STATUSES`.
    reason : str
    mask : (Z, Y, X) ndarray of uint8 or None
        The validated, binarized prediction.
    """

    status: str
    reason: str
    mask: np.ndarray | None = None


def log_tail(log: str, *, lines: int = 8, chars: int = 600) -> str:
    """The last ``lines`` lines of ``log``, at most ``chars`` characters."""
    tail = "\n".join(line for line in log.strip().splitlines()[-lines:])
    return tail[-chars:]


def _log_line(line: str) -> str:
    """A log line's text; grand-challenge's shim writes each line as JSON with a ``log`` key."""
    if line.startswith("{") and '"log"' in line:
        try:
            record = json.loads(line)
        except ValueError:
            return line
        if isinstance(record, dict) and isinstance(record.get("log"), str):
            return record["log"]
    return line


def exceptions_in(log: str) -> list[tuple[int, str]]:
    r"""``(line number, line)`` of each exception Python printed in ``log``, in order.

    A chained exception's cause is printed first (``The above exception was the direct cause
    of the following exception``), the exception that ended the program last.

    Examples
    --------
    >>> exceptions_in("Traceback (most recent call last):\n  File 'x'\nRuntimeError: no\n"
    ...               "\nThe above exception was the direct cause of the following exception:\n"
    ...               "Traceback (most recent call last):\n  File 'y'\nmod.ProcessingError: failed")
    [(3, 'RuntimeError: no'), (8, 'mod.ProcessingError: failed')]
    """
    found = []
    for number, raw in enumerate(log.splitlines(), start=1):
        line = _log_line(raw).rstrip()
        if line and not line[0].isspace() and _EXCEPTION.match(line):
            found.append((number, line[:300]))
    return found


def log_exceptions(log: str) -> str:
    """The first and the last exception of ``log`` in words, or ``""`` when it holds none.

    The last is what ended the run; the first is often its cause, printed far above the end.
    """
    found = exceptions_in(log)
    if not found:
        return ""
    total = len(log.splitlines())
    (first_at, first), (last_at, last) = found[0], found[-1]
    if len(found) == 1 or first == last:
        return f"exception in the log (line {last_at} of {total}): {last}"
    return (
        f"first exception in the log (line {first_at} of {total}): {first}; last (line "
        f"{last_at}): {last}"
    )


def log_reason(log: str, *, tail_of: str = "") -> str:
    """``; <first and last exception>; log tail: <tail>`` for a reason; ``""`` for no log.

    The exceptions are looked for in all of ``log``; the tail is ``tail_of``'s when it holds
    anything (a failed run's stderr: errors go there), else ``log``'s.
    """
    exceptions = log_exceptions(log)
    tail = log_tail(tail_of if tail_of.strip() else log)
    return (f"; {exceptions}" if exceptions else "") + (f"; log tail:\n{tail}" if tail else "")


def run_failure(result: ContainerResult, *, limits: Limits) -> tuple[str, str] | None:
    """How the container run itself failed (timeout, OOM, non-zero exit); None if it exited 0.

    A failure the caller judged already (``result.failure``: an invoke server's answer other
    than 201) comes first. An exit code of None without a timeout is a run that did not end (an
    invoke server that answered 201 and lives on).
    """
    if result.failure is not None:
        return result.failure
    if result.timed_out:
        return (
            "timeout",
            f"still running after {limits.timeout_s:g} s per case; the container was killed",
        )
    if result.oom:
        return "oom", f"killed for exceeding the memory limit of {limits.memory} (no swap)"
    if result.exit_code is not None and result.exit_code != 0:
        return "failed", f"exited with code {result.exit_code}" + log_reason(
            result.log, tail_of=result.stderr
        )
    return None


def judge(
    result: ContainerResult,
    staged: StagedCase,
    output_dir: Path,
    *,
    contract: Contract,
    limits: Limits,
    cases_in_run: int,
) -> Verdict:
    """The status of one case from its container run and its output, before validation.

    Parameters
    ----------
    result : ContainerResult
        The run that held this case.
    staged : StagedCase
    output_dir : Path
        The run's ``/output`` on the host.
    contract : Contract, keyword-only
        Where the case's prediction is.
    limits : Limits, keyword-only
        The run's limits (for the reasons and the output caps).
    cases_in_run : int, keyword-only
        Cases the run held (1 with the grand-challenge contract).
    """
    if result.output_problem:
        return Verdict("invalid_output", result.output_problem + "; the container was stopped")
    failure = run_failure(result, limits=limits)
    if failure is not None and contract.per_case:
        return Verdict(*failure)
    scan = scan_output_tree(
        output_dir, limits=OutputLimits(limits.max_output_bytes, limits.max_output_files)
    )
    if scan.problem:
        if failure is not None:
            return Verdict(failure[0], f"{failure[1]}\nits output was not used: {scan.problem}")
        return Verdict("invalid_output", scan.problem)
    located = contract.locate(output_dir, staged)
    run_size = f"{cases_in_run} case{'' if cases_in_run == 1 else 's'}"
    if located.status != "ok":
        if failure is not None:
            return Verdict(
                failure[0], f"{failure[1]}\nthis case had no output yet (run of {run_size})"
            )
        return Verdict(located.status, located.reason)
    if failure is not None:
        headline = re.split(r"[;\n]", failure[1])[0]
        note = (
            f"kept: written before the container run ({run_size}) ended as "
            f"{failure[0]} ({headline})"
        )
        return Verdict("ok", note, run_failure=failure)
    return Verdict("ok")


def case_verdict(
    result: ContainerResult | None,
    staged: StagedCase,
    output_dir: Path,
    *,
    contract: Contract,
    limits: Limits,
    gate: GateOptions,
    cases_in_run: int,
    engine_error: str = "",
) -> CaseVerdict:
    """The final status of one case: :func:`judge`, then its prediction validated.

    Parameters
    ----------
    result : ContainerResult or None
        None when the engine failed every attempt (then ``engine_error`` says how).
    staged, output_dir, contract, limits, cases_in_run
        As in :func:`judge`.
    gate : GateOptions, keyword-only
        The prediction gate's binarization rule and geometry mode
        (:func:`harness.predictions.validate.validate_prediction`); an ``ok`` case's reason
        carries the gate's warnings.
    engine_error : str, keyword-only
        The reason of an ``infrastructure_error``.
    """
    if result is None:
        return CaseVerdict("infrastructure_error", engine_error)
    verdict = judge(
        result, staged, output_dir, contract=contract, limits=limits, cases_in_run=cases_in_run
    )
    status, reason = verdict.status, verdict.reason
    if status != "ok":
        return CaseVerdict(status, reason)
    located = contract.locate(output_dir, staged)
    check = validate_prediction(located.path, staged.grid, options=gate)  # type: ignore[arg-type]
    if check.status != "ok" and verdict.run_failure is not None:
        # Most likely cut short by the kill: the run's failure explains it.
        failed_as, why = verdict.run_failure
        status, reason = failed_as, f"{why}\nits output for this case: {check.reason}"
    elif check.status != "ok":
        status, reason = check.status, check.reason
    elif check.warnings:
        reason = check.message
    return CaseVerdict(status, reason, check.mask)
