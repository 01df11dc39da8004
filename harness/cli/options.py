"""The options every ``selma3d`` command shares, defined once, and the old spellings they replace.

One decorator per kind of option, so a flag is spelled, typed and explained the same on every
command that takes it:

- :func:`split_option` and :func:`out_option`: ``--split`` and ``--out`` are options everywhere,
  never positional arguments.
- :func:`no_progress_option`: ``--no-progress`` on every long command.
- :func:`limit_option`, :func:`gate_options` and :func:`metric_options`: the run limits, the
  prediction gate and the metric suite, each flag spelled as the round.yaml key it mirrors with
  ``_`` written ``-`` (``limits.timeout_s`` is ``--timeout-s``, ``metrics.iou_threshold`` is
  ``--iou-threshold``). Values are validated by the same models a round file is, naming the flag.
- ``--jobs`` means one thing everywhere: containers run at once (round.yaml ``limits.jobs``; on a
  worker, on that machine). Processes that score cases are ``--processes``.

Spellings of an earlier release keep working for one more release and print a deprecation
message naming the new spelling (:func:`warn_deprecated`): an old flag is declared on the new
option (``old_names``) and rewritten by :class:`Command` before click parses the command line;
an old positional form is accepted by :func:`moved_to_option`.

Its length (about 600 lines) is the whole shared surface: every option of every command is
defined here once, with its help, the round.yaml key it mirrors and its old spellings.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from pydantic import ValidationError

from common.profiles import DEFAULT_PROFILE, PROFILES
from harness.containers.limits import Limits

if TYPE_CHECKING:
    from harness.predictions.validate import GateOptions
    from harness.rounds.config import ClusterSettings
    from metrics import MetricOptions

__all__ = [
    "GATE_FLAGS",
    "LIMIT_FLAGS",
    "METRIC_DEFAULTS",
    "METRIC_FLAGS",
    "Command",
    "Group",
    "Option",
    "contract_option",
    "engine_option",
    "gate_from_options",
    "gate_options",
    "limit_option",
    "limits_from_options",
    "metric_options",
    "metrics_from_options",
    "model_option",
    "moved_to_option",
    "no_progress_option",
    "option",
    "out_option",
    "profile_option",
    "reuse_option",
    "rewrite_old_spellings",
    "scheduler_option_value",
    "split_option",
    "warn_deprecated",
]

F = TypeVar("F", bound=Callable[..., Any])

_REMOVAL = "it will stop working in the next release"


def warn_deprecated(old: str, new: str, *, command: str) -> None:
    """Tell the user on stderr that ``old`` is deprecated and what to write instead.

    Parameters
    ----------
    old : str
        The spelling the user wrote, e.g. ``--timeout``.
    new : str
        The spelling to write instead, e.g. ``--timeout-s``.
    command : str
        The command it was written in, e.g. ``selma3d predict``.

    Examples
    --------
    >>> import contextlib, io
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     warn_deprecated("--quiet", "--no-progress", command="selma3d leaderboard")
    >>> print(err.getvalue().strip())
    deprecated: selma3d leaderboard --quiet; write --no-progress (it will stop working in the next release)
    """  # noqa: E501
    click.echo(f"deprecated: {command} {old}; write {new} ({_REMOVAL})", err=True)


class Option(click.Option):
    """A click option that also accepts the spellings of an earlier release (``old_names``).

    The old spellings are not shown in ``--help``; :class:`Command` rewrites them to the
    option's own spelling, with a deprecation message. ``mirrors`` names the round.yaml key the
    option sets (``limits.timeout_s``), for the readers of the help and the tests of the spelling.
    """

    def __init__(
        self,
        *args: Any,
        old_names: Sequence[str] = (),
        mirrors: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.old_names = tuple(old_names)
        self.mirrors = mirrors


def rewrite_old_spellings(
    args: Sequence[str], renames: Mapping[str, str], *, command: str
) -> list[str]:
    """``args`` with each old flag spelling replaced by the new one, warning once per spelling.

    Only whole flags are replaced (``--timeout`` and ``--timeout=5``, never ``--timeout-s``),
    and nothing after ``--``, where every word is an argument.

    Examples
    --------
    >>> rewrite_old_spellings(["--timeout=5", "--", "--timeout"], {"--timeout": "--timeout-s"},
    ...                       command="selma3d predict")
    ['--timeout-s=5', '--', '--timeout']
    """
    out: list[str] = []
    warned: set[str] = set()
    for i, arg in enumerate(args):
        if arg == "--":
            out.extend(args[i:])
            break
        flag, eq, value = arg.partition("=")
        new = renames.get(flag)
        if new is None:
            out.append(arg)
            continue
        if flag not in warned:
            warned.add(flag)
            warn_deprecated(flag, new, command=command)
        out.append(f"{new}{eq}{value}")
    return out


class Command(click.Command):
    """A ``selma3d`` command: accepts the old spellings of its options, with a warning."""

    def old_spellings(self) -> dict[str, str]:
        """Old flag spelling -> the option's own, for every :class:`Option` of the command."""
        return {
            old: param.opts[0]
            for param in self.params
            if isinstance(param, Option)
            for old in param.old_names
        }

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse ``args`` as click does, after rewriting the old spellings of its options."""
        renames = self.old_spellings()
        if renames:
            args = rewrite_old_spellings(args, renames, command=ctx.command_path)
        return super().parse_args(ctx, args)


class Group(click.Group):
    """A ``selma3d`` command group: its commands are :class:`Command`."""

    command_class = Command


def option(*decls: str, **attrs: Any) -> Callable[[F], F]:
    """A click option of class :class:`Option` (accepts ``old_names`` and ``mirrors``)."""
    return click.option(*decls, cls=Option, **attrs)


def _required(help: str, required: bool, moved: bool) -> tuple[bool, str]:
    """Click's ``required`` and the help of an option that may also come as a positional.

    With ``moved``, :func:`moved_to_option` enforces the requirement, so click must not.
    """
    if moved:
        return False, f"{help}  [required]"
    return required, help


def split_option(
    help: str,
    *,
    required: bool = True,
    exists: bool = False,
    dest: str = "split_path",
    moved: bool = False,
) -> Callable[[F], F]:
    """``--split SPLIT``: a split folder or its manifest.csv.

    ``moved``: the command also accepts the earlier positional form (:func:`moved_to_option`).
    """
    required, help = _required(help, required, moved)
    return option(
        "--split",
        dest,
        required=required,
        metavar="SPLIT",
        type=click.Path(exists=exists, path_type=Path),
        help=help,
    )


def out_option(
    help: str,
    *,
    required: bool = True,
    dest: str = "out",
    file_okay: bool = True,
    dir_okay: bool = True,
    default: Path | None = None,
    show_default: bool | str = False,
    moved: bool = False,
) -> Callable[[F], F]:
    """``--out PATH``: where a command writes what it makes.

    ``moved``: the command also accepts the earlier positional form (:func:`moved_to_option`).
    """
    required, help = _required(help, required, moved)
    return option(
        "--out",
        dest,
        required=required,
        metavar="OUT",
        type=click.Path(file_okay=file_okay, dir_okay=dir_okay, path_type=Path),
        default=default,
        show_default=show_default,
        help=help,
    )


def engine_option() -> Callable[[F], F]:
    """``--engine docker|podman``: the container engine, found at its own socket.

    The choice is made for the whole process and the processes it starts
    (:func:`harness.containers.engine.select_engine`); without it ``SELMA3D_ENGINE``, then
    ``DOCKER_HOST``, then Docker's default socket decide.
    """
    # Loaded when the command runs: the CLI starts in 0.1 s, the library takes 1 s.
    from harness.containers.engine import ENGINES, select_engine

    def select(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
        select_engine(value)

    return option(
        "--engine",
        type=click.Choice(list(ENGINES)),
        default=None,
        expose_value=False,
        callback=select,
        mirrors="engine",
        help="Container engine: docker or podman, at its own socket [default: $SELMA3D_ENGINE, "
        "else $DOCKER_HOST, else docker].",
    )


def no_progress_option(
    help: str = "No progress display (bars, spinners, step lines); results and problems are "
    "printed as usual.",
    *,
    old_names: Sequence[str] = (),
) -> Callable[[F], F]:
    """``--no-progress``: the one spelling of 'no progress output' on every long command."""
    return option("--no-progress", "no_progress", is_flag=True, old_names=old_names, help=help)


def profile_option(help: str, *, default: str | None = DEFAULT_PROFILE) -> Callable[[F], F]:
    """``--profile NAME``: the edition's rules (:mod:`common.profiles`)."""
    return option(
        "--profile",
        type=click.Choice(list(PROFILES)),
        default=default,
        show_default=default is not None,
        mirrors="profile",
        help=help,
    )


