"""Commands of the ``data`` group: synthesize, import, partition and check splits."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.options import (
    Group,
    moved_to_option,
    no_progress_option,
    out_option,
    profile_option,
    split_option,
)

__all__ = ["COMMANDS", "data"]


@click.group(cls=Group)
def data() -> None:
    """Make and check splits: synthetic data, imported releases, public/hidden carving."""


def _summary(split: object, title: str) -> None:
    # Loaded when the command runs: the CLI starts in 0.1 s, the library takes 1 s.
    from rich.console import Console
    from rich.table import Table

    counts: dict[tuple[str, str], list[int]] = {}
    for case in split.cases:  # type: ignore[attr-defined]
        entry = counts.setdefault((case.track, case.structure), [0, 0])
        entry[0] += 1
        entry[1] += case.label is not None
    table = Table(title=title)
    for column in ("track", "structure", "cases", "labeled"):
        table.add_column(column)
    for (track, structure), (n, labeled) in sorted(counts.items()):
        table.add_row(track, structure, str(n), str(labeled))
    console = Console()
    console.print(table)
    console.print(f"manifest: {split.manifest}", soft_wrap=True)  # type: ignore[attr-defined]
    console.print(f"content hash: {split.content_hash}", soft_wrap=True)  # type: ignore[attr-defined]


def _split_inputs(split: object) -> dict[str, object]:
    """A split's folder, manifest, images and labels: no output may be or lie inside one."""
    cases = split.cases  # type: ignore[attr-defined]
    return {
        "split": split.root,  # type: ignore[attr-defined]
        "split's manifest": split.manifest,  # type: ignore[attr-defined]
        "split's images": [p for c in cases for p in c.images],
        "split's labels": [c.label for c in cases if c.label is not None],
    }


_NEW_FOLDER = "Folder to write the split into (new, empty, or a split this command wrote)."


@data.command("synth")
@out_option(_NEW_FOLDER, moved=True, file_okay=False)
@click.option("--cases", type=click.IntRange(min=1), default=6, show_default=True,
              help="Total number of cases, shared evenly between the tracks.")
@click.option("--size", type=(int, int, int), default=(96, 96, 96), show_default=True,
              metavar="Z Y X", help="Size of every case in voxels.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Same seed, same bytes.")
@click.option("--tracks", default="vessel,spot", show_default=True,
              help="Comma-separated tracks to generate.")
@click.option("--unlabeled", is_flag=True,
              help="Write images only (empty label column), for self-supervised pretraining.")
@profile_option("Name cases as this edition's organizers do (selma3d-2026: cell_nuclei_001, "
                "blood_vessel_000...: the 2026 evaluator's categories); the default keeps "
                "vessel_000, spot_000...", default=None)
@no_progress_option()
@moved_to_option("out", flag="--out", metavar="OUT",
                 type=click.Path(file_okay=False, path_type=Path))
def synth(out: Path, cases: int, size: tuple[int, int, int], seed: int, tracks: str,
          unlabeled: bool, profile: str | None, no_progress: bool) -> None:
    """Generate a split of synthetic light-sheet patches in --out."""
    # Loaded when the command runs: the CLI starts in 0.1 s, the library takes 1 s.
    from harness.split.synth import synthesize_split

    track_list = tuple(t.strip() for t in tracks.split(",") if t.strip())
    split = synthesize_split(out, cases=cases, size=size, seed=seed, tracks=track_list,
                             labeled=not unlabeled, progress=not no_progress,
                             profile=profile)
    _summary(split, f"synthetic split ({cases} cases, seed {seed})")


@data.command("import")
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path),
                help="A SELMA3D release or LSM sample folder.")
@out_option("Folder for the split's manifest (new or empty); the volumes stay in SRC.",
            moved=True, file_okay=False)
@click.option("--track-map", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML ('name: track') or CSV ('source,track[,structure]') overriding the "
                   "default structure table.")
@click.option("--absolute", is_flag=True, help="Write absolute paths in the manifest.")
@profile_option("The edition's rules: the track each structure gets (2026: microglia spot).")
@moved_to_option("out", flag="--out", metavar="OUT",
                 type=click.Path(file_okay=False, path_type=Path))
def import_(src: Path, out: Path, track_map: Path | None, absolute: bool, profile: str) -> None:
    """Import a SELMA3D release or LSM sample folder SRC as a split in --out (no copies)."""
    # Loaded when the command runs: the CLI starts in 0.1 s, the library takes 1 s.
    from common.outputs import refuse_overlap
    from harness.split.importers import import_layout

    refuse_overlap({"--out": out}, {"source folder": src, "track map": track_map})
    split = import_layout(src, out, track_map=track_map, absolute=absolute, profile=profile)
    _summary(split, f"imported {src}")


@data.command("split")
@split_option("The split to carve (a folder or its manifest.csv).", moved=True, exists=True)
@out_option("Folder for the two new splits, OUT/sample and OUT/test.", moved=True,
            file_okay=False)
@click.option("--sample", type=click.IntRange(min=1), required=True,
              help="Number of cases in the public sample.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the draw: same seed, same sample.")
@click.option("--absolute", is_flag=True, help="Write absolute paths in the manifests.")
@moved_to_option("split_path", flag="--split", metavar="SPLIT",
                 type=click.Path(exists=True, path_type=Path))
@moved_to_option("out", flag="--out", metavar="OUT",
                 type=click.Path(file_okay=False, path_type=Path))
def split_(split_path: Path, out: Path, sample: int, seed: int, absolute: bool) -> None:
    """Carve OUT/sample (public) and OUT/test (hidden) from a split, by structure."""
    # Loaded when the command runs: the CLI starts in 0.1 s, the library takes 1 s.
    from common.outputs import refuse_overlap
    from harness.split.manifest import load_split
    from harness.split.partition import partition_split

    source = load_split(split_path, check_volumes=False)
    refuse_overlap({"--out": out}, _split_inputs(source))
    public, test = partition_split(split_path, out, sample=sample, seed=seed, absolute=absolute)
    _summary(public, "public sample")
    _summary(test, "hidden test set")


@data.command("check")
@split_option("The split to check (a folder or its manifest.csv).", moved=True, exists=True)
@moved_to_option("split_path", flag="--split", metavar="SPLIT",
                 type=click.Path(exists=True, path_type=Path))
def check(split_path: Path) -> None:
    """Validate a split (every problem at once) and print its summary and content hash."""
    # Loaded when the command runs: the CLI starts in 0.1 s, the library takes 1 s.
    from harness.split.manifest import load_split

    _summary(load_split(split_path), f"split {split_path}")


@data.command("ground-truth")
@split_option("The labeled split whose labels become the ground truth.", exists=True)
@out_option("A new folder, or a .tar.gz to upload to the phase.")
def ground_truth(split_path: Path, out: Path) -> None:
    """Write a split's labels as a grand-challenge ground truth (a new folder, or .tar.gz).

    Each mask is task1_gt/<its case's image file name>, the SELMA3D 2026 evaluator's layout; an
    evaluation container (`selma3d template DIR --example template-evaluation`) finds it there.
    """
    # Loaded when the command runs: the CLI starts in 0.1 s, the library takes 1 s.
    from common.outputs import refuse_overlap
    from harness.evaluation.contract import ground_truth_hash, write_ground_truth
    from harness.split.manifest import load_split

    split = load_split(split_path)
    refuse_overlap({"--out": out}, _split_inputs(split))
    written = write_ground_truth(split, out)
    click.echo(f"wrote {written} ({ground_truth_hash(written)})")


COMMANDS: list[click.Command] = [data]
