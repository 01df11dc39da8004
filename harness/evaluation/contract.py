"""grand-challenge's evaluation contract: what an evaluation container finds, and where.

As grand-challenge runs a phase's evaluation method once per submission, after every algorithm
job of it succeeded (sources: ``comic/grand-challenge.org``, ``app/grandchallenge/evaluation/
tasks.py`` ``set_evaluation_inputs``, and the jobs' serializer; the SELMA3D 2026 evaluator,
``YingChen7/SELMA3D2026_evaluation``, ``evaluate.py``, reads them in this form):

``/input/predictions.json``
    A list with one entry per algorithm job: ``pk`` (a uuid), ``inputs`` and ``outputs``
    (socket values: ``pk``, ``file``, ``image`` ``{pk, name}``, ``value``, and the socket under
    both ``socket`` and ``interface``), ``status`` (``"Succeeded"``), ``exec_duration`` and
    ``invoke_duration`` (``"HH:MM:SS.ffffff"``, or null). The input image's ``name`` is the
    organizers' own file name of the case (the split's image file name), never the anonymised
    name the algorithm saw.
``/input/<job pk>/output/<relative_path>/<file>``
    Each job's output image (``images/isolated-biological-structure/<uuid>.mha``).
``/opt/ml/input/data/ground_truth/``
    The ground truth, read-only: a folder as given, or a tarball extracted as grand-challenge
    extracts the one uploaded to the phase.

A prediction reaches the container through the prediction gate selma3d scores with (links
refused, header before voxels, the round's binarization rule), re-written as a 0/1 ``.mha``, as
grand-challenge re-writes an algorithm's output image on import.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import tarfile
import tempfile
import uuid
from collections.abc import Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import ConfigError
from common.files import atomic_path
from harness.containers.cleanup import chmod_tree, remove_tree
from harness.containers.contracts import gc_socket, gc_socket_value
from harness.containers.scratch import owned_scratch
from harness.errors import SubmissionError
from harness.predictions.validate import OFFICIAL_GATE, GateOptions, validate_prediction
from harness.split.checks import image_grid
from harness.split.manifest import Split
from harness.split.volume import read_volume, write_volume

__all__ = [
    "GROUND_TRUTH_MOUNT",
    "GROUND_TRUTH_SUBFOLDER",
    "INPUT_SLUG",
    "OUTPUT_SLUG",
    "EvaluationJob",
    "duration_text",
    "ground_truth_hash",
    "image_names",
    "jobs_from_results",
    "prepare_ground_truth",
    "stage_predictions",
    "write_ground_truth",
]

GROUND_TRUTH_MOUNT = "/opt/ml/input/data/ground_truth"
"""Where grand-challenge extracts a phase's ground truth in the evaluation container."""
GROUND_TRUTH_SUBFOLDER = "task1_gt"
"""The SELMA3D 2026 ground truth's folder of masks, each named as its case's image."""
INPUT_SLUG = "light-sheet-3d-microscopy"
OUTPUT_SLUG = "isolated-biological-structure"
_TARBALLS = (".tar", ".tar.gz", ".tgz")


@dataclass(frozen=True)
class EvaluationJob:
    """One algorithm job as the evaluation container sees it.

    Attributes
    ----------
    case_id : str
        Known to the harness only.
    image_name : str
        The organizers' file name of the case's image (``inputs[].image.name``).
    prediction : Path
        The prediction file, passed through the gate when staged.
    exec_duration_s, invoke_duration_s : float or None
        The job's times, as the runner measured them.
    """

    case_id: str
    image_name: str
    prediction: Path
    exec_duration_s: float | None = None
    invoke_duration_s: float | None = None


