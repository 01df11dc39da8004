"""Volume-level checks of a split's cases (shape, grid, binary labels, readability)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harness.errors import VolumeError
from harness.split.volume import read_volume

__all__ = ["check_case_volumes"]


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
