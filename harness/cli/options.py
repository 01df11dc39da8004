"""Options shared by several command groups: the run limits of ``predict`` and ``check``.

Each limit option is a field of :class:`harness.containers.limits.Limits`, its default the
model's, and the values are validated by the model, so a command refuses exactly what a round
file refuses, naming the flag.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click
from pydantic import ValidationError

from harness.containers.limits import Limits

if TYPE_CHECKING:
    from harness.rounds.config import ClusterSettings

__all__ = ["LIMIT_FLAGS", "limit_option", "limits_from_options", "scheduler_option_value"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class _Flag:
    name: str
    type: Any
    help: str


LIMIT_FLAGS: dict[str, _Flag] = {
    "timeout_s": _Flag("--timeout", float, "Wall-clock seconds per case."),
    "memory": _Flag("--memory", str, "Memory limit, no swap (512m, 8g, 8GiB)."),
    "cpus": _Flag("--cpus", float, "CPU limit (fractional cores)."),
    "gpus": _Flag("--gpus", str, "'all', a count such as 2, or device ids such as 0,1."),
    "jobs": _Flag("--jobs", int, "Containers run at once."),
    "pids": _Flag("--pids-limit", int, "Process and thread limit inside a container."),
    "tmp_size": _Flag("--tmp-size", str, "Size of the writable /tmp."),
    "max_output": _Flag("--max-output", str, "Cap on the size of /output per container run."),
    "retries": _Flag("--retries", int, "Extra attempts when the Docker engine fails."),
    "startup_timeout_s": _Flag(
        "--startup-timeout", float, "Seconds an invoke server has to answer GET /health with 200."
    ),
}
"""The command-line flag of each :class:`~harness.containers.limits.Limits` field."""


def limit_option(field: str, *, inherited: bool = False) -> Callable[[F], F]:
    """A click option for one field of :class:`~harness.containers.limits.Limits`.

    Parameters
    ----------
    field : str
        The field; the command receives it under this name.
    inherited : bool, keyword-only
        The option's default is None: the value comes from elsewhere (a round file) unless given.
        Otherwise its default is the model's.
    """
    flag = LIMIT_FLAGS[field]
    default = Limits.model_fields[field].default
    if inherited:
        return click.option(
            flag.name,
            field,
            type=flag.type,
            default=None,
            help=f"{flag.help} [default: the round file's, else {default}]",
        )
    return click.option(
        flag.name, field, type=flag.type, default=default, show_default=True, help=flag.help
    )


def limits_from_options(values: Mapping[str, Any], *, base: Limits | None = None) -> Limits:
    """The limits of a command: ``base`` with the options given (not None) on top.

    Raises
    ------
    click.UsageError
        Every refused value, each naming its flag (exit code 2).
    """
    given = {k: v for k, v in values.items() if v is not None}
    try:
        return Limits.model_validate({**(base or Limits()).model_dump(), **given})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else ""
            where = LIMIT_FLAGS[field].name if field in LIMIT_FLAGS else field
            message = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"{where}: {message} (got {err.get('input')!r})")
        raise click.UsageError("; ".join(lines)) from exc


def scheduler_option_value(address: str, *, flag: str) -> ClusterSettings:
    """A Dask scheduler address given on the command line, checked as round.yaml's ``cluster``.

    Raises
    ------
    click.BadParameter
        Naming ``flag`` and what was expected (exit code 2).
    """
    from harness.rounds.config import ClusterSettings

    try:
        return ClusterSettings(scheduler=address)
    except ValidationError as exc:
        message = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise click.BadParameter(message, param_hint=flag) from exc
