"""Commands ``round`` (organizers), ``check`` (participants and CI) and ``demo``.

Its length (about 600 lines) is three commands' faces: their options (about 150 lines of
declarations, most of them ``check``'s, which mirrors a round file's settings), the check's
settings, held outputs and report on the terminal, and the demo's data and models. What each
command does lives in :mod:`harness.rounds`.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from common.errors import ConfigError
from common.outputs import (
    claim_folder,
    lock_file_output,
    only_names,
    real,
    refuse_overlap,
    starts_with,
)
from common.profiles import DEFAULT_PROFILE
from common.terminal import as_text
from harness.assets import asset_dir
from harness.cli.options import (
    Command,
    contract_option,
    engine_option,
    gate_from_options,
    gate_options,
    limit_option,
    limits_from_options,
    metric_options,
    metrics_from_options,
    model_option,
    no_progress_option,
    option,
    out_option,
    profile_option,
    reuse_option,
    scheduler_option_value,
    split_option,
)

if TYPE_CHECKING:
    from harness.rounds.check import CheckReport
    from harness.rounds.config import RoundConfig, RunSettings, TeamConfig
    from harness.split.manifest import Split

__all__ = ["COMMANDS"]

# Model tarballs the demo makes from the shipped baseline weights (baselines/weights/).
_DEMO_MODELS = {"unet-model.tar.gz": ("unet.pt", "unet.json")}
# What a round writes into its output folder (harness.rounds.round.run_round).
_DEMO_OUTPUTS = ("runs", "leaderboard", "results.csv", "round.json")
_ROUND_NO_PROGRESS = (
    "No live progress display (spinners, bars); the log of stages and cases and the summary "
    "are printed as usual."
)


def _round_console(*, no_progress: bool) -> Console:
    """Where a round's log goes (stderr); without live displays for ``--no-progress``."""
    return Console(stderr=True, force_interactive=False if no_progress else None)


@click.command("round", cls=Command)
@engine_option()
@click.argument(
    "config_path",
    metavar="ROUND.yaml",
    type=click.Path(path_type=Path),
    help="The round configuration (docs/rounds.md).",
)
@option("--phase", mirrors="phase", help="Run this phase instead of the one the file names.")
@profile_option(
    "The edition's rules [default: the file's profile:, else its ranking's].", default=None
)
@option(
    "--scheduler",
    metavar="ADDRESS",
    mirrors="cluster.scheduler",
    help="Run the tasks on this Dask scheduler's workers (`selma3d worker`); overrides "
    "cluster.scheduler of the file. Without one: a local cluster of limits.jobs workers.",
)
@option(
    "--connect-timeout-s",
    "connect_timeout",
    type=click.FloatRange(min=0, min_open=True, max=3600),
    default=None,
    metavar="SECONDS",
    mirrors="cluster.connect_timeout_s",
    help="Wait this long for the scheduler to answer, then exit 2; overrides "
    "cluster.connect_timeout_s of the file [default: 30].",
)
@no_progress_option(_ROUND_NO_PROGRESS)
def round_command(
    config_path: Path,
    phase: str | None,
    profile: str | None,
    scheduler: str | None,
    connect_timeout: float | None,
    no_progress: bool,
) -> None:
    """Run a whole evaluation round: images, containers, scoring, leaderboard.

    Rerunning the same command resumes: finished cases are kept.
    """
    # Imported when the command runs: the CLI starts without the round's modules.
    from harness.rounds.config import load_round_config
    from harness.rounds.round import run_round

    # The option is checked before the file is read: a usage mistake is named as such.
    settings = None if scheduler is None else scheduler_option_value(scheduler, flag="--scheduler")
    config = load_round_config(config_path).with_overrides(
        phase=phase,
        profile=profile,
        scheduler=None if settings is None else settings.scheduler,
        connect_timeout_s=connect_timeout,
    )
    run_round(config, console=_round_console(no_progress=no_progress))


