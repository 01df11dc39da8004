"""The one gate every prediction passes before it is scored or drawn.

The runner (what a container left in ``/output``), ``selma3d evaluate`` (folders of predictions),
``selma3d check``, ``selma3d leaderboard --split`` and the report all read predictions through
:func:`validate_prediction`, with one :class:`GateOptions` (the round's, or the defaults), so one
file gets one verdict and one mask whatever the path.

Stages, in order: scan the output tree without following links (:func:`scan_output_tree`, the
runner only), then for the case's file: ``lstat`` (links of any kind, folders and devices are
refused, never followed) -> the file's size (at most :func:`max_file_bytes`, before a byte is
read) -> the header alone, opened with ``O_NOFOLLOW | O_NONBLOCK`` and checked again with
``fstat`` (dimensions, voxel type, a size cap, shape; every rule of
:mod:`harness.split.formats`: a file is read from its own bytes only, a MetaImage's
``ElementDataFile`` must be ``LOCAL``) -> the geometry (:func:`judge_geometry`) -> the
voxels (NaN and infinities refused) -> the binarization rule (:class:`BinarizeRule`). The
runner then saves ``<case_id>.nii.gz`` as uint8 on the case grid (:func:`save_mask`); a saved
mask passes the gate again unchanged, so scoring a runner
folder gives the same row as scoring the container's own files.

Defaults follow the official SELMA3D evaluators: foreground is ``value > 0``, and geometry is
judged on the voxel grid (shapes must match; differing spacing, origin or direction is scored,
with a warning naming the field). A round may set ``binarize: {threshold: t}`` (foreground is
``value >= t``) and ``geometry: strict`` (differing spacing, origin or direction is
``invalid_output``).

A case ends with exactly one status of ``common.status.STATUS_TABLE``. This module decides
``ok`` (a mask was made under the binarization rule; warnings, if any, in the record: non-binary
values, differing geometry) and ``invalid_output``: unreadable; several images where one is
expected; not 3D; shape different from the input; a voxel type that is not a number; NaN or
infinite values; a symlink, hard link, folder, FIFO, socket or device file; a header that names
another file or lies about the bytes that follow it; over the size or file-count cap;
with ``geometry: strict``, spacing, origin or direction different from the input's.

Its length (about 500 lines) is the gate's rules: every refusal above sits beside the check that
makes it, so one file answers "what can a prediction not do"; the bytes of each format are read
in :mod:`harness.split.formats`.
"""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from common.files import atomic_path
from harness.errors import VolumeError
from harness.split.volume import (
    Grid,
    VolumeHeader,
    read_header,
    read_volume,
    volume_format,
    write_volume,
)

__all__ = [
    "FILE_SLACK_BYTES",
    "MAX_BYTES_PER_VOXEL",
    "MAX_OUTPUT_DEPTH",
    "OFFICIAL_GATE",
    "OFFICIAL_RULE",
    "BinarizeRule",
    "Binarized",
    "GateOptions",
    "OutputLimits",
    "TreeScan",
    "Validation",
    "binarize",
    "judge_geometry",
    "max_file_bytes",
    "save_mask",
    "scan_output_tree",
    "validate_prediction",
]

MAX_BYTES_PER_VOXEL = 8
"""The size cap: a header may declare at most 8 bytes per voxel of the case (float64)."""
FILE_SLACK_BYTES = 16 * 1024 * 1024
"""What a prediction file may hold beyond its voxels' cap: header, extensions, TIFF pages."""


def max_file_bytes(grid: Grid) -> int:
    """The most bytes a prediction file for a case on ``grid`` may hold before it is read.

    ``MAX_BYTES_PER_VOXEL`` per voxel of the case plus ``FILE_SLACK_BYTES``: the file is refused
    from its size alone, before a byte is read, so reading it is bounded in bytes and time.

    Examples
    --------
    >>> max_file_bytes(Grid((2, 2, 2)))
    16777280
    """
    return MAX_BYTES_PER_VOXEL * int(np.prod(grid.shape, dtype=np.int64)) + FILE_SLACK_BYTES


