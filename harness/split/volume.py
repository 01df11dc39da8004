"""Read and write 3D volumes as NIfTI, TIFF and MetaImage, keeping the voxel grid.

Conventions
-----------
- Arrays are indexed ``[z, y, x]`` (x varies fastest), as SimpleITK returns them. NIfTI data,
  which nibabel gives as ``[i, j, k]``, are transposed to match.
- ``Grid.spacing`` follows the array axes: ``(z, y, x)``, in the file's units (often micrometres,
  often unknown for released light-sheet patches).
- ``Grid.origin`` and ``Grid.direction`` are physical, in ITK's LPS convention and order:
  ``origin = (x, y, z)`` and ``direction`` is the row-major 3x3 matrix whose columns are the
  directions of the index axes (i, j, k). NIfTI's RAS affines are converted on read and write.
- TIFF stores no origin or orientation: they read as zero and identity. Spacing uses the ImageJ
  convention (``spacing`` for z, resolution tags for y and x).

Its length (over 500 lines) is three formats' readers and writers, sharing one grid
convention, each header read before its voxels.
"""

from __future__ import annotations

import errno
import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from common.errors import WriteError
from harness.errors import VolumeError
from harness.split import formats

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "Grid",
    "Volume",
    "VolumeHeader",
    "read_header",
    "read_volume",
    "strip_extension",
    "volume_format",
    "write_volume",
]

SUPPORTED_EXTENSIONS: tuple[str, ...] = (".nii.gz", ".nii", ".tiff", ".tif", ".mha")
_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
# ITK's LPS and NIfTI's RAS differ by the sign of the first two physical axes.
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])