@click.command("check", cls=Command)
@engine_option()
@click.argument(
    "image",
    help="The submission: an image reference, a `docker save` tarball or a folder with a "
    "Dockerfile.",
)
@split_option("The public sample split (a folder or its manifest.csv).")
@option(
    "--round",
    "round_path",
    metavar="ROUND.yaml",
    type=click.Path(path_type=Path, dir_okay=False),
    old_names=("--config",),
    help="A round configuration (ROUND.yaml): run and score with its contract, limits, gate "
    "and metrics exactly; the options below override it.",
)
@contract_option(inherited=True)
@limit_option("timeout_s", inherited=True)
@limit_option("memory", inherited=True)
@limit_option("cpus", inherited=True)
@limit_option("gpus", inherited=True)
@limit_option("jobs", inherited=True)
@limit_option("startup_timeout_s", inherited=True)
@gate_options(inherited=True)
@metric_options(inherited=True)
@model_option()
@option(
    "--determinism",
    is_flag=True,
    default=None,
    mirrors="determinism",
    help="Run one case a second time and flag differing masks [default: the round file's].",
)
@reuse_option(default=None)
@option(
    "--build-timeout-s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    mirrors="build_timeout_s",
    help="Seconds a folder's build may take before it is stopped and refused "
    "[default: the round file's, else 3600].",
)
@option(
    "--expose-structure",
    is_flag=True,
    default=None,
    mirrors="expose_structure",
    help="Pass the structure name to the container [default: the round file's].",
)
@out_option(
    "Run folder; running again with the same image and model resumes "
    "[default: runs/check/<IMAGE> under the current folder].",
    required=False,
    file_okay=False,
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Where to write the JSON report [default: OUT/check.json].",
)
@click.option(
    "--junit",
    "junit_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Where to write the JUnit XML report, one test per case [default: OUT/check.xml].",
)
@click.option(
    "--hidden-cases",
    type=click.IntRange(min=0),
    help="Number of hidden cases, for the time estimate.",
)
@profile_option(
    "The edition's rules for the metrics [default: the --round file's, else selma3d].",
    default=None,
)
@click.option(
    "--hidden-size",
    nargs=3,
    type=click.IntRange(min=1),
    help="Hidden case size Z Y X, for the time estimate.",
)
@no_progress_option()
def check_command(
    image: str,
    split_path: Path,
    round_path: Path | None,
    contract: str | None,
    timeout_s: float | None,
    memory: str | None,
    cpus: float | None,
    gpus: str | None,
    jobs: int | None,
    startup_timeout_s: float | None,
    threshold: float | None,
    geometry: str | None,
    connectivity: str | None,
    iou_threshold: float | None,
    matching: str | None,
    model_path: Path | None,
    determinism: bool | None,
    reuse: str | None,
    build_timeout_s: float | None,
    expose_structure: bool | None,
    out: Path | None,
    report_path: Path | None,
    junit_path: Path | None,
    hidden_cases: int | None,
    hidden_size: tuple[int, int, int] | None,
    profile: str | None,
    no_progress: bool,
) -> None:
    """Run IMAGE on a sample split exactly as a round would, and explain every problem.

    IMAGE is an image reference, a `docker save` tarball or a folder with a Dockerfile; an
    image labeled org.grand-challenge.api-method=invoke runs as an invoke server. Checking a
    rebuilt image starts a new check and keeps the earlier one beside it.
    Exit code 0 only if every case produced a valid prediction within the limits.
    """
    # Imported when the command runs: the CLI starts without the engine's and the round's modules.
    from harness.containers.model import refuse_model_in_split
    from harness.containers.runner import run_inputs
    from harness.split.manifest import load_split

    settings, profile = _check_settings(
        round_path,
        profile,
        limits=dict(
            timeout_s=timeout_s,
            memory=memory,
            cpus=cpus,
            gpus=gpus,
            jobs=jobs,
            startup_timeout_s=startup_timeout_s,
        ),
        gate=(threshold, geometry),
        metrics=(connectivity, iou_threshold, matching),
        flags={
            "contract": contract,
            "expose_structure": expose_structure,
            "determinism": determinism,
            "reuse": reuse,
            "build_timeout_s": build_timeout_s,
        },
    )
    split = load_split(split_path)
    run_dir = out or Path("runs") / "check" / _safe(image)
    report_path = report_path or run_dir / "check.json"
    junit_path = junit_path or run_dir / "check.xml"
    outputs = {"--out": run_dir, "--report": report_path, "--junit": junit_path}
    refuse_overlap(
        outputs, {**run_inputs(split, image=image, model=model_path), "round file": round_path}
    )
    if model_path is not None:
        refuse_model_in_split(model_path, split)
    report = _check_held(
        image,
        split,
        run_dir,
        report_path,
        junit_path,
        settings=settings,
        hidden_cases=hidden_cases,
        profile=profile or DEFAULT_PROFILE,
        hidden_voxels_per_case=(
            None if not hidden_size else hidden_size[0] * hidden_size[1] * hidden_size[2]
        ),
        model=model_path,
        progress=not no_progress,
    )
    _print_check(report, report_path, junit_path)
    sys.exit(0 if report.passed else 1)


