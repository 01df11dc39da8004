"""Developer commands ``selma3d dev baselines``: prepare data, tune, train, the results table.

They remake the shipped baseline artefacts (the installed ``baselines`` package's weights and
parameters) and their documentation; :mod:`harness.cli.dev` registers them, and
:mod:`harness.develop.experiments` does the work. The modules each command needs (the experiments,
scikit-image, torch, rich's progress bars) are imported when it runs: this module is imported by
every ``selma3d`` start.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from harness.cli.options import Group, no_progress_option, out_option

__all__ = ["baselines"]

# The shipped artefacts are the installed `baselines` package's own files; the modules that
# know their paths import scikit-image or torch, so they are looked up when a command runs.
_WEIGHTS_SHOWN = "the baselines package's weights/"
_PARAMS_SHOWN = "the baselines package's classical_params.json"


def _real_data_option(command: Callable[..., None]) -> Callable[..., None]:
    """The required ``--real-data`` option of the commands that import the real patches."""
    return click.option(
        "--real-data",
        "real_data",
        required=True,
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        help="The real patches: a folder with train/ and val/ (e.g. ../shared/data/lsm-patches).",
    )(command)


def _params_path(path: Path | None) -> Path:
    # scikit-image: imported when a command runs, not at every start of selma3d.
    from baselines.classical import PARAMS_PATH

    return PARAMS_PATH if path is None else path


def _weights_dir(path: Path | None) -> Path:
    # torch, the deep extra: imported when a command runs, not at every start of selma3d.
    from baselines.unet import WEIGHTS_PATH

    return WEIGHTS_PATH.parent if path is None else path


def _labeled_splits(help_text: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The repeatable, required ``--data`` option of the commands that learn from labels."""
    return click.option(
        "--data",
        "data",
        multiple=True,
        required=True,
        type=click.Path(exists=True, path_type=Path),
        help=help_text,
    )


@click.group(cls=Group)
def baselines() -> None:
    """Reference methods: threshold, classical filters, and a pretrained 3D U-Net."""


@baselines.command("prepare")
@click.option(
    "--work",
    type=click.Path(path_type=Path),
    default=Path("runs/baselines"),
    show_default=True,
    help="Folder for the generated splits and the imported real splits (under the current "
    "folder by default).",
)
@_real_data_option
def prepare(work: Path, real_data: Path) -> None:
    """Generate the baselines' synthetic splits and import the real patches; print their paths."""
    # The experiments import the splits' readers and the metrics: not at every start of selma3d.
    from harness.develop.experiments import prepare_generated, prepare_real

    # The real data first: a wrong folder is reported before minutes of generating.
    real = prepare_real(work, source=real_data)
    paths = {**prepare_generated(work), **real}
    for name, path in paths.items():
        click.echo(f"{name}\t{path}")


@baselines.command("tune")
@_labeled_splits("Labeled split (repeatable): the public sample the search sees.")
@out_option(
    "Parameter file (JSON) to write.",
    required=False,
    dir_okay=False,
    show_default=_PARAMS_SHOWN,
)
@no_progress_option()
def tune(data: tuple[Path, ...], out: Path | None, no_progress: bool) -> None:
    """Grid-search the classical baseline's parameters per structure and track."""
    # The experiments import the splits' readers and the metrics: not at every start of selma3d.
    from harness.develop.experiments import tune_to_file

    out = _params_path(out)
    doc = tune_to_file(list(data), out, progress=_progress_lines(no_progress=no_progress))
    for track, score in doc["track_scores"].items():
        click.echo(f"{track}: score {score:.3f} with {doc['tracks'][track]}")
    click.echo(f"wrote {out} ({doc['provenance']['seconds']:.0f} s)")


@baselines.command("train")
@_labeled_splits("Labeled split for finetuning (repeatable).")
@click.option(
    "--unlabeled",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Split or folder of volumes for pretraining (repeatable); the --data images are added.",
)
@click.option(
    "--pretrain-steps",
    type=click.IntRange(min=0),
    default=400,
    show_default=True,
    help="Steps of masked-volume reconstruction on the unlabeled volumes.",
)
@click.option(
    "--finetune-steps",
    type=click.IntRange(min=1),
    default=2000,
    show_default=True,
    help="Steps of supervised finetuning on the labeled splits.",
)
@click.option("--no-pretrain", is_flag=True, help="Train from scratch (the comparison model).")
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of crops, masks and initial weights: same seed, same weights.",
)
@click.option("--crop", type=int, default=48, show_default=True, help="Edge of the training crops.")
@click.option("--channels", default="8,16,32,64", show_default=True, help="Feature maps per level.")
@out_option("Weights file (.pt); the provenance goes beside it as .json.", dir_okay=False)
@no_progress_option()
def train(
    data: tuple[Path, ...],
    unlabeled: tuple[Path, ...],
    pretrain_steps: int,
    finetune_steps: int,
    no_pretrain: bool,
    seed: int,
    crop: int,
    channels: str,
    out: Path,
    no_progress: bool,
) -> None:
    """Pretrain the U-Net by masked-volume reconstruction, finetune, save weights + provenance."""
    # torch (the deep extra) and the experiments: imported when the command runs, not at every
    # start of selma3d.
    from baselines import unet
    from harness.develop.experiments import (
        load_labeled,
        load_unlabeled,
        save_weights,
        split_hash,
        write_json,
    )

    try:
        config = unet.TrainConfig(
            seed=seed,
            crop=crop,
            channels=tuple(int(c) for c in channels.split(",")),
            pretrain_steps=0 if no_pretrain else pretrain_steps,
            finetune_steps=finetune_steps,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    cases = load_labeled(list(data))
    pool = [] if no_pretrain else load_unlabeled(list(unlabeled)) + [c.image for c in cases]
    labeled = [(c.image, c.label, c.track, c.structure) for c in cases]
    result, seconds = _train_with_progress(labeled, pool, config=config, no_progress=no_progress)
    provenance = {
        "command": "selma3d dev baselines train "
        + shlex.join(
            [a for p in data for a in ("--data", str(p))]
            + [a for p in unlabeled for a in ("--unlabeled", str(p))]
            + (["--no-pretrain"] if no_pretrain else ["--pretrain-steps", str(pretrain_steps)])
            + ["--finetune-steps", str(finetune_steps), "--seed", str(seed), "--crop", str(crop)]
            + ["--channels", channels, "--out", str(out)]
        ),
        "seed": seed,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(config).items()},
        "data": [{"split": str(p), "content_hash": split_hash(p)} for p in data],
        "labeled_cases": [c.case_id for c in cases],
        "unlabeled": [str(p) for p in unlabeled] if not no_pretrain else [],
        "unlabeled_volumes": len(pool),
        "seconds": {k: round(v, 1) for k, v in result.seconds.items()}
        | {"total": round(seconds, 1)},
        "final_loss": {
            "pretrain": round(result.pretrain_loss[-1], 5) if result.pretrain_loss else None,
            "finetune": round(sum(result.finetune_loss[-20:]) / len(result.finetune_loss[-20:]), 5),
        },
        "thresholds": result.thresholds,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": unet.environment(),
    }
    digest = save_weights(result.model, out, config=config, provenance=provenance)
    provenance["weights_digest"] = digest
    provenance["weights_file"] = out.name
    provenance["bytes"] = out.stat().st_size
    write_json(out.with_suffix(".json"), provenance)
    click.echo(
        f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, {seconds:.0f} s, weights {digest[:19]})"
    )