def contract_option(*, inherited: bool = False) -> Callable[[F], F]:
    """``--contract``: how a container receives its cases (round.yaml ``contract``)."""
    text = "How the container gets its cases: grand-challenge (one case per run) or folder."
    return option(
        "--contract",
        type=click.Choice(["grand-challenge", "folder"]),
        default=None if inherited else "grand-challenge",
        show_default=not inherited,
        mirrors="contract",
        help=text + (" [default: the round file's, else grand-challenge]" if inherited else ""),
    )


def model_option() -> Callable[[F], F]:
    """``--model PATH``: model weights mounted into the container (a team's ``model``)."""
    return option(
        "--model",
        "model_path",
        type=click.Path(path_type=Path),
        default=None,
        mirrors="teams.model",
        help="Model weights (.tar, .tar.gz or a folder), mounted read-only at /opt/ml/model.",
    )


def reuse_option(*, default: str | None) -> Callable[[F], F]:
    """``--reuse batch|case``: how long an invoke image's server lives (round.yaml ``reuse``)."""
    shown = "the round file's, else batch" if default is None else default
    return option(
        "--reuse",
        type=click.Choice(["batch", "case"]),
        default=default,
        mirrors="reuse",
        help="Invoke images: batch serves many cases from one server; case starts a fresh server "
        f"per case, as grand-challenge does [default: {shown}].",
    )