def _check_settings(
    round_path: Path | None,
    profile: str | None,
    *,
    limits: dict[str, Any],
    gate: tuple[float | None, str | None],
    metrics: tuple[str | None, float | None, str | None],
    flags: dict[str, Any],
) -> tuple[RunSettings, str | None]:
    """The round file's settings (all of them), else a round's defaults, with the options given.

    Returns the settings and the profile: the option's, else the round file's ranking's, else
    None (a round's default).
    """
    # Imported when the command runs: the CLI starts without the engine's and the round's modules.
    from harness.containers.engine import select_engine
    from harness.rounds.config import RunSettings, load_round_config, ranking_config_for

    settings = RunSettings()
    if round_path is not None:
        round_config = load_round_config(round_path)
        settings = round_config
        select_engine(round_config.engine, from_round_file=True)
        if profile is not None:
            round_config = round_config.model_copy(update={"profile": profile})
        profile = ranking_config_for(round_config).profile
    connectivity, iou_threshold, matching = metrics
    return settings.with_options(
        limits=limits_from_options(limits, base=settings.limits),
        gate=gate_from_options(*gate, base=settings.gate),
        metrics=metrics_from_options(
            connectivity,
            iou_threshold,
            matching,
            base=settings.metrics,  # type: ignore[arg-type]
        ),
        **{k: v for k, v in flags.items() if v is not None},
    ), profile


def _check_held(
    image: str,
    split: Split,
    run_dir: Path,
    report_path: Path,
    junit_path: Path,
    **check: Any,
) -> CheckReport:
    """Run the check with its run folder and both reports held, then write the reports.

    The run folder and both reports are this command's until it ends: a second check writing
    any of them is refused.
    """
    # Imported when the command runs: the CLI starts without the engine's and the round's modules.
    from harness.containers.run_folder import is_run_folder
    from harness.rounds.check import run_check, write_json_report, write_junit

    with contextlib.ExitStack() as held:
        reports = (
            ("--report", report_path, starts_with('{\n  "api_method": ')),
            ("--junit", junit_path, starts_with('<testsuite name="selma3d-check"')),
        )
        for flag, path, ours in reports:
            if real(run_dir) not in real(path).parents:  # in the run folder: its claim covers it
                held.enter_context(lock_file_output(path, flag=flag, ours=ours))
        held.enter_context(claim_folder(run_dir, kind="run", legacy=is_run_folder))
        report = run_check(image, split, run_dir, **check)
        write_json_report(report, report_path)
        write_junit(report, junit_path)
    return report