class BinarizeRule(BaseModel):
    """How a prediction's voxel values become a 0/1 mask.

    Attributes
    ----------
    threshold : float or None
        None (the default, as the official SELMA3D evaluators): foreground is ``value > 0``.
        A number ``t``: foreground is ``value >= t`` (e.g. 0.5 for probabilities).

    Examples
    --------
    >>> BinarizeRule().describe(), BinarizeRule(threshold=0.5).describe()
    ('> 0', '>= 0.5')
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float | None = Field(
        None, description="Foreground is value >= threshold; none means value > 0 (official)."
    )

    @field_validator("threshold")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError(f"threshold must be a finite number, got {value}")
        return value

    def describe(self) -> str:
        """The rule as a comparison: ``> 0`` or ``>= t``."""
        return "> 0" if self.threshold is None else f">= {self.threshold:g}"

    def apply(self, array: np.ndarray) -> np.ndarray:
        """The 0/1 uint8 mask of ``array`` under the rule (``array`` already checked finite)."""
        fg = array > 0 if self.threshold is None else array >= self.threshold
        return fg.view(np.uint8)


class GateOptions(BaseModel):
    """Everything the prediction gate can be told; the defaults are the official evaluator's.

    Attributes
    ----------
    binarize : BinarizeRule
        How voxel values become foreground (``> 0`` by default).
    geometry : {"voxel", "strict"}
        ``voxel`` (default): shapes must match and the voxel grids are compared index by index;
        differing spacing, origin or direction is scored with a warning. ``strict``: they make
        the prediction ``invalid_output``. A file that carries no geometry of its own (see
        :class:`harness.split.volume.VolumeHeader`) is on the input's grid in both modes.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    binarize: BinarizeRule = BinarizeRule()
    geometry: Literal["voxel", "strict"] = "voxel"


OFFICIAL_RULE = BinarizeRule()
"""Foreground is ``value > 0``, as in the official SELMA3D evaluators."""
OFFICIAL_GATE = GateOptions()
"""The gate's defaults: the official rule, geometry judged on the voxel grid."""


MAX_OUTPUT_DEPTH = 64
"""Folders ``/output`` may nest: a deeper entry is a problem of :func:`scan_output_tree`."""


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
    is neither a regular file nor a folder (device, FIFO, socket), an entry more than
    :data:`MAX_OUTPUT_DEPTH` folders deep, or exceeding ``limits``.
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
    stack = [(Path(root), 0)]
    while stack:
        folder, depth = stack.pop()
        with os.scandir(folder) as it:
            items = sorted(it, key=lambda e: e.name)
        if items and depth >= MAX_OUTPUT_DEPTH:
            # Deeper, a path outgrows the system's limit: refused before any is too long.
            parts = folder.relative_to(root).parts
            shown = "/".join(["/output", *parts[:3], "...", *parts[-2:]])
            return TreeScan(
                total,
                entries,
                f"{shown} lies {depth} folders deep and holds more; /output may nest folders "
                f"at most {MAX_OUTPUT_DEPTH} deep",
            )
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
                stack.append((Path(entry.path), depth + 1))
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
    """Outcome of passing one prediction file through the gate.

    Attributes
    ----------
    status : {"ok", "invalid_output"}
    reason : str
        Empty when ok; otherwise what was found and what was expected.
    mask : (Z, Y, X) ndarray of uint8 or None
        The binarized mask (0/1) when ok.
    warnings : tuple of str
        What was scored but is worth knowing (non-binary values, differing geometry); each
        names the file and the field.
    """

    status: str
    reason: str = ""
    mask: np.ndarray | None = None
    warnings: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        """The reason, or the warnings (``warning: ...; warning: ...``), for a per-case record."""
        return self.reason or "; ".join(f"warning: {w}" for w in self.warnings)


@dataclass(frozen=True, eq=False)
class Binarized:
    """A binarized prediction: the mask, or the problem that refuses it, and a warning."""

    mask: np.ndarray | None
    problem: str = ""
    warning: str = ""