@dataclass(frozen=True)
class Grid:
    """The voxel grid of a volume: where each voxel lies in space.

    Attributes
    ----------
    shape : tuple of int
        ``(z, y, x)``.
    spacing : tuple of float
        Voxel size along ``(z, y, x)``.
    origin : tuple of float
        Physical position of voxel ``[0, 0, 0]``, ``(x, y, z)`` in LPS.
    direction : tuple of float
        Row-major 3x3 direction cosines (ITK convention), 9 values.
    """

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, ...] = _IDENTITY

    def __post_init__(self) -> None:
        if len(self.shape) != 3:
            raise ValueError(f"Grid.shape must have 3 values (z, y, x). Got {self.shape}.")
        if len(self.spacing) != 3 or any(not s > 0 for s in self.spacing):
            raise ValueError(f"Grid.spacing must be 3 positive values. Got {self.spacing}.")
        if len(self.origin) != 3:
            raise ValueError(f"Grid.origin must have 3 values. Got {self.origin}.")
        if len(self.direction) != 9:
            raise ValueError(f"Grid.direction must have 9 values. Got {self.direction}.")

    def mismatch(self, other: Grid, *, rtol: float = 1e-4, atol: float = 1e-4) -> str | None:
        """Describe how ``other`` differs from this grid, or return None if they match.

        Shapes must be equal; spacing, origin and direction are compared with tolerances because
        headers store them as float32.

        Examples
        --------
        >>> Grid((2, 3, 4)).mismatch(Grid((2, 3, 4), spacing=(1.0, 1.0, 1.00001))) is None
        True
        >>> Grid((2, 3, 4)).mismatch(Grid((2, 3, 5)))
        'shape (z, y, x) is (2, 3, 5), expected (2, 3, 4)'
        """
        if tuple(other.shape) != tuple(self.shape):
            return f"shape (z, y, x) is {tuple(other.shape)}, expected {tuple(self.shape)}"
        for name in ("spacing", "origin", "direction"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if not np.allclose(theirs, mine, rtol=rtol, atol=atol):
                got = tuple(round(float(v), 6) for v in theirs)
                want = tuple(round(float(v), 6) for v in mine)
                return f"{name} is {got}, expected {want}"
        return None


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3D array with its grid.

    Attributes
    ----------
    array : (Z, Y, X) ndarray
        Voxel values, in the file's dtype.
    grid : Grid
        Where the voxels lie; ``grid.shape == array.shape``.
    """

    array: np.ndarray
    grid: Grid

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValueError(f"Volume.array must be 3D (z, y, x). Got shape {self.array.shape}.")
        if tuple(self.array.shape) != tuple(self.grid.shape):
            raise ValueError(
                f"Volume.array shape {self.array.shape} differs from grid shape {self.grid.shape}."
            )


def volume_format(path: str | Path) -> str:
    """Return the format of ``path`` from its extension: ``"nifti"``, ``"tiff"`` or ``"mha"``.

    Examples
    --------
    >>> volume_format("case_001.nii.gz")
    'nifti'
    >>> volume_format("x/pred.TIF")
    'tiff'
    """
    name = Path(path).name.lower()
    if name.endswith((".nii.gz", ".nii")):
        return "nifti"
    if name.endswith((".tif", ".tiff")):
        return "tiff"
    if name.endswith(".mha"):
        return "mha"
    raise VolumeError(
        f"{path}: unknown volume format; expected one of {', '.join(SUPPORTED_EXTENSIONS)}."
    )


def strip_extension(name: str) -> str:
    """Return a file name without its volume extension (``a.nii.gz`` -> ``a``).

    Examples
    --------
    >>> strip_extension("case_7.nii.gz")
    'case_7'
    >>> strip_extension("notes.txt")
    'notes.txt'
    """
    lower = name.lower()
    for ext in SUPPORTED_EXTENSIONS:
        if lower.endswith(ext):
            return name[: -len(ext)]
    return name


@dataclass(frozen=True)
class VolumeHeader:
    """What a volume file's header declares, read without touching its voxels.

    Attributes
    ----------
    shape : tuple of int
        The declared array shape, ``(z, y, x)`` for a 3D volume (NIfTI's trailing singleton axes
        dropped, TIFF's singleton axes squeezed), possibly with more or fewer axes.
    dtype : numpy.dtype or None
        The voxel type; None when the format's type has no numpy equivalent (the description is
        in ``pixel_type``).
    pixel_type : str
        The voxel type as the file names it (``uint8``, ``vector of 32-bit float``, ...).
    grid : Grid or None
        Spacing, origin and direction when the file carries its own geometry; None for TIFF
        (no origin or orientation), a NIfTI without qform or sform, and a header that stores
        exactly the defaults (unit spacing, zero origin, identity), which is what writers such
        as ``SimpleITK.GetImageFromArray`` leave when no geometry was given.
    """

    shape: tuple[int, ...]
    dtype: np.dtype | None
    pixel_type: str
    grid: Grid | None

    @property
    def voxels(self) -> int:
        """Number of voxels the header declares (Python int: never overflows)."""
        n = 1
        for s in self.shape:
            n *= int(s)
        return n


def read_header(
    path: str | Path, *, untrusted: bool = False, max_bytes: int | None = None
) -> VolumeHeader:
    """Read a volume's header only: shape, voxel type and geometry, never the voxels.

    A header may declare any size; nothing here allocates for it, so a file whose header claims
    terabytes costs only its header's bytes. The file is opened and checked by the rules of
    :mod:`harness.split.formats` (a regular file only, its own bytes only).

    Parameters
    ----------
    path : str or Path
    untrusted : bool, keyword-only
        A participant's file: a symbolic link is refused, never followed.
    max_bytes : int or None, keyword-only
        Refuse a larger file before reading it.

    Raises
    ------
    VolumeError
        If the file is missing, not a regular file, of an unknown format, or its header is
        unreadable or refused; the message names the file.

    Examples
    --------
    >>> import tempfile
    >>> p = write_volume(Path(tempfile.mkdtemp()) / "a.nii.gz", np.zeros((2, 3, 4), np.int16))
    >>> h = read_header(p); h.shape, str(h.dtype), h.grid
    ((2, 3, 4), 'int16', None)
    """
    path = Path(path)
    fmt = volume_format(path)
    try:
        with formats.open_regular(path, follow_links=not untrusted, max_bytes=max_bytes) as (
            handle,
            size,
        ):
            if fmt == "nifti":
                stream = formats.open_nifti_stream(handle, gz=path.name.lower().endswith(".gz"))
                return _nifti_volume_header(formats.parse_nifti_header(stream))
            if fmt == "mha":
                return _mha_volume_header(formats.parse_mha_header(handle, size))
            return _header_tiff(handle, size)
    except VolumeError as exc:
        raise _named(exc, path) from exc
    # The same families of errors as read_volume: all mean "this header cannot be read".
    except (OSError, EOFError, ValueError, RuntimeError, zlib.error, gzip.BadGzipFile) as exc:
        raise VolumeError(f"{path}: cannot read the {fmt} header: {exc}") from exc


def _named(exc: VolumeError, path: Path) -> VolumeError:
    """``exc`` with the file's path in front, once."""
    text = str(exc)
    return exc if text.startswith(str(path)) else VolumeError(f"{path}: {text}")


def _own_geometry(grid: Grid) -> Grid | None:
    """``grid``, or None when it holds exactly the defaults a writer leaves without geometry."""
    default = Grid(grid.shape)
    if (
        tuple(grid.spacing) == default.spacing
        and tuple(grid.origin) == default.origin
        and tuple(grid.direction) == default.direction
    ):
        return None
    return grid


def _nifti_volume_header(nifti: formats.NiftiHeader) -> VolumeHeader:
    shape = nifti.shape
    header = nifti.header
    has_geometry = int(header["qform_code"]) > 0 or int(header["sform_code"]) > 0  # type: ignore[index]
    grid = None
    if len(shape) == 3 and has_geometry:
        grid = _own_geometry(_nifti_grid(header, tuple(reversed(shape))))
    dtype = None if nifti.dtype is None else nifti.dtype.newbyteorder("=")
    if dtype is not None and (nifti.slope, nifti.inter) != (1.0, 0.0):
        dtype = np.dtype(np.float64)  # scaled voxels are read as float64
    return VolumeHeader(
        shape=tuple(reversed(shape)) if len(shape) == 3 else shape,
        dtype=dtype,
        pixel_type=nifti.pixel_type,
        grid=grid,
    )


def _header_tiff(handle: BinaryIO, size: int) -> VolumeHeader:
    with _tiff_file(handle, size) as tif:
        if not tif.series:
            raise VolumeError("the TIFF holds no image series.")
        series = tif.series[0]
        shape = tuple(int(s) for s in series.shape)
        dtype = np.dtype(series.dtype)
    if len(shape) > 3:
        shape = tuple(s for s in shape if s != 1)
    return VolumeHeader(shape=shape, dtype=dtype, pixel_type=str(dtype), grid=None)


def _tiff_file(handle: BinaryIO, size: int) -> object:
    # Each format's reader is loaded when a file of that format is met.
    import tifffile

    formats.check_tiff_chain(handle, size)
    # Multi-file series (OME, micro-manager) would open other files named inside this one.
    return tifffile.TiffFile(handle, _multifile=False, is_ome=False)


def _mha_grid(meta: formats.MetaHeader) -> Grid:
    sx, sy, sz = meta.spacing
    return Grid(
        shape=meta.shape,  # type: ignore[arg-type]
        spacing=(float(sz), float(sy), float(sx)),
        origin=tuple(float(v) for v in meta.origin),  # type: ignore[arg-type]
        direction=meta.direction,
    )


def _mha_volume_header(meta: formats.MetaHeader) -> VolumeHeader:
    grid = _own_geometry(_mha_grid(meta)) if len(meta.shape) == 3 else None
    return VolumeHeader(
        shape=meta.shape,
        dtype=None if meta.dtype is None else meta.dtype.newbyteorder("="),
        pixel_type=meta.pixel_type,
        grid=grid,
    )


def read_volume(
    path: str | Path, *, untrusted: bool = False, max_bytes: int | None = None
) -> Volume:
    """Read a 3D volume and its grid, from the file's own bytes (:mod:`harness.split.formats`).

    Parameters
    ----------
    path : str or Path
        A ``.nii``, ``.nii.gz``, ``.tif``, ``.tiff`` or ``.mha`` file.
    untrusted : bool, keyword-only
        A participant's file: a symbolic link is refused, never followed.
    max_bytes : int or None, keyword-only
        Refuse a larger file before reading it.

    Returns
    -------
    Volume
        The array ``(Z, Y, X)`` in the stored dtype (float64 for scaled NIfTI), and its grid.

    Raises
    ------
    VolumeError
        If the file is missing, not a regular file, unreadable, truncated, of an unknown format,
        refused by a rule of :mod:`harness.split.formats`, or not 3D. The message names the file
        and what was wrong.
    """
    path = Path(path)
    fmt = volume_format(path)
    try:
        with formats.open_regular(path, follow_links=not untrusted, max_bytes=max_bytes) as (
            handle,
            size,
        ):
            reader = {"nifti": _read_nifti, "tiff": _read_tiff, "mha": _read_mha}[fmt]
            array, grid = reader(path, handle, size)
    except VolumeError as exc:
        raise _named(exc, path) from exc
    # Each reader library raises its own family of errors on corrupt input; all of them mean
    # "this file cannot be read", which is what the caller needs to hear, with the file's name.
    except (OSError, EOFError, ValueError, RuntimeError, zlib.error, gzip.BadGzipFile) as exc:
        raise VolumeError(f"{path}: cannot read as {fmt}: {exc}") from exc
    return Volume(array=array, grid=grid)


def write_volume(path: str | Path, array: np.ndarray, grid: Grid | None = None) -> Path:
    """Write a 3D array with its grid; the format follows the extension.

    Parameters
    ----------
    path : str or Path
        Destination; parent folders must exist.
    array : (Z, Y, X) ndarray
        Voxel values; bool arrays are written as uint8.
    grid : Grid, optional
        Defaults to unit spacing, zero origin and identity direction.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    common.errors.WriteError
        The file could not be written (a full disk, a read-only folder), naming it.
    """
    path = Path(path)
    fmt = volume_format(path)
    array = np.asarray(array)
    if array.ndim != 3:
        raise VolumeError(f"{path}: can only write 3D arrays (z, y, x); got shape {array.shape}.")
    if array.dtype == bool:
        array = array.astype(np.uint8)
    grid = grid if grid is not None else Grid(tuple(int(s) for s in array.shape))
    if tuple(grid.shape) != tuple(array.shape):
        raise VolumeError(f"{path}: array shape {array.shape} differs from grid {grid.shape}.")
    try:
        {"nifti": _write_nifti, "tiff": _write_tiff, "mha": _write_mha}[fmt](path, array, grid)
    except OSError as exc:
        raise _write_error(path, exc.errno, exc.strerror or str(exc)) from exc
    except RuntimeError as exc:
        # SimpleITK reports a failed write (a full disk, a read-only folder) as a RuntimeError
        # whose text ends with the reason.
        text = str(exc)
        if "cannot be written" not in text:
            raise
        reason = text.rpartition("Reason:")[2].strip() or "the writer failed"
        code = next((e for e in errno.errorcode if os.strerror(e) == reason), None)
        raise _write_error(path, code, reason) from exc
    return path


def _write_error(path: Path, code: int | None, reason: str) -> WriteError:
    """The error of a failed write, with its errno: an atomic writer around it names its file."""
    error = WriteError(f"{path}: could not be written ({reason})")
    error.errno, error.strerror = code, reason
    return error


def _read_nifti(path: Path, handle: BinaryIO, size: int) -> tuple[np.ndarray, Grid]:
    stream = formats.open_nifti_stream(handle, gz=path.name.lower().endswith(".gz"))
    nifti = formats.parse_nifti_header(stream)
    if len(nifti.shape) != 3:
        raise VolumeError(f"expected a 3D volume, got shape {nifti.shape}.")
    array = formats.decode_nifti(stream, nifti)
    return array, _nifti_grid(nifti.header, tuple(int(s) for s in array.shape))


def _nifti_grid(header: object, shape: tuple[int, ...]) -> Grid:
    """The grid of a nibabel header (``shape`` is ``(z, y, x)``); refused when not finite."""
    # Each format's reader is loaded when a file of that format is met.
    from nibabel.spatialimages import HeaderDataError

    try:
        affine = header.get_best_affine()  # type: ignore[attr-defined]
        zooms = [float(z) for z in header.get_zooms()[:3]]  # type: ignore[attr-defined]
    except HeaderDataError as exc:
        raise VolumeError(f"the NIfTI geometry cannot be read: {exc}") from exc
    if not np.isfinite(affine).all():
        raise VolumeError("the NIfTI geometry (qform or sform, pixdim) is not finite.")
    if any(not z > 0 for z in zooms):
        zooms = [1.0, 1.0, 1.0]
    rot = _RAS_TO_LPS @ affine[:3, :3] / np.asarray(zooms)[None, :]
    origin = _RAS_TO_LPS @ affine[:3, 3]
    return Grid(
        shape=shape,  # type: ignore[arg-type]
        spacing=(zooms[2], zooms[1], zooms[0]),
        origin=tuple(float(v) for v in origin),
        direction=tuple(float(v) for v in rot.reshape(-1)),
    )


def _write_nifti(path: Path, array: np.ndarray, grid: Grid) -> None:
    # Each format's reader is loaded when a file of that format is met.
    import nibabel as nib

    sx, sy, sz = grid.spacing[2], grid.spacing[1], grid.spacing[0]
    affine = np.eye(4)
    rot_lps = np.asarray(grid.direction, dtype=float).reshape(3, 3)
    affine[:3, :3] = _RAS_TO_LPS @ rot_lps * np.asarray([sx, sy, sz])[None, :]
    affine[:3, 3] = _RAS_TO_LPS @ np.asarray(grid.origin, dtype=float)
    img = nib.Nifti1Image(np.ascontiguousarray(array.transpose(2, 1, 0)), affine)
    img.header.set_zooms((sx, sy, sz))
    img.header.set_xyzt_units("unknown")
    nib.save(img, str(path))


def _read_tiff(path: Path, handle: BinaryIO, size: int) -> tuple[np.ndarray, Grid]:
    with _tiff_file(handle, size) as tif:
        array = tif.asarray()
        squeezed = np.squeeze(array) if array.ndim > 3 else array
        if squeezed.ndim != 3:
            raise VolumeError(f"expected a 3D volume, got shape {array.shape}.")
        sz = float((tif.imagej_metadata or {}).get("spacing", 1.0))
        page = tif.pages[0]
        sy = _tiff_pixel_size(page, "YResolution")
        sx = _tiff_pixel_size(page, "XResolution")
    grid = Grid(shape=tuple(int(s) for s in squeezed.shape), spacing=(sz, sy, sx))
    return np.ascontiguousarray(squeezed), grid


def _tiff_pixel_size(page: object, tag_name: str) -> float:
    tag = page.tags.get(tag_name)  # type: ignore[attr-defined]
    if tag is None:
        return 1.0
    num, den = tag.value
    return float(den) / float(num) if num else 1.0


def _write_tiff(path: Path, array: np.ndarray, grid: Grid) -> None:
    # Each format's reader is loaded when a file of that format is met.
    import tifffile

    sz, sy, sx = grid.spacing
    tifffile.imwrite(
        str(path),
        array,
        imagej=array.dtype in (np.uint8, np.uint16, np.float32),
        resolution=(1.0 / sx, 1.0 / sy),
        metadata={"spacing": sz, "axes": "ZYX"},
        compression="zlib" if array.dtype != np.float32 else None,
    )


def _read_mha(path: Path, handle: BinaryIO, size: int) -> tuple[np.ndarray, Grid]:
    meta = formats.parse_mha_header(handle, size)
    if len(meta.shape) != 3 or meta.channels != 1:
        raise VolumeError(
            f"expected a 3D single-component volume, got {len(meta.shape)}D with "
            f"{meta.channels} component(s)."
        )
    return formats.decode_mha(handle, meta), _mha_grid(meta)


def _write_mha(path: Path, array: np.ndarray, grid: Grid) -> None:
    # Each format's reader is loaded when a file of that format is met.
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(array)
    img.SetSpacing((grid.spacing[2], grid.spacing[1], grid.spacing[0]))
    img.SetOrigin(grid.origin)
    img.SetDirection(grid.direction)
    sitk.WriteImage(img, str(path), useCompression=True)
