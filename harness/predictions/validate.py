"""Validate what a container left in ``/output`` before anything is scored.

Stages, in order: scan the output tree without following links (:func:`scan_output_tree`),
locate the case's file (the contract), check the file itself and its header before reading the
voxels (:func:`validate_prediction`), binarize (:func:`binarize`), save
``<case_id>.nii.gz`` as uint8 on the case grid (:func:`save_mask`).

A case ends with exactly one status of ``leaderboard.status.STATUS_TABLE``. This module decides
``invalid_output``: unreadable; several images where one is expected; shape or grid different
from the input; NaN or infinite values; a symlink, hard link or device file; over the size or
file-count cap; values that are neither a mask nor probabilities.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import VolumeError
from harness.split.volume import Grid, read_volume, volume_format, write_volume
from leaderboard.files import atomic_path

__all__ = [
    "OutputLimits",
    "TreeScan",
    "Validation",
    "binarize",
    "save_mask",
    "scan_output_tree",
    "validate_prediction",
]



@dataclass(frozen=True)
class OutputLimits:
    """Caps on what a container may leave in ``/output`` (per container run).

    Attributes
    ----------
    max_bytes : int
        Total size of regular files.
    max_files : int
        Number of entries (files and folders).
    """

    max_bytes: int = 1 << 30
    max_files: int = 1000

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.max_files <= 0:
            raise ValueError(
                "OutputLimits must be positive. "
                f"Got max_bytes={self.max_bytes}, max_files={self.max_files}."
            )


@dataclass(frozen=True)
class TreeScan:
    """Result of scanning an output folder: its size, entry count and the first problem."""

    total_bytes: int
    entries: int
    problem: str | None


def scan_output_tree(root: Path, *, limits: OutputLimits = OutputLimits()) -> TreeScan:
    """Walk ``root`` with ``lstat`` only, never following a link, and report the first problem.

    A problem is a symlink, a hard link (a regular file with more than one link), anything that
    is neither a regular file nor a folder (device, FIFO, socket), or exceeding ``limits``.
    Paths in messages are shown as the container saw them (``/output/...``).

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "a.mha").write_bytes(b"x" * 10)
    >>> (d / "link").symlink_to("/etc/passwd")
    >>> scan_output_tree(d).problem
    '/output/link is a symlink (to /etc/passwd); links are not accepted'
    """
    total = 0
    entries = 0
    stack = [Path(root)]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as it:
            items = sorted(it, key=lambda e: e.name)
        for entry in items:
            entries += 1
            shown = "/output/" + Path(entry.path).relative_to(root).as_posix()
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(entry.path)
                return TreeScan(
                    total, entries, f"{shown} is a symlink (to {target}); links are not accepted"
                )
            if stat.S_ISDIR(st.st_mode):
                stack.append(Path(entry.path))
            elif stat.S_ISREG(st.st_mode):
                if st.st_nlink > 1:
                    return TreeScan(
                        total,
                        entries,
                        f"{shown} is a hard link ({st.st_nlink} links); links are not accepted",
                    )
                total += st.st_size
            else:
                return TreeScan(
                    total,
                    entries,
                    f"{shown} is not a regular file (mode {stat.filemode(st.st_mode)})",
                )
            if total > limits.max_bytes:
                return TreeScan(
                    total,
                    entries,
                    f"/output holds more than the size cap of {limits.max_bytes} bytes",
                )
            if entries > limits.max_files:
                return TreeScan(
                    total,
                    entries,
                    f"/output holds more than the cap of {limits.max_files} files and folders",
                )
    return TreeScan(total, entries, None)


@dataclass(frozen=True, eq=False)
class Validation:
    """Outcome of validating one prediction file.

    Attributes
    ----------
    status : {"ok", "invalid_output"}
    reason : str
        Empty when ok; otherwise what was found and what was expected.
    mask : (Z, Y, X) ndarray of uint8 or None
        The binarized mask (0/1) when ok.
    """

    status: str
    reason: str = ""
    mask: np.ndarray | None = None


def binarize(array: np.ndarray, *, threshold: float = 0.5) -> tuple[np.ndarray | None, str]:
    """Turn a prediction into a 0/1 mask, or explain why it is not a valid prediction.

    Rules
    -----
    - bool and non-negative integers (binary or label masks): ``array > 0``;
    - floats in ``[0, 1]`` (probabilities): ``array >= threshold``;
    - non-negative integer-valued floats (labels stored as float): ``array > 0``;
    - anything else is invalid: NaN or infinite values, negative values, floats above 1 that
      are not integer-valued, complex or non-numeric data.

    Parameters
    ----------
    array : (Z, Y, X) ndarray
    threshold : float, keyword-only
        Probability at or above which a voxel is foreground, in ``(0, 1]``.

    Returns
    -------
    mask : (Z, Y, X) ndarray of uint8 or None
    reason : str
        Empty when the mask is valid.

    Examples
    --------
    >>> m, why = binarize(np.array([[[0, 3, 7]]], dtype=np.int16)); m.tolist(), why
    ([[[0, 1, 1]]], '')
    >>> binarize(np.array([[[0.2, 0.5, 0.9]]]))[0].tolist()
    [[[0, 1, 1]]]
    >>> binarize(np.array([[[-1, 0, 1]]], dtype=np.int8))[1]
    'negative values (min -1); expected a mask (>= 0) or probabilities in [0, 1]'
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1]. Got {threshold}.")
    a = np.asarray(array)
    if a.dtype == bool:
        return a.astype(np.uint8), ""
    if np.issubdtype(a.dtype, np.integer):
        lo = int(a.min()) if a.size else 0
        if lo < 0:
            return (
                None,
                f"negative values (min {lo}); expected a mask (>= 0) or probabilities in [0, 1]",
            )
        return (a > 0).astype(np.uint8), ""
    if not np.issubdtype(a.dtype, np.floating):
        return None, f"data type {a.dtype} is neither an integer nor a float mask"
    finite = np.isfinite(a)
    if not finite.all():
        n_nan = int(np.isnan(a).sum())
        n_inf = int(a.size - finite.sum() - n_nan)
        return (
            None,
            f"{n_nan} NaN and {n_inf} infinite value(s); "
            "expected a mask or probabilities in [0, 1]",
        )
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if lo < 0:
        return (
            None,
            f"negative values (min {lo:g}); expected a mask (>= 0) or probabilities in [0, 1]",
        )
    if hi <= 1:
        return (a >= threshold).astype(np.uint8), ""
    fractional = a[(a != np.round(a))]
    if fractional.size:
        return None, (
            f"float values above 1 (max {hi:g}) that are not integer labels "
            f"(e.g. {float(fractional[0]):g}); "
            "expected a mask or probabilities in [0, 1]"
        )
    return (a > 0).astype(np.uint8), ""