def binarize(array: np.ndarray, *, rule: BinarizeRule = OFFICIAL_RULE) -> Binarized:
    """Turn a prediction into a 0/1 mask under ``rule``, or explain why it cannot be scored.

    Any real-valued array is scored: masks, label masks, probabilities, logits. NaN and infinite
    values are refused (no rule can place them), as are complex and non-numeric data. A
    non-binary array (values other than 0 and 1) gets a warning saying what the rule made of it.

    Parameters
    ----------
    array : (Z, Y, X) ndarray
    rule : BinarizeRule, keyword-only
        ``> 0`` by default.

    Returns
    -------
    Binarized
        ``mask`` (uint8, 0/1) or None with ``problem``; ``warning`` empty for binary input.

    Examples
    --------
    >>> b = binarize(np.array([[[0, 3, 7]]], dtype=np.int16)); b.mask.tolist()
    [[[0, 1, 1]]]
    >>> b.warning
    'integer output (values 0 to 7): 66.7% of voxels became foreground under the rule > 0'
    >>> binarize(np.array([[[0.2, 0.5, 0.9]]]), rule=BinarizeRule(threshold=0.5)).mask.tolist()
    [[[0, 1, 1]]]
    >>> binarize(np.array([[[np.nan, 0.0, 1.0]]])).problem
    '1 NaN and 0 infinite value(s); no binarization rule can place them'
    """
    a = np.asarray(array)
    if a.dtype == bool:
        return Binarized(a.view(np.uint8))
    if a.dtype.kind not in "iuf":
        return Binarized(None, f"data type {a.dtype} is neither an integer nor a float")
    if a.dtype.kind == "f":
        finite = np.isfinite(a)
        if not finite.all():
            n_nan = int(np.isnan(a).sum())
            n_inf = int(a.size - int(finite.sum()) - n_nan)
            return Binarized(
                None,
                f"{n_nan} NaN and {n_inf} infinite value(s); no binarization rule can place them",
            )
        del finite
    mask = rule.apply(a)
    if not a.size:
        return Binarized(mask)
    lo, hi = a.min(), a.max()
    binary = lo >= 0 and hi <= 1 and (a.dtype.kind != "f" or bool(((a == 0) | (a == 1)).all()))
    if binary:
        return Binarized(mask)
    kind = "float" if a.dtype.kind == "f" else "integer"
    share = 100.0 * float(np.count_nonzero(mask)) / a.size
    return Binarized(
        mask,
        warning=(
            f"{kind} output (values {float(lo):g} to {float(hi):g}): {share:.3g}% of voxels "
            f"became foreground under the rule {rule.describe()}"
        ),
    )


def judge_geometry(
    theirs: Grid | None, grid: Grid, *, mode: Literal["voxel", "strict"] = "voxel"
) -> tuple[str, tuple[str, ...]]:
    """Compare a prediction's own geometry with the input's grid (shapes already equal).

    Spacing, origin and direction are compared with the tolerances of
    :meth:`harness.split.volume.Grid.mismatch` (headers store float32).

    Parameters
    ----------
    theirs : Grid or None
        The prediction's header geometry; None when it carries none (then nothing differs).
    grid : Grid
        The input image's grid.
    mode : {"voxel", "strict"}, keyword-only

    Returns
    -------
    problem : str
        Non-empty only in strict mode when a field differs.
    warnings : tuple of str
        In voxel mode, one per differing field.

    Examples
    --------
    >>> g = Grid((1, 2, 3))
    >>> judge_geometry(Grid((1, 2, 3), spacing=(2.0, 1.0, 1.0)), g)
    ('', ('spacing is (2.0, 1.0, 1.0), expected (1.0, 1.0, 1.0) (scored on the voxel grid)',))
    """
    if theirs is None:
        return "", ()
    differences = []
    for name in ("spacing", "origin", "direction"):
        got, want = getattr(theirs, name), getattr(grid, name)
        if not np.allclose(got, want, rtol=1e-4, atol=1e-4):
            shown = tuple(round(float(v), 6) for v in got)
            expected = tuple(round(float(v), 6) for v in want)
            differences.append(f"{name} is {shown}, expected {expected}")
    if not differences:
        return "", ()
    if mode == "strict":
        return "; ".join(differences) + " (the input's grid; the round sets geometry: strict)", ()
    return "", tuple(f"{d} (scored on the voxel grid)" for d in differences)


