"""Volume-level checks of a split's cases (shape, grid, binary labels, readability).

:func:`check_case_volumes` checks a whole split when it is loaded with ``check_volumes``;
:func:`read_reference` is the gate of every label a scoring run uses, so a broken split is the
organizer's error (exit 2, naming the label) and never a team's ``invalid_output``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harness.errors import VolumeError
from harness.split.volume import Grid, read_header, read_volume

__all__ = ["check_case_volumes", "image_grid", "read_reference", "reference_problems"]


def check_case_volumes(images: Sequence[Path], label: Path | None, *, where: str) -> list[str]:
    """Open a case's image channels and label; return every problem found, prefixed with ``where``.

    Checks: every file readable and 3D; channels on one grid; the label on the image's grid;
    the label free of NaN (any other value binarizes with ``> 0``).
    """
    problems: list[str] = []
    grids = []
    for path in images:
        try:
            grids.append((path, read_volume(path).grid))
        except VolumeError as exc:
            problems.append(f"{where}: image unreadable: {exc}")
    ref_path, ref_grid = grids[0] if grids else (None, None)
    for path, grid in grids[1:]:
        diff = ref_grid.mismatch(grid)
        if diff:
            problems.append(f"{where}: channel {path.name} differs from {ref_path.name}: {diff}")
    if label is not None:
        try:
            mask = read_volume(label)
        except VolumeError as exc:
            problems.append(f"{where}: label unreadable: {exc}")
        else:
            if ref_grid is not None:
                diff = ref_grid.mismatch(mask.grid)
                if diff:
                    problems.append(f"{where}: label and image grids differ: label {diff}")
            if np.issubdtype(mask.array.dtype, np.floating) and np.isnan(mask.array).any():
                problems.append(f"{where}: label contains NaN; expected a binary mask")
    return problems


def reference_problems(label: np.ndarray, image_shape: tuple[int, ...]) -> list[str]:
    """What makes a label array unusable as a reference for an image of ``image_shape``.

    A reference must be a real-valued 3D array of the image's shape, free of NaN and infinite
    values, with no negative value (foreground is ``> 0``; any non-negative integer or float
    label qualifies).

    Examples
    --------
    >>> reference_problems(np.array([[[0.0, np.nan]]]), (1, 1, 2))
    ['1 NaN and 0 infinite value(s); expected a binary mask']
    >>> reference_problems(np.zeros((1, 1, 2), np.uint8), (1, 2, 1))[0][:38]
    'shape (z, y, x) is (1, 1, 2), expected'
    """
    problems = []
    if tuple(label.shape) != tuple(image_shape):
        problems.append(
            f"shape (z, y, x) is {tuple(label.shape)}, expected {tuple(image_shape)} (the image's)"
        )
    kind = label.dtype.kind
    if kind not in "biuf":
        problems.append(f"data type {label.dtype} is not a mask (expected integers or floats)")
        return problems
    if kind == "f":
        finite = np.isfinite(label)
        if not finite.all():
            n_nan = int(np.isnan(label).sum())
            n_inf = int(label.size - int(finite.sum()) - n_nan)
            problems.append(
                f"{n_nan} NaN and {n_inf} infinite value(s); expected a binary mask"
            )
            return problems
    if kind in "if" and label.size and label.min() < 0:
        problems.append(f"negative values (min {label.min()}); expected a binary mask")
    return problems


def image_grid(image: Path) -> Grid:
    """The grid of an image from its header alone (default geometry when it carries none).

    Raises
    ------
    VolumeError
        If the header is unreadable or not 3D.
    """
    header = read_header(image)
    if len(header.shape) != 3:
        raise VolumeError(f"{image}: expected a 3D volume, the header declares {header.shape}")
    return header.grid if header.grid is not None else Grid(header.shape)  # type: ignore[arg-type]


def read_reference(label: Path, image: Path, *, where: str) -> tuple[np.ndarray, Grid]:
    """Read a case's label for scoring, checked against its image, and the image's grid.

    The image is read from its header only (its voxels are never needed for scoring).

    Parameters
    ----------
    label : Path
        The case's label file.
    image : Path
        The case's (first) image channel: the grid predictions are judged against.
    where : str
        Names the case in messages (``case 'c01'``).

    Returns
    -------
    label : (Z, Y, X) ndarray
        The label as stored.
    grid : Grid
        The image's grid (default geometry when the image carries none).

    Raises
    ------
    VolumeError
        Naming the label and every problem (:func:`reference_problems`), or the unreadable file.
    """
    try:
        grid = image_grid(image)
    except VolumeError as exc:
        raise VolumeError(f"{where}: image unreadable: {exc}") from exc
    try:
        volume = read_volume(label)
    except VolumeError as exc:
        raise VolumeError(f"{where}: label unreadable: {exc}") from exc
    problems = reference_problems(volume.array, grid.shape)
    if problems:
        raise VolumeError(
            f"{where}: label {label} cannot be used as a reference: " + "; ".join(problems)
        )
    return volume.array, grid
