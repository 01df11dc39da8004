"""Commands of the runner: ``predict``, ``doctor`` and ``images``.

``selma3d predict`` exits 0 when every case is ``ok``, 1 when the run finished but some case is
not (or the canary stopped it), 2 on bad input and 3 when the Docker engine failed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from common.terminal import as_text
from harness.cli.options import (
    Command,
    Group,
    contract_option,
    engine_option,
    gate_from_options,
    gate_options,
    limit_option,
    limits_from_options,
    model_option,
    no_progress_option,
    out_option,
    reuse_option,
    split_option,
)

__all__ = ["COMMANDS", "doctor", "images", "predict"]


@click.command(cls=Command)
@engine_option()
@click.argument(
    "image",
    help="The submission: an image reference, a `docker save` tarball or a folder with a "
    "Dockerfile.",
)
@split_option("Split folder (or its manifest.csv).", exists=True)
@out_option("Output folder; running again into it resumes.", file_okay=False)
@contract_option()
@limit_option("timeout_s")
@limit_option("memory")
@limit_option("cpus")
@limit_option("gpus")
@limit_option("jobs")
@click.option("--retry-failed", is_flag=True, help="Rerun cases whose last status is not ok.")
@click.option("--canary", is_flag=True, help="Run one case first; stop if it fails.")
@click.option("--allow-root", is_flag=True, help="Accept an image that runs as root.")
@click.option("--expose-structure", is_flag=True, help="Tell the container the structure name.")
@click.option(
    "--input-format",
    type=click.Choice(["mha", "tif"]),
    default="mha",
    show_default=True,
    help="grand-challenge input image format.",
)
@limit_option("pids")
@limit_option("nofile")
@limit_option("tmp_size")
@limit_option("max_output")
@limit_option("max_output_files")
@gate_options()
@limit_option("retries")
@limit_option("startup_timeout_s")
@model_option()
@reuse_option(default="batch")
@no_progress_option()
def predict(
    image: str,
    split_path: Path,
    out: Path,
    contract: str,
    timeout_s: float,
    memory: str,
    cpus: float,
    gpus: str | None,
    jobs: int,
    retry_failed: bool,
    canary: bool,
    allow_root: bool,
    expose_structure: bool,
    input_format: str,
    pids: int,
    nofile: int,
    tmp_size: str,
    max_output: str,
    max_output_files: int,
    threshold: float | None,
    geometry: str,
    retries: int,
    startup_timeout_s: float,
    model_path: Path | None,
    reuse: str,
    no_progress: bool,
) -> None:
    """Run submission IMAGE (reference, `docker save` tarball, folder) on every case of a split.

    An image labeled org.grand-challenge.api-method=invoke runs as grand-challenge runs it: a
    server per job, started once, called with POST /invoke per case.
    """
    # Loaded when the command runs: the CLI starts in 0.1 s, the library takes 1 s.
    from rich.console import Console
    from rich.table import Table

    from common.outputs import claim_folder, refuse_overlap
    from harness.containers.model import refuse_model_in_split
    from harness.containers.run_config import RunConfig
    from harness.containers.run_folder import is_run_folder
    from harness.containers.runner import run_inputs, run_submission
    from harness.split.manifest import load_split

    console = Console()
    limits = limits_from_options(
        dict(
            timeout_s=timeout_s,
            memory=memory,
            cpus=cpus,
            gpus=gpus,
            jobs=jobs,
            pids=pids,
            nofile=nofile,
            tmp_size=tmp_size,
            max_output=max_output,
            max_output_files=max_output_files,
            retries=retries,
            startup_timeout_s=startup_timeout_s,
        )
    )
    gate = gate_from_options(threshold, geometry)
    config = RunConfig(
        contract=contract,
        limits=limits,
        retry_failed=retry_failed,
        canary=canary,
        allow_root=allow_root,
        expose_structure=expose_structure,
        reuse=reuse,  # type: ignore[arg-type]
        input_format=input_format,
        gate=gate,
        progress=not no_progress,
        model=None if model_path is None else str(model_path),
    )
    split = load_split(split_path)
    refuse_overlap({"--out": out}, run_inputs(split, image=image, model=model_path))
    if model_path is not None:
        refuse_model_in_split(model_path, split)
    # The folder is this command's from start to end (the runner claims it again inside).
    with claim_folder(out, kind="run", legacy=is_run_folder):
        summary = run_submission(image, split, out, config=config)
    table = Table(title=f"{as_text(summary.image.ref)} ({summary.image.digest[:19]})")
    for col in ("case", "status", "exit", "wall s", "peak MiB", "reason"):
        table.add_column(col)
    for case_id, rec in sorted(summary.records.items()):
        colour = "green" if rec.status == "ok" else "red"
        peak = f"{rec.peak_memory_bytes / 2**20:.0f}" if rec.peak_memory_bytes else "-"
        table.add_row(
            case_id,
            f"[{colour}]{rec.status}[/{colour}]",
            str(rec.exit_code),
            f"{rec.wall_time_s:.1f}",
            peak,
            as_text(rec.reason.splitlines()[0]) if rec.reason else "",  # it may quote a log
        )
    console.print(table)
    for server in summary.servers:
        startup = server.get("startup_s")
        console.print(
            f"invoke server {server['server']}: "
            + (f"started in {startup:.1f} s" if startup is not None else "did not start")
            + f", served {server.get('cases', 0)} case(s), ended {server.get('ended', '?')}"
        )
    counts = ", ".join(f"{k} {v}" for k, v in summary.counts.items() if v)
    console.print(
        f"{len(summary.records)}/{summary.n_cases} cases recorded ({counts}); "
        f"ran {summary.ran} now in {summary.wall_time_s:.1f} s; results in {summary.out_dir}"
    )
    if summary.stopped_early:
        console.print("[red]the canary case failed: the other cases were not run[/red]")
    if not summary.passed:
        sys.exit(1)


@click.command(cls=Command)
@engine_option()
def doctor() -> None:
    """Report the engine (Docker or Podman) and what it lacks, base images, GPUs and free disk."""
    # Loaded when the command runs: the CLI starts in 0.1 s, the library takes 1 s.
    from rich.console import Console
    from rich.table import Table

    from harness.containers.engine import engine_report

    report = engine_report()
    table = Table(title="selma3d doctor", show_header=False)
    table.add_column("what")
    table.add_column("value")
    for name, value in report.as_rows():
        table.add_row(name, value)
    Console().print(table)
    missing = [i.ref for i in report.images if not i.present and i.ref.startswith("selma3d/python")]
    if missing:
        Console().print(f"[yellow]missing: {', '.join(missing)}: run `make images`[/yellow]")


@click.group(cls=Group)
def images() -> None:
    """Build the base images and submission folders offline."""


@images.command("build")
@engine_option()
@click.option(
    "--from-registry",
    is_flag=True,
    envvar="SELMA3D_FROM_REGISTRY",
    help="Build on python:3.11-slim from a registry instead of debootstrap.",
)
@click.option("--force", is_flag=True, help="Rebuild even when cached.")
@click.option("--only", multiple=True, help="Spec folder name under docker/ (repeatable).")
def images_build(from_registry: bool, force: bool, only: tuple[str, ...]) -> None:
    """Build every image spec under docker/ in dependency order (cached)."""
    # Loaded when the command runs: the CLI starts in 0.1 s, the library takes 1 s.
    from harness.containers.base_images import build_specs

    results = build_specs(from_registry=from_registry, force=force, only=only)
    built = sum(not r.cached for r in results)
    click.echo(f"images: {built} built, {len(results) - built} cached")


@images.command("build-folder")
@engine_option()
@click.argument(
    "folder",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A submission folder with a Dockerfile.",
)
@click.option("--tag", default=None, help="Image tag (default: from the folder's name and hash).")
def images_build_folder(folder: Path, tag: str | None) -> None:
    """Build a submission FOLDER offline (its requirements.txt from wheels downloaded here)."""
    # Loaded when the command runs: the CLI starts in 0.1 s, the library takes 1 s.
    from harness.containers.images import build_folder

    info = build_folder(folder, tag)
    click.echo(f"{info.ref} {info.digest} user={info.user or 'root'}")


COMMANDS: list[click.Command] = [predict, doctor, images]