def moved_to_option(
    dest: str, *, flag: str, metavar: str, type: click.ParamType | None = None
) -> Callable[[F], F]:
    """Accept the old positional form of the option ``dest`` (``flag``) for one more release.

    Adds an optional positional argument; when it is given it is used as the option's value,
    with a deprecation message. The option is declared with ``moved=True``
    (:func:`split_option`, :func:`out_option`): this decorator requires one of the two forms,
    with click's message for a missing option.

    Raises
    ------
    click.UsageError
        Both forms given, or neither (exit code 2).
    """
    positional = f"{dest}_positional"

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            old = kwargs.pop(positional)
            ctx = click.get_current_context()
            if old is not None:
                if kwargs.get(dest) is not None:
                    raise click.UsageError(
                        f"{metavar} is given both as an argument and as {flag}; give {flag} only",
                        ctx=ctx,
                    )
                warn_deprecated(
                    f"{metavar} as an argument", f"{flag} {metavar}", command=ctx.command_path
                )
                kwargs[dest] = old
            if kwargs.get(dest) is None:
                raise click.UsageError(f"Missing option '{flag}'.", ctx=ctx)
            return func(*args, **kwargs)

        return click.argument(  # type: ignore[return-value]
            positional,
            required=False,
            metavar=f"[{metavar}]",
            type=type or click.Path(path_type=Path),
            help=f"Deprecated: the same as {flag} {metavar}.",
        )(wrapper)

    return decorate


