"""Synthetic light-sheet patches that look and behave like the real ones, written as a split.

Pipeline per case: a structure draws a :class:`~harness.split.synth.shapes.Scene` (exact truth plus
fluorophore density), then :func:`~.imaging.acquire` images the density (PSF blur,
autofluorescence, stripes, attenuation, Poisson-Gaussian noise, saturation).

Cases
-----
``cases`` are shared evenly between the tracks (the first tracks get one more when it does not
divide). Within a track, case ``k`` has id ``<track>_<k:03d>`` and its structure cycles through
:data:`STRUCTURES` (vessel: blood_vessel, microglia; spot: cfos, cell_nucleus, amyloid_plaque).
Spot case ``k`` with ``k % 8 == 3`` has no object of interest (an empty truth: participants must
handle it). With a ``profile`` that names structures (``selma3d-2026``), a case is named as that
edition's organizers name theirs, ``<structure>_<k:03d>`` by the edition's structure names
(``cell_nuclei_001``, ``blood_vessel_000``: the 2026 evaluator takes each case's category from
that prefix), and only structures the profile gives the case's track are drawn (2026:
microglia, drawn branching, counts as isolated, so the vessel track draws blood vessels only).
Each case is seeded from ``(seed, track, k)`` alone, so it is the same whatever the number of
cases asked for; the same seed gives byte-identical files.

Public API
----------
synthesize_split, split_is_current, generator_version, synthesize_case, plan_cases, CasePlan,
STRUCTURES, EMPTY_EVERY
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy

from common.errors import ConfigError
from common.files import atomic_path, write_atomic
from common.profiles import get_profile
from harness.split.manifest import Split, load_split, write_manifest
from harness.split.synth.imaging import IMAGING_STYLES, acquire
from harness.split.synth.shapes import new_scene
from harness.split.synth.spots import spots
from harness.split.synth.vessels import blood_vessels, microglia
from harness.split.volume import Grid, write_volume
from metrics.registry import TRACKS

__all__ = [
    "EMPTY_EVERY",
    "MAX_VOXELS",
    "STRUCTURES",
    "CasePlan",
    "generator_version",
    "plan_cases",
    "split_is_current",
    "synthesize_case",
    "synthesize_split",
]

STRUCTURES: dict[str, tuple[str, ...]] = {
    "vessel": ("blood_vessel", "microglia"),
    "spot": ("cfos", "cell_nucleus", "amyloid_plaque"),
}
EMPTY_EVERY = 8
MAX_VOXELS = 512**3
"""Cap on the voxels of one synthetic case: a case's arrays must fit a workstation's memory."""
_EMPTY_AT = 3
# Stable per-track seed keys: a case's stream must not depend on which tracks were requested.
_TRACK_KEY = {"vessel": 1, "spot": 2}


@dataclass(frozen=True)
class CasePlan:
    """What one synthetic case will be.

    Attributes
    ----------
    case_id : str
        ``<track>_<index:03d>``.
    track, structure : str
        As in the manifest.
    index : int
        Position within its track; with ``seed`` it alone determines the case.
    empty : bool
        True for spot patches with no object of interest.
    """

    case_id: str
    track: str
    structure: str
    index: int
    empty: bool


def plan_cases(
    cases: int, *, tracks: tuple[str, ...] = TRACKS, profile: str | None = None
) -> list[CasePlan]:
    """Share ``cases`` between ``tracks`` and name them (as ``profile``'s edition does, if given).

    Examples
    --------
    >>> [(p.case_id, p.structure, p.empty) for p in plan_cases(5)]  # doctest: +NORMALIZE_WHITESPACE
    [('vessel_000', 'blood_vessel', False), ('vessel_001', 'microglia', False),
     ('vessel_002', 'blood_vessel', False), ('spot_000', 'cfos', False),
     ('spot_001', 'cell_nucleus', False)]
    >>> plan_cases(8, tracks=("spot",))[3].empty
    True
    >>> [p.case_id for p in plan_cases(4, profile="selma3d-2026")]
    ['blood_vessel_000', 'blood_vessel_001', 'cfos_neuron_000', 'cell_nuclei_001']
    """
    if cases < 1:
        raise ConfigError(f"cases must be at least 1. Got {cases}.")
    tracks = tuple(tracks)
    unknown = [t for t in tracks if t not in TRACKS]
    if not tracks or unknown or len(set(tracks)) != len(tracks):
        raise ConfigError(f"tracks must be distinct values among {TRACKS}. Got {tracks}.")
    rules = get_profile(profile) if profile is not None else None
    if rules is not None and rules.structure_tracks is None:
        rules = None  # the profile keeps selma3d's own names and tracks
    plans = []
    for i, track in enumerate(tracks):
        n = cases // len(tracks) + (1 if i < cases % len(tracks) else 0)
        names = STRUCTURES[track]
        if rules is not None:
            names = tuple(name for name in names if rules.track_of(name) == track)
        for k in range(n):
            structure = names[k % len(names)]
            prefix = track if rules is None else rules.structure_name(structure)
            plans.append(
                CasePlan(
                    case_id=f"{prefix}_{k:03d}",
                    track=track,
                    structure=structure,
                    index=k,
                    empty=track == "spot" and k % EMPTY_EVERY == _EMPTY_AT,
                )
            )
    return plans


def synthesize_case(
    plan: CasePlan, *, size: tuple[int, int, int] = (96, 96, 96), seed: int = 0
) -> tuple[np.ndarray, np.ndarray, Grid, dict[str, object]]:
    """Generate one case in memory.

    Parameters
    ----------
    plan : CasePlan
        Which case (track, structure, index).
    size : tuple of int, keyword-only
        ``(Z, Y, X)``.
    seed : int, keyword-only
        With the plan's track and index, determines every voxel.

    Returns
    -------
    image : (Z, Y, X) ndarray of float32
        Integer-valued raw intensities in ``[0, 65535]``.
    label : (Z, Y, X) ndarray of uint8
        Exact binary truth.
    grid : Grid
        Unit pixel size in y and x, the structure's z step.
    info : dict
        What was drawn and the imaging parameters, for the record.

    Examples
    --------
    >>> spot = plan_cases(2)[1]
    >>> image, label, grid, info = synthesize_case(spot, size=(24, 32, 32), seed=1)
    >>> image.shape, label.dtype.name, grid.spacing
    ((24, 32, 32), 'uint8', (2.0, 1.0, 1.0))
    """
    if len(size) != 3 or any(int(s) < 8 for s in size):
        raise ConfigError(f"size must be three integers >= 8 (Z, Y, X). Got {tuple(size)}.")
    size = tuple(int(s) for s in size)  # type: ignore[assignment]
    rng = np.random.default_rng(
        np.random.SeedSequence(int(seed), spawn_key=(_TRACK_KEY[plan.track], plan.index))
    )
    style = IMAGING_STYLES[plan.structure]
    spacing = (style.z_spacing, 1.0, 1.0)
    scene = new_scene(size, spacing=spacing)
    if plan.structure == "blood_vessel":
        drawn = blood_vessels(scene, rng)
    elif plan.structure == "microglia":
        drawn = microglia(scene, rng)
    else:
        drawn = spots(scene, rng, structure=plan.structure, count=0 if plan.empty else None)
    image, imaging = acquire(scene.density, rng, style=style, spacing=spacing)
    info: dict[str, object] = {"structure": plan.structure, **drawn, "imaging": imaging}
    return image, scene.label, Grid(shape=size, spacing=spacing), info  # type: ignore[arg-type]


def synthesize_split(
    out_dir: str | Path,
    *,
    cases: int = 6,
    size: tuple[int, int, int] = (96, 96, 96),
    seed: int = 0,
    tracks: tuple[str, ...] = TRACKS,
    labeled: bool = True,
    progress: bool = False,
    profile: str | None = None,
) -> Split:
    """Generate a split of synthetic light-sheet patches and return it loaded.

    Writes ``out_dir/manifest.csv``, ``images/<case_id>.nii.gz`` (float32 raw intensities),
    ``labels/<case_id>.nii.gz`` (uint8 0/1; not written when ``labeled`` is False, and the
    manifest's label column is then empty) and ``synth.json`` (seed, size and what each case
    holds: blob counts, loops, imaging parameters).

    Parameters
    ----------
    out_dir : str or Path
        Created if needed; if it exists it must be empty or hold a split. A split written
        over an earlier generated one (with its ``synth.json``) replaces it: the earlier
        manifest's volumes that the new split does not write are removed (nothing else in the
        folder is; nothing at all from a split the generator did not write).
    cases : int, keyword-only
        Total number of cases, shared evenly between ``tracks``.
    size : tuple of int, keyword-only
        ``(Z, Y, X)`` of every case.
    seed : int, keyword-only
        Same seed, same bytes.
    tracks : tuple of str, keyword-only
        Among ``metrics.registry.TRACKS`` (``("vessel", "spot")``).
    labeled : bool, keyword-only
        False writes unlabeled volumes for self-supervised pretraining.
    progress : bool, keyword-only
        Show a rich progress bar.
    profile : str, optional, keyword-only
        Name the cases as this edition's organizers do (:func:`plan_cases`); recorded in
        ``synth.json``.

    Returns
    -------
    Split
        The split just written, validated by :func:`harness.split.manifest.load_split`.

    Examples
    --------
    >>> import tempfile
    >>> split = synthesize_split(tempfile.mkdtemp(), cases=2, size=(16, 24, 24), seed=0)
    >>> split.case_ids, [c.structure for c in split.cases]
    (('spot_000', 'vessel_000'), ['cfos', 'blood_vessel'])
    """
    out = Path(out_dir)
    plans = plan_cases(cases, tracks=tuple(tracks), profile=profile)
    _check_size_and_seed(size, seed)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: is a file; expected a folder for the split.")
    if out.exists() and any(out.iterdir()) and not (out / "synth.json").is_file():
        # Only a split this generator wrote (it has synth.json) may be replaced: a hand-made or
        # imported split in the folder is the user's.
        what = "a split not written by `data synth`" if (out / "manifest.csv").is_file() else (
            "not a split")
        raise ConfigError(
            f"{out}: folder exists and holds {what} (no synth.json); choose an empty or new "
            "folder."
        )
    previous = _generated_volumes(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    if labeled:
        (out / "labels").mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, str]] = []
    record: dict[str, object] = {
        "seed": int(seed),
        "size": [int(s) for s in size],
        "labeled": labeled,
        "generator": generator_version(),
        "cases": {},
    }
    if profile is not None:
        record["profile"] = profile
    with _progress(progress, len(plans)) as advance:
        for plan in plans:
            t0 = time.perf_counter()
            image, label, grid, info = synthesize_case(plan, size=size, seed=seed)
            _write_volume_atomic(out / "images" / f"{plan.case_id}.nii.gz", image, grid)
            del image
            row = {"case_id": plan.case_id, "track": plan.track, "structure": plan.structure,
                   "image": f"images/{plan.case_id}.nii.gz", "label": "", "phase": ""}
            if labeled:
                _write_volume_atomic(out / "labels" / f"{plan.case_id}.nii.gz", label, grid)
                row["label"] = f"labels/{plan.case_id}.nii.gz"
            del label
            info["seconds"] = round(time.perf_counter() - t0, 3)
            record["cases"][plan.case_id] = info  # type: ignore[index]
            rows.append(row)
            advance(plan.case_id)
    write_manifest(out, rows)
    write_atomic(out / "synth.json", json.dumps(record, indent=1, sort_keys=True) + "\n")
    # A split written over an earlier one keeps none of its volumes: fewer cases leave no
    # strays, and an unlabeled split (handed to participants) keeps no earlier labels.
    written = {out / r["image"] for r in rows} | {out / r["label"] for r in rows if r["label"]}
    for path in sorted(previous - written):
        path.unlink(missing_ok=True)
    if not labeled and (out / "labels").is_dir() and not any((out / "labels").iterdir()):
        (out / "labels").rmdir()
    return load_split(out)


def _check_size_and_seed(size: tuple[int, int, int], seed: int) -> None:
    """Refuse, before anything is written, a size or seed no case could be made with."""
    if len(size) != 3 or any(int(s) < 8 for s in size):
        raise ConfigError(f"size must be three integers >= 8 (Z, Y, X). Got {tuple(size)}.")
    voxels = int(size[0]) * int(size[1]) * int(size[2])
    if voxels > MAX_VOXELS:
        raise ConfigError(
            f"size {tuple(int(s) for s in size)} is {voxels:,} voxels per case, over the cap of "
            f"{MAX_VOXELS:,} (512^3); choose a smaller --size."
        )
    if int(seed) < 0:
        raise ConfigError(f"seed must be >= 0. Got {seed}.")


def _generated_volumes(out: Path) -> set[Path]:
    """The volumes an earlier :func:`synthesize_split` wrote into ``out``.

    Only files the old manifest of a generated split (one with ``synth.json``) lists under
    ``images/`` or ``labels/`` count, so the user's own files are never touched.
    """
    manifest = out / "manifest.csv"
    if not manifest.is_file() or not (out / "synth.json").is_file():
        return set()  # no split, or one the generator did not write: remove none of its files
    try:
        with manifest.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(
            f"{manifest}: cannot read the earlier split's manifest to replace it ({exc})."
        ) from exc
    found = set()
    for row in rows:
        for column, folder in (("image", "images"), ("label", "labels")):
            name = (row.get(column) or "").strip()
            path = out / name
            if name and path.parent == out / folder and path.name.endswith(".nii.gz"):
                found.add(path)
    return found


def generator_version() -> str:
    """A digest of the generator's own source files and of the numpy and scipy it runs on.

    Recorded in ``synth.json``, so a split written by an earlier version of the generator is
    recognised as such (see :func:`split_is_current`). The libraries count because their
    random streams and filters draw the volumes.

    Returns
    -------
    str
        ``"sha256:"`` and 16 hex digits.
    """
    h = hashlib.sha256(f"numpy {np.__version__}\0scipy {scipy.__version__}\0".encode())
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return "sha256:" + h.hexdigest()[:16]


def split_is_current(
    out_dir: str | Path,
    *,
    cases: int = 6,
    size: tuple[int, int, int] = (96, 96, 96),
    seed: int = 0,
    tracks: tuple[str, ...] = TRACKS,
    labeled: bool = True,
    profile: str | None = None,
) -> bool:
    """Whether ``out_dir`` holds what :func:`synthesize_split` would write with these arguments.

    The split must also come from this version of the generator. Decided from ``synth.json``
    (seed, size, labels, case ids and :func:`generator_version`) and the manifest's presence;
    the volumes themselves are checked by ``load_split`` when the split is used. A folder
    without ``synth.json``, or with an unreadable one, is not current.

    Parameters
    ----------
    out_dir : str or Path
    cases, size, seed, tracks, labeled, profile : keyword-only
        As for :func:`synthesize_split`.

    Returns
    -------
    bool
    """
    out = Path(out_dir)
    record_path = out / "synth.json"
    if not (out / "manifest.csv").is_file() or not record_path.is_file():
        return False
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return False  # a cut-short file from an interrupted run: the split is rewritten
    wanted_ids = sorted(
        p.case_id for p in plan_cases(cases, tracks=tuple(tracks), profile=profile)
    )
    return (
        isinstance(record, dict)
        and record.get("generator") == generator_version()
        and record.get("seed") == int(seed)
        and record.get("size") == [int(s) for s in size]
        and record.get("labeled") == labeled
        and record.get("profile") == profile
        and sorted(record.get("cases") or {}) == wanted_ids
    )


def _write_volume_atomic(path: Path, array: np.ndarray, grid: Grid) -> None:
    with atomic_path(path, suffix=".tmp.nii.gz") as tmp:
        write_volume(tmp, array, grid)


class _progress:
    """A rich progress bar, or nothing when disabled (tests, library use)."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total = enabled, total

    def __enter__(self):
        if not self.enabled:
            return lambda name: None
        # Rich's progress bars are loaded only when a bar is shown.
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._bar = Progress(TextColumn("synth {task.description}"), BarColumn(),
                             MofNCompleteColumn())
        self._bar.__enter__()
        task = self._bar.add_task("", total=self.total)
        return lambda name: self._bar.update(task, advance=1, description=name)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._bar.__exit__(*exc)