def duration_text(seconds: float | None) -> str | None:
    """A duration as grand-challenge's API writes one (Django's ``duration_string``).

    Examples
    --------
    >>> duration_text(12.5), duration_text(3725.000001), duration_text(None)
    ('00:00:12.500000', '01:02:05.000001', None)
    """
    if seconds is None:
        return None
    delta = datetime.timedelta(seconds=float(seconds))
    hours, rest = divmod(delta.seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{secs:02d}.{delta.microseconds:06d}"
    return f"{delta.days} {text}" if delta.days else text


def image_names(split: Split) -> dict[str, str]:
    """Case id -> the file name of its image, the name an evaluation container looks cases up by.

    Raises
    ------
    ConfigError
        Two cases' images share a file name (a container could not tell them apart).
    """
    names = {case.case_id: case.images[0].name for case in split.cases}
    seen: dict[str, str] = {}
    for case_id, name in names.items():
        if name in seen:
            raise ConfigError(
                f"{split.root}: cases {seen[name]!r} and {case_id!r} have images with the same "
                f"file name {name!r}; an evaluation container finds each case's ground truth by "
                "that name, so each must be unique"
            )
        seen[name] = case_id
    return names


def jobs_from_results(
    rows: Iterable[Mapping[str, Any]], split: Split
) -> tuple[list[EvaluationJob], str]:
    """The jobs of one submission from its scored rows, or why grand-challenge would not evaluate.

    grand-challenge runs the evaluation only when every job succeeded; otherwise the evaluation
    fails with "The algorithm failed on one or more cases." So does this.

    Parameters
    ----------
    rows : iterable of mapping
        One submission's rows of :func:`harness.scoring.evaluate.evaluate_predictions`
        (``case_id``, ``status``, ``prediction``, ``wall_time_s``).
    split : Split

    Returns
    -------
    (list of EvaluationJob, str)
        The jobs in case order and an empty reason, or no jobs and the reason.
    """
    names = image_names(split)
    rows = sorted(rows, key=lambda r: str(r["case_id"]))
    failed = [f"{r['case_id']} ({r['status']})" for r in rows if r["status"] != "ok"]
    if failed:
        return [], (
            f"not run: the algorithm failed on {len(failed)} of {len(rows)} case(s) "
            f"({', '.join(failed[:5])}{', ...' if len(failed) > 5 else ''}); grand-challenge "
            "evaluates a submission only when every job succeeded"
        )
    jobs = []
    for r in rows:
        wall = r.get("wall_time_s")
        seconds = None if wall is None or not np.isfinite(float(wall)) else float(wall)
        jobs.append(
            EvaluationJob(
                case_id=str(r["case_id"]),
                image_name=names[str(r["case_id"])],
                prediction=Path(str(r["prediction"])),
                exec_duration_s=seconds,
            )
        )
    return jobs, ""


def _image_value(slug: str, name: str, pk: int) -> dict[str, Any]:
    socket = gc_socket(
        slug, pk=pk, kind="Image", super_kind="Image", relative_path=f"images/{slug}"
    )
    return gc_socket_value(socket, pk=pk, image={"pk": str(uuid.uuid4()), "name": name}, value=None)


def stage_predictions(
    jobs: Sequence[EvaluationJob],
    split: Split,
    input_dir: Path,
    *,
    gate: GateOptions = OFFICIAL_GATE,
) -> list[dict[str, Any]]:
    """Write ``predictions.json`` and every job's output under ``input_dir`` (the future /input).

    Returns
    -------
    list of dict
        The entries of ``predictions.json``, in job order.

    Raises
    ------
    SubmissionError
        A prediction does not pass the gate (it passed it when scored: the file changed since).
    """
    cases = {c.case_id: c for c in split.cases}
    input_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for k, job in enumerate(jobs):
        pk = str(uuid.uuid4())
        case = cases[job.case_id]
        grid = image_grid(case.images[0])
        checked = validate_prediction(job.prediction, grid, options=gate)
        if checked.status != "ok" or checked.mask is None:
            raise SubmissionError(f"{job.case_id}: {checked.reason}")
        folder = input_dir / pk / "output" / "images" / OUTPUT_SLUG
        folder.mkdir(parents=True)
        write_volume(folder / f"{uuid.uuid4()}.mha", checked.mask.astype(np.uint8), grid)
        entries.append(
            {
                "pk": pk,
                "inputs": [_image_value(INPUT_SLUG, job.image_name, 2 * k + 1)],
                "outputs": [_image_value(OUTPUT_SLUG, f"{pk}.mha", 2 * k + 2)],
                "status": "Succeeded",
                "exec_duration": duration_text(job.exec_duration_s),
                "invoke_duration": duration_text(job.invoke_duration_s),
            }
        )
    (input_dir / "predictions.json").write_text(json.dumps(entries, indent=2), encoding="utf-8")
    return entries


def ground_truth_hash(path: Path) -> str:
    """``sha256:`` of a tarball's bytes, or of a folder's content (names and bytes).

    A folder's hash covers each regular file's path relative to it and the sha256 of its bytes,
    in sorted order, and each link's path and target (never followed): renaming or changing any
    file changes it.
    """
    if path.is_file():
        h = hashlib.sha256()
        try:
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
        except OSError as exc:
            raise ConfigError(
                f"{path}: the ground truth cannot be read ({exc.strerror or exc}); expected "
                "regular files"
            ) from exc
        return "sha256:" + h.hexdigest()
    lines = []

    def unreadable(exc: OSError) -> None:
        raise ConfigError(
            f"{exc.filename}: the ground truth cannot be read ({exc.strerror or exc})"
        ) from exc

    for root, dirs, files in os.walk(path, onerror=unreadable):
        dirs.sort()
        linked = sorted(d for d in dirs if os.path.islink(os.path.join(root, d)))
        for name in sorted(files) + linked:
            full = Path(root) / name
            rel = full.relative_to(path).as_posix()
            if full.is_symlink():
                lines.append(f"{rel}\0link\0{os.readlink(full)}\n")
            elif full.is_file():
                lines.append(f"{rel}\0{ground_truth_hash(full)}\n")
    return "sha256:" + hashlib.sha256("".join(lines).encode()).hexdigest()


def prepare_ground_truth(path: Path, sha256: str, *, cache_dir: Path) -> Path:
    """The folder to mount: ``path`` itself, or a tarball extracted once into ``cache_dir``.

    Extraction uses tarfile's ``data`` filter (no absolute paths, no links out of the folder, no
    devices), into a temporary folder renamed when complete.
    """
    if path.is_dir():
        return path
    dest = cache_dir / f"ground-truth-{sha256.removeprefix('sha256:')[:16]}"
    if dest.is_dir():
        return dest
    cache_dir.mkdir(parents=True, exist_ok=True)
    for partial in cache_dir.glob(".ground-truth-*"):
        remove_tree(partial)  # an extraction killed midway (the cache's folder is locked)
    tmp = Path(tempfile.mkdtemp(prefix=".ground-truth-", dir=cache_dir))
    try:
        with tarfile.open(path) as tar:
            tar.extractall(tmp, filter="data")
        # Readable by the container's user, whatever the tarball's modes.
        chmod_tree(tmp, dirs=0o755, files=0o644)
        tmp.rename(dest)
    except (tarfile.TarError, OSError) as exc:
        remove_tree(tmp)
        raise ConfigError(f"{path}: cannot extract the ground truth tarball: {exc}") from exc
    return dest


def write_ground_truth(split: Split, dest: Path) -> Path:
    """Write a split's labels as a SELMA3D 2026 ground truth: ``task1_gt/<image file name>``.

    Parameters
    ----------
    split : Split
        A labeled split.
    dest : Path
        A new folder, or a ``.tar``/``.tar.gz``/``.tgz`` file (never overwritten).

    Raises
    ------
    ConfigError
        ``dest`` exists, or the split has an unlabeled case or two images of the same name.
    """
    if dest.exists():
        raise ConfigError(f"{dest} already exists; the ground truth is written to a new path")
    names = image_names(split)
    unlabeled = [c.case_id for c in split.cases if c.label is None]
    if unlabeled:
        raise ConfigError(f"{split.root}: cases without a label: {', '.join(unlabeled[:5])}")
    tarball = dest.name.lower().endswith(_TARBALLS)
    # A tarball's masks are written first into a temporary folder removed on exit, on Ctrl-C
    # and, after a kill -9, by the next writer (owned_scratch).
    with owned_scratch("selma3d-ground-truth-") if tarball else nullcontext(dest) as folder:
        masks = folder / GROUND_TRUTH_SUBFOLDER
        masks.mkdir(parents=True)
        for case in split.cases:
            label = read_volume(case.label)  # type: ignore[arg-type]
            grid = image_grid(case.images[0])
            write_volume(masks / names[case.case_id], (label.array > 0).astype(np.uint8), grid)
        if tarball:
            mode = "w:gz" if dest.name.lower().endswith(("gz", "tgz")) else "w"
            with atomic_path(dest) as tmp, tarfile.open(tmp, mode) as tar:
                tar.add(masks, arcname=GROUND_TRUTH_SUBFOLDER)
    return dest