def _safe(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._-" else "-" for c in text)
    return cleaned.strip(".-")[:80] or "image"


def _print_check(report: object, report_path: Path, junit_path: Path) -> None:
    # Imported when the command runs: the CLI starts without the engine's and the round's modules.
    from harness.rounds.check import CheckReport

    if not isinstance(report, CheckReport):
        raise TypeError(f"expected a CheckReport, got {type(report).__name__}")
    console = Console()
    # Reasons, advice and logs quote the container and its files: text, never markup.
    table = Table(title=f"selma3d check · {as_text(report.image)} · {report.contract}")
    for col in ("case", "status", "time (s)", "peak memory", "dice", "cldice", "blob F1"):
        table.add_column(col, justify="left" if col in ("case", "status") else "right")
    for case in report.cases:
        style = "green" if case.status == "ok" else "red"
        mem = case.peak_memory_bytes
        table.add_row(
            case.case_id,
            f"[{style}]{case.status}[/{style}]",
            "" if case.wall_time_s is None else f"{case.wall_time_s:.1f}",
            "" if mem is None else f"{mem / 2**20:.0f} MiB",
            *(
                f"{case.metrics[m]:.3f}" if m in case.metrics else ""
                for m in ("dice", "cldice", "blob_f1")
            ),
        )
    console.print(table)
    for case in report.cases:
        if case.status == "ok" and case.reason:
            # Scored, but worth knowing: what the rule made of non-binary values, or which
            # geometry field differs from the input's.
            console.print(
                f"[yellow]{as_text(case.case_id)}[/yellow] {as_text(case.reason)}", highlight=False
            )
        if case.status != "ok":
            console.print(
                f"[bold red]{as_text(case.case_id)}[/bold red] {case.status}: "
                f"{as_text(case.advice)}"
            )
            if case.log_tail:
                console.print(f"[dim]{as_text(case.log_tail)}[/dim]", highlight=False)
    for server in report.servers:
        startup = server.get("startup_s")
        console.print(
            f"invoke server {server['server']}: "
            + (f"start-up {startup:.1f} s" if startup is not None else "did not start")
            + f" (not in the case times), {server.get('cases', 0)} case(s)",
            highlight=False,
        )
    if report.billed is not None:
        console.print(report.billed.describe(), highlight=False)
    if report.model is not None:
        console.print(f"model {as_text(report.model['source'])}: {report.model['sha256']}")
    det = report.determinism
    if det is not None and det.get("identical") is False:
        console.print(
            f"[yellow]not deterministic[/yellow]: case {det['case_id']} run twice: "
            f"{as_text(det['reason'])} (flagged, not failed)",
            highlight=False,
        )
    elif det is not None and det.get("identical"):
        console.print(f"deterministic: case {det['case_id']} gave the same mask twice")
    elif det is not None:
        console.print(f"determinism not judged: {as_text(det['reason'])}", highlight=False)
    if report.previous is not None:
        console.print(
            f"the earlier check, of another image, model or reuse, is kept in {report.previous}"
        )
    if report.estimate is not None:
        console.print(f"hidden split: {report.estimate.describe()}")
    verdict = "[green]PASSED[/green]" if report.passed else "[red]FAILED[/red]"
    console.print(f"{verdict}  report: {report_path}  junit: {junit_path}")


@click.command("demo", cls=Command)
@engine_option()
@out_option(
    "Where the data, runs and leaderboard go (relative to the current folder).",
    required=False,
    default=Path("selma3d-demo"),
    show_default=True,
    file_okay=False,
)
@click.option("--cases", type=int, default=8, show_default=True, help="Hidden cases to generate.")
@click.option("--size", type=int, default=96, show_default=True, help="Edge of each cubic case.")
@click.option(
    "--seed",
    type=int,
    default=2024,
    show_default=True,
    help="Seed of the generated split: same seed, same data.",
)
@click.option(
    "--teams",
    default=None,
    help="Comma-separated teams to run, e.g. threshold,template (default: all of the demo "
    "round: unet, classical, threshold, template; only unet needs the torch image).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an interrupted demo instead of starting its runs over (same images only).",
)
@no_progress_option(_ROUND_NO_PROGRESS)
def demo_command(
    out: Path,
    cases: int,
    size: int,
    seed: int,
    teams: str | None,
    resume: bool,
    no_progress: bool,
) -> None:
    """Run a complete round on generated data: baselines and the template as teams.

    The round is the shipped examples/demo/round.yaml; its teams are the shipped example
    submissions. Each demo starts its container runs and leaderboard over, keeping the generated
    split: after an update the team images differ, and a round refuses to mix two images in a
    run. The split is written again when --cases, --size or --seed differ, or the generator
    changed.
    """
    # Imported when the command runs: the CLI starts without the engine's and the round's modules.
    from harness.rounds.config import load_round_config
    from harness.rounds.round import ROUND_FOLDER_NAMES

    console = _round_console(no_progress=no_progress)
    config = load_round_config(asset_dir("examples") / "demo" / "round.yaml")
    picked = _demo_teams(config.teams, teams)
    # Held for the whole demo; the folder of a demo of an earlier release is taken as one.
    legacy = only_names((*ROUND_FOLDER_NAMES, "data"), needs=("data",))
    with claim_folder(out, kind="demo", legacy=legacy) as claim:
        _run_demo(
            claim.path,
            config,
            picked,
            cases=cases,
            size=size,
            seed=seed,
            resume=resume,
            console=console,
        )


def _run_demo(
    out_dir: Path,
    config: RoundConfig,
    picked: tuple[TeamConfig, ...],
    *,
    cases: int,
    size: int,
    seed: int,
    resume: bool,
    console: Console,
) -> None:
    """:func:`demo_command` once its folder is claimed."""
    # Imported when the command runs: the CLI starts without the engine's and the round's modules.
    from harness.rounds.round import run_round
    from harness.split.manifest import MANIFEST_NAME
    from harness.split.synth import split_is_current, synthesize_split

    hidden = out_dir / "data" / "hidden"
    if not resume:
        # Only what the round writes, and only in a folder that holds a demo's split.
        earlier = [out_dir / n for n in _DEMO_OUTPUTS if (out_dir / n).exists()]
        if earlier and (hidden / MANIFEST_NAME).is_file():
            console.print(f"starting over: removing {', '.join(p.name for p in earlier)}")
            for path in earlier:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
    recipe = {"cases": cases, "size": (size, size, size), "seed": seed}
    console.rule("[bold]data")
    if split_is_current(hidden, **recipe):
        console.print(f"reusing the generated hidden split in {hidden}")
    else:
        # Also after --cases, --size or --seed changed, or the generator itself did.
        console.print(f"generating a hidden split of {cases} cases ({size}^3) in {hidden}")
        synthesize_split(hidden, **recipe)  # type: ignore[arg-type]
    picked = _demo_models(picked, out_dir / "data")
    config = config.model_copy(
        update={
            "output": str(out_dir),
            "phases": {
                config.phase: config.phases[config.phase].model_copy(update={"split": hidden})
            },
            "teams": picked,
        }
    )
    result = run_round(config, console=console)
    Console().print(f"\nThe report: [bold]{result.report}[/bold]")


def _demo_teams(teams: tuple[TeamConfig, ...], wanted: str | None) -> tuple[TeamConfig, ...]:
    """The demo's teams named in ``wanted`` (all if None), each built from a shipped submission.

    The round file names its folders by the shipped submissions' names; they are taken from
    :func:`harness.assets.asset_dir` so the demo runs the same in a checkout and a wheel.
    """
    names = [t.name for t in teams]
    chosen = names if wanted is None else [n.strip() for n in wanted.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in names]
    if unknown or not chosen:
        raise click.BadParameter(
            f"{', '.join(unknown) or 'no team given'}; the demo's teams are {', '.join(names)}",
            param_hint="--teams",
        )
    submissions = asset_dir("submissions")
    return tuple(
        t.model_copy(update={"folder": submissions / t.folder.name}) if t.folder else t
        for t in teams
        if t.name in chosen
    )


def _demo_models(teams: tuple[TeamConfig, ...], data: Path) -> tuple[TeamConfig, ...]:
    """The teams with their model tarballs written into ``data`` (the U-Net's weights).

    The round file names each tarball; it is made here from the shipped baseline weights, with
    stable bytes, so a rerun of the demo finds the same sha256.
    """
    # Imported when the command runs: the CLI starts without the engine's and the round's modules.
    from harness.containers.model import model_tarball

    weights = Path(str(files("baselines") / "weights"))
    out = []
    for team in teams:
        if team.model is not None:
            if team.model.name not in _DEMO_MODELS:
                raise ConfigError(
                    f"the demo round's team {team.name} names the model {team.model.name}; the "
                    f"demo makes only {', '.join(_DEMO_MODELS)}"
                )
            members = {name: weights / name for name in _DEMO_MODELS[team.model.name]}
            team = team.model_copy(update={"model": model_tarball(members, data / team.model.name)})
        out.append(team)
    return tuple(out)


COMMANDS: list[click.Command] = [round_command, check_command, demo_command]