def _train_with_progress(
    labeled: list[Any], pool: list[Any], *, config: Any, no_progress: bool
) -> tuple[Any, float]:
    """``baselines.unet.train`` under a progress bar, and the seconds it took.

    Without a terminal the bar is not drawn; a line every 25 steps goes to the log instead.
    """
    # torch (the deep extra) and rich's progress bars: imported when the command runs, not at
    # every start of selma3d.
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from baselines import unet

    total = config.pretrain_steps + config.finetune_steps
    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, disable=no_progress) as bar:
        task = bar.add_task("train", total=total, loss=float("nan"))

        def tick(stage: str, step: int, loss: float) -> None:
            bar.update(task, advance=1, description=stage, loss=loss)
            # Without a terminal the bar is not drawn: leave a line in the log now and then.
            if not no_progress and not console.is_terminal and (step + 1) % 25 == 0:
                console.print(f"{stage} step {step + 1}: loss {loss:.4f}", highlight=False)

        start = time.perf_counter()
        result = unet.train(labeled, pool, config=config, progress=tick)
        seconds = time.perf_counter() - start
    return result, seconds


@baselines.command("table")
@out_option(
    "Markdown file (docs/baselines.md in a checkout); an existing file keeps everything outside "
    "the marked table.",
    dir_okay=False,
)
@click.option(
    "--work",
    type=click.Path(path_type=Path),
    default=Path("runs/baselines"),
    show_default=True,
    help="Folder of the generated and imported splits (`prepare`), under the current folder by "
    "default.",
)
@_real_data_option
@click.option(
    "--weights-dir",
    type=click.Path(path_type=Path),
    default=None,
    show_default=_WEIGHTS_SHOWN,
    help="Folder of the U-Net weights to score (unet.pt, unet-scratch.pt).",
)
@click.option(
    "--params",
    "params_path",
    type=click.Path(path_type=Path),
    default=None,
    show_default=_PARAMS_SHOWN,
    help="The classical baseline's parameter file to score.",
)
@click.option(
    "--retrain",
    is_flag=True,
    help="First redo the parameter search and both trainings with the default settings.",
)
@no_progress_option()
def table(
    out: Path,
    work: Path,
    real_data: Path,
    weights_dir: Path | None,
    params_path: Path | None,
    retrain: bool,
    no_progress: bool,
) -> None:
    """Score every baseline on the generated and real validation splits; write the table."""
    # The experiments import the splits' readers and the metrics: not at every start of selma3d.
    from harness.develop.experiments import prepare_generated, prepare_real, run_table

    weights_dir, params_path = _weights_dir(weights_dir), _params_path(params_path)
    if retrain:
        real = prepare_real(work, source=real_data)
        paths = {**prepare_generated(work), **real}
        labeled = [str(paths["generated-train"]), str(paths["real-train"])]
        ctx = click.get_current_context()
        ctx.invoke(tune, data=tuple(map(Path, labeled)), out=params_path, no_progress=no_progress)
        for name, extra in (("unet", []), ("unet-scratch", ["--no-pretrain"])):
            args = [a for d in labeled for a in ("--data", d)] + [
                "--unlabeled",
                str(paths["generated-unlabeled"]),
            ]
            args += [*extra, "--out", str(weights_dir / f"{name}.pt")]
            args += ["--no-progress"] if no_progress else []
            train.main(args=args, prog_name="selma3d dev baselines train", standalone_mode=False)
    text = run_table(
        out,
        work=work,
        real_data=real_data,
        weights_dir=weights_dir,
        params_path=params_path,
        progress=_progress_lines(no_progress=no_progress),
    )
    click.echo(text)
    click.echo(f"wrote {out}")


def _progress_lines(*, no_progress: bool) -> Callable[[str], None] | None:
    """Where a long command's progress lines go: stderr, or nowhere with ``--no-progress``."""
    if no_progress:
        return None
    console = Console(stderr=True)
    return lambda line: console.print(line, highlight=False)