def _header_shape(path: Path) -> tuple[int, ...] | None:
    """Shape ``(z, y, x)`` from the header only, so a decompression bomb is never read."""
    fmt = volume_format(path)
    if fmt == "tiff":
        import tifffile

        with tifffile.TiffFile(str(path)) as tif:
            shape = tuple(int(s) for s in tif.series[0].shape) if tif.series else ()
        shape = tuple(s for s in shape if s != 1) if len(shape) > 3 else shape
        return shape
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    size = reader.GetSize()
    comps = reader.GetNumberOfComponents()
    if comps != 1:
        return (*tuple(reversed(size)), comps)
    return tuple(int(s) for s in reversed(size))


def validate_prediction(path: Path, grid: Grid, *, threshold: float = 0.5) -> Validation:
    """Check one prediction file against the case grid and binarize it.

    The file must be a regular file with one link (checked with ``lstat``, so a link is never
    followed), readable, of the case's shape (read from the header first), on the case's grid
    (spacing, origin and direction; TIFF stores no origin or orientation, so only its shape is
    compared), and hold a mask or probabilities (:func:`binarize`).

    Parameters
    ----------
    path : Path
        The file on the host.
    grid : Grid
        The grid of the case's image.
    threshold : float, keyword-only
        Probability threshold.
    """
    name = path.name
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return Validation("invalid_output", f"{name} disappeared before it could be read")
    if stat.S_ISLNK(st.st_mode):
        return Validation(
            "invalid_output",
            f"{name} is a symlink (to {os.readlink(path)}); links are not accepted",
        )
    if not stat.S_ISREG(st.st_mode):
        return Validation("invalid_output", f"{name} is not a regular file")
    if st.st_nlink > 1:
        return Validation("invalid_output", f"{name} is a hard link; links are not accepted")
    try:
        fmt = volume_format(path)
        shape = _header_shape(path)
        if shape is not None and tuple(shape) != tuple(grid.shape):
            return Validation(
                "invalid_output",
                f"{name}: shape (z, y, x) is {tuple(shape)}, "
                f"expected {tuple(grid.shape)} (the input's)",
            )
        vol = read_volume(path)
    # Header readers raise their own families of errors on garbage; all mean "unreadable".
    except (VolumeError, RuntimeError, OSError, ValueError, IndexError) as exc:
        return Validation("invalid_output", f"{name} is unreadable: {exc}")
    if fmt == "tiff":
        problem = (
            None
            if tuple(vol.grid.shape) == tuple(grid.shape)
            else (f"shape (z, y, x) is {tuple(vol.grid.shape)}, expected {tuple(grid.shape)}")
        )
    else:
        problem = grid.mismatch(vol.grid)
    if problem:
        return Validation("invalid_output", f"{name}: {problem} (the input's grid)")
    mask, why = binarize(vol.array, threshold=threshold)
    if mask is None:
        return Validation("invalid_output", f"{name}: {why}")
    return Validation("ok", "", mask)


def save_mask(mask: np.ndarray, grid: Grid, dest: Path) -> Path:
    """Write a 0/1 mask as uint8 NIfTI on ``grid``, atomically (``leaderboard.files``).

    Parameters
    ----------
    mask : (Z, Y, X) ndarray
        Values 0/1.
    grid : Grid
        The case image's grid.
    dest : Path
        Ends with ``.nii.gz``.
    """
    with atomic_path(dest, suffix=".tmp.nii.gz") as tmp:
        write_volume(tmp, np.asarray(mask, dtype=np.uint8), grid)
    return dest