def validate_prediction(
    path: Path, grid: Grid, *, options: GateOptions = OFFICIAL_GATE
) -> Validation:
    """Pass one prediction file through the gate: check it, then binarize it.

    In order, each stage only if the previous one passed: the path itself with ``lstat`` (a
    regular file with one link; a link is never followed); its size (at most
    :func:`max_file_bytes`); the header alone, read from the file's own bytes by the rules of
    :mod:`harness.split.formats` (a MetaImage's data must be ``LOCAL``; 3D, a numeric
    voxel type, at most ``MAX_BYTES_PER_VOXEL`` bytes per voxel of the case, the case's shape),
    so a header that claims terabytes is refused without allocating; the geometry
    (:func:`judge_geometry`); the voxels (:func:`binarize`).

    Parameters
    ----------
    path : Path
        The file.
    grid : Grid
        The grid of the case's input image.
    options : GateOptions, keyword-only
        Binarization rule and geometry mode; the official defaults unless a round sets them.

    Returns
    -------
    Validation
        ``ok`` with the mask (and warnings), or ``invalid_output`` with the reason.
    """
    path = Path(path)
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
    if stat.S_ISDIR(st.st_mode):
        return Validation("invalid_output", f"{name} is a folder, not a prediction file")
    if not stat.S_ISREG(st.st_mode):
        return Validation(
            "invalid_output",
            f"{name} is not a regular file (mode {stat.filemode(st.st_mode)})",
        )
    if st.st_nlink > 1:
        return Validation(
            "invalid_output", f"{name} is a hard link ({st.st_nlink} links); links are not accepted"
        )
    file_cap = max_file_bytes(grid)
    try:
        volume_format(path)
        header = read_header(path, untrusted=True, max_bytes=file_cap)
    except VolumeError as exc:
        return Validation("invalid_output", f"{name} is unreadable: {exc}")
    problem = _header_problem(header, grid)
    if problem:
        return Validation("invalid_output", f"{name}: {problem}")
    geometry_problem, geometry_warnings = judge_geometry(header.grid, grid, mode=options.geometry)
    if geometry_problem:
        return Validation("invalid_output", f"{name}: {geometry_problem}")
    try:
        volume = read_volume(path, untrusted=True, max_bytes=file_cap)
    except VolumeError as exc:
        return Validation("invalid_output", f"{name} is unreadable: {exc}")
    if tuple(volume.array.shape) != tuple(grid.shape):
        # The header said otherwise: a file that lies about itself is not scored.
        return Validation(
            "invalid_output",
            f"{name}: holds shape {tuple(volume.array.shape)} although its header declares "
            f"{tuple(header.shape)}",
        )
    result = binarize(volume.array, rule=options.binarize)
    del volume
    if result.mask is None:
        return Validation("invalid_output", f"{name}: {result.problem}")
    warnings = tuple(f"{name}: {w}" for w in (*geometry_warnings, result.warning) if w)
    return Validation("ok", "", result.mask, warnings)


def _header_problem(header: VolumeHeader, grid: Grid) -> str:
    """What is wrong with a header for this case, judged before any voxel is read."""
    shape = tuple(header.shape)
    dtype = header.dtype
    if len(shape) != 3:
        return f"expected a 3D volume (z, y, x), the header declares shape {shape}"
    if dtype is None or dtype.kind not in "biuf":
        return (
            f"voxel type {header.pixel_type} is not a real number "
            "(expected an integer, float or boolean mask)"
        )
    cap = MAX_BYTES_PER_VOXEL * int(np.prod(grid.shape, dtype=np.int64))
    declared = header.voxels * dtype.itemsize
    if declared > cap:
        return (
            f"the header declares shape (z, y, x) {shape} of {dtype} ({declared:,} bytes), over "
            f"the cap of {cap:,} bytes ({MAX_BYTES_PER_VOXEL} per voxel of the input's "
            f"{tuple(grid.shape)}); expected {tuple(grid.shape)} (the input's)"
        )
    if shape != tuple(grid.shape):
        return f"shape (z, y, x) is {shape}, expected {tuple(grid.shape)} (the input's)"
    return ""


def save_mask(mask: np.ndarray, grid: Grid, dest: Path) -> Path:
    """Write a 0/1 mask as uint8 NIfTI on ``grid``, atomically (``common.files``).

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