@dataclass(frozen=True)
class _Flag:
    name: str
    type: Any
    help: str
    old_names: tuple[str, ...] = ()


def _flag(key: str) -> str:
    """The flag of a round.yaml key: the key with ``_`` written ``-``."""
    return "--" + key.replace("_", "-")


LIMIT_FLAGS: dict[str, _Flag] = {
    "timeout_s": _Flag(_flag("timeout_s"), float, "Wall-clock seconds per case.", ("--timeout",)),
    "memory": _Flag(_flag("memory"), str, "Memory limit, no swap (512m, 8g, 8GiB)."),
    "cpus": _Flag(_flag("cpus"), float, "CPU limit (fractional cores)."),
    "gpus": _Flag(_flag("gpus"), str, "'all', a count such as 2, or device ids such as 0,1."),
    "jobs": _Flag(_flag("jobs"), int, "Containers run at once."),
    "pids": _Flag(
        _flag("pids"), int, "Process and thread limit inside a container.", ("--pids-limit",)
    ),
    "tmp_size": _Flag(_flag("tmp_size"), str, "Size of the writable /tmp."),
    "max_output": _Flag(_flag("max_output"), str, "Cap on the size of /output per container run."),
    "max_output_files": _Flag(
        _flag("max_output_files"), int, "Cap on the number of entries in /output per container run."
    ),
    "nofile": _Flag(_flag("nofile"), int, "Open files per process inside a container."),
    "retries": _Flag(_flag("retries"), int, "Extra attempts when the engine fails."),
    "startup_timeout_s": _Flag(
        _flag("startup_timeout_s"),
        float,
        "Seconds an invoke server has to answer GET /health with 200.",
        ("--startup-timeout",),
    ),
}
"""The command-line flag of each :class:`~harness.containers.limits.Limits` field
(round.yaml ``limits.<field>``)."""


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
    common = dict(type=flag.type, old_names=flag.old_names, mirrors=f"limits.{field}")
    if inherited:
        return option(
            flag.name,
            field,
            default=None,
            help=f"{flag.help} [default: the round file's, else {default}]",
            **common,
        )
    return option(flag.name, field, default=default, show_default=True, help=flag.help, **common)


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


GATE_FLAGS: dict[str, str] = {"binarize.threshold": "--threshold", "geometry": "--geometry"}
"""The flag of each prediction-gate key of round.yaml."""


def gate_options(*, inherited: bool = False) -> Callable[[F], F]:
    """``--threshold`` and ``--geometry``: the prediction gate, as round.yaml's keys.

    The command receives ``threshold`` and ``geometry``; :func:`gate_from_options` makes the
    :class:`~harness.predictions.validate.GateOptions`. ``inherited``: both default to None,
    the round file's values unless given.
    """
    inherits = " [default: the round file's, else {}]"

    def decorate(func: F) -> F:
        func = option(
            "--geometry",
            type=click.Choice(["voxel", "strict"]),
            default=None if inherited else "voxel",
            show_default=not inherited,
            mirrors="geometry",
            help="voxel: score a differing spacing/origin/direction with a warning; strict: "
            "refuse it." + (inherits.format("voxel") if inherited else ""),
        )(func)
        return option(
            "--threshold",
            type=float,
            default=None,
            mirrors="binarize.threshold",
            help="Binarize with value >= THRESHOLD"
            + (inherits.format("value > 0") if inherited else " [default: value > 0, as the "
               "official evaluators]."),
        )(func)

    return decorate


def gate_from_options(
    threshold: float | None, geometry: str | None, *, base: GateOptions | None = None
) -> GateOptions:
    """The prediction gate: ``base`` (the official one by default) with the options given.

    Raises
    ------
    click.UsageError
        A refused value, naming its flag (exit code 2).
    """
    # Loaded when the command runs: the CLI starts in 0.1 s, the library takes 1 s.
    from harness.predictions.validate import OFFICIAL_GATE, BinarizeRule, GateOptions

    base = base or OFFICIAL_GATE
    try:
        return GateOptions(
            binarize=base.binarize if threshold is None else BinarizeRule(threshold=threshold),
            geometry=base.geometry if geometry is None else geometry,  # type: ignore[arg-type]
        )
    except ValidationError as exc:
        message = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise click.UsageError(f"--threshold: {message}") from exc


METRIC_FLAGS: dict[str, str] = {
    "connectivity": "--connectivity",
    "iou_threshold": "--iou-threshold",
    "matching": "--matching",
}
"""The flag of each field of :class:`metrics.MetricOptions` (round.yaml ``metrics.<field>``)."""


METRIC_DEFAULTS: dict[str, Any] = {"connectivity": 26, "iou_threshold": 0.3, "matching": "greedy"}
"""The defaults of :class:`metrics.MetricOptions`, shown in the help (a test keeps them equal).

Written here because importing :mod:`metrics` takes seconds, too long for ``--help``."""


def metric_options(*, inherited: bool = False) -> Callable[[F], F]:
    """``--connectivity``, ``--iou-threshold`` and ``--matching``: the metric suite's options.

    The command receives them under their field names, None when not given;
    :func:`metrics_from_options` makes the :class:`metrics.MetricOptions`, the model's defaults
    (or, ``inherited``, the round file's values) for the options not given.
    """
    source = "the round file's, else " if inherited else ""

    def text(help: str, field: str) -> str:
        return f"{help} [default: {source}{METRIC_DEFAULTS[field]}]"

    def decorate(func: F) -> F:
        func = option(
            METRIC_FLAGS["matching"],
            "matching",
            type=click.Choice(["greedy", "hungarian"]),
            default=None,
            mirrors="metrics.matching",
            help=text("Blob matching.", "matching"),
        )(func)
        func = option(
            METRIC_FLAGS["iou_threshold"],
            "iou_threshold",
            type=float,
            default=None,
            mirrors="metrics.iou_threshold",
            help=text("Blob pairs match when IoU >= this, in (0, 1].", "iou_threshold"),
        )(func)
        return option(
            METRIC_FLAGS["connectivity"],
            "connectivity",
            type=click.Choice(["26", "18", "6"]),
            default=None,
            mirrors="metrics.connectivity",
            help=text("Connectivity of blob instances.", "connectivity"),
        )(func)

    return decorate


def metrics_from_options(
    connectivity: str | int | None,
    iou_threshold: float | None,
    matching: str | None,
    *,
    base: MetricOptions | None = None,
) -> MetricOptions:
    """The metric options: ``base`` (the defaults) with the options given (not None) on top.

    Raises
    ------
    click.UsageError
        A refused value (exit code 2).
    """
    # Loaded when the command runs: the CLI starts in 0.1 s, the library takes 1 s.
    from metrics import MetricOptions

    base = base or MetricOptions()
    try:
        return MetricOptions(
            connectivity=base.connectivity if connectivity is None else int(connectivity),
            iou_threshold=base.iou_threshold if iou_threshold is None else iou_threshold,
            matching=base.matching if matching is None else matching,  # type: ignore[arg-type]
        )
    except ValueError as exc:
        named = [flag for field, flag in METRIC_FLAGS.items() if str(exc).startswith(field)]
        raise click.UsageError(f"{', '.join(named) or 'metric options'}: {exc}") from exc


def scheduler_option_value(address: str, *, flag: str) -> ClusterSettings:
    """A Dask scheduler address given on the command line, checked as round.yaml's ``cluster``.

    Raises
    ------
    click.BadParameter
        Naming ``flag`` and what was expected (exit code 2).
    """
    # Loaded when the command runs: the CLI starts in 0.1 s, the library takes 1 s.
    from harness.rounds.config import ClusterSettings

    try:
        return ClusterSettings(scheduler=address)
    except ValidationError as exc:
        message = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise click.BadParameter(message, param_hint=flag) from exc
