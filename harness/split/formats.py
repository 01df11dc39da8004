"""The bytes of one volume file, and nothing else: the readers behind :mod:`harness.split.volume`.

Every volume selma3d reads (a participant's prediction, an organizer's image or label) is opened
here, and each rule below holds for all of them:

- Only a regular file is opened. ``lstat`` first; then ``open`` with ``O_NONBLOCK`` (a FIFO or a
  device cannot block the reader) and, for an untrusted file, ``O_NOFOLLOW``; then ``fstat`` on
  the open descriptor, so what is read is what was checked.
- A file is read from its own bytes only. A MetaImage must carry its voxels itself
  (``ElementDataFile = LOCAL``): any other data file (a path, ``LIST``, a pattern, a device) is
  refused, as are ``HeaderSize`` (which makes a reader seek elsewhere) and a
  ``CompressedDataSize`` that differs from the bytes that follow the header. A TIFF is read with
  tifffile's multi-file series (OME, micro-manager) turned off; a NIfTI must be one file
  (magic ``n+1`` or ``n+2``): ``ni1`` names a separate ``.img``.
- The header is judged before any voxel: NIfTI ``sizeof_hdr`` (348, or 540 for NIfTI-2),
  ``dim[0]`` in 1..7, positive dimensions, a known real voxel type, ``vox_offset`` past the
  header (0 means right after it) and at most :data:`MAX_VOX_OFFSET`, extension blocks
  inside ``vox_offset``, finite
  ``scl_slope``/``scl_inter`` (a slope of 0 or NaN means unscaled, as the NIfTI standard and
  nibabel say); MetaImage text of at most :data:`MAX_MHA_HEADER` bytes; a TIFF page chain that
  ends (a loop is refused) within :data:`MAX_TIFF_PAGES` pages.
- Decompression stops at the size the header declares: a zlib or gzip stream that holds more is
  refused after one byte past the declared size, so memory never exceeds the declared voxels.
- The extension names the format; a file of another format under that name is refused (a TIFF
  named ``.mha`` is not a MetaImage).

Its length (about 650 lines) is three file formats' headers (NIfTI-1/2, MetaImage, TIFF) read
by hand, each with the checks that keep a hostile header from reading outside the file.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import os
import stat
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from harness.errors import VolumeError

__all__ = [
    "MAX_MHA_HEADER",
    "MAX_TIFF_PAGES",
    "MAX_VOX_OFFSET",
    "MetaHeader",
    "NiftiHeader",
    "check_tiff_chain",
    "decode_mha",
    "decode_nifti",
    "open_nifti_stream",
    "open_regular",
    "parse_mha_header",
    "parse_nifti_header",
]

MAX_MHA_HEADER = 64 * 1024
"""Bytes of text a MetaImage header may take before ``ElementDataFile``."""
MAX_VOX_OFFSET = 64 * 1024 * 1024
"""Largest NIfTI ``vox_offset`` (header plus extensions) read."""
MAX_TIFF_PAGES = 1 << 16
"""Longest TIFF page chain followed."""


@contextlib.contextmanager
def open_regular(
    path: Path, *, follow_links: bool = True, max_bytes: int | None = None
) -> Iterator[tuple[BinaryIO, int]]:
    """Open ``path`` for reading only if it is a regular file; yield the file and its size.

    Parameters
    ----------
    path : Path
    follow_links : bool, keyword-only
        False for an untrusted file: a symbolic link is refused, never followed.
    max_bytes : int or None, keyword-only
        Refuse a file larger than this before reading any of it.

    Raises
    ------
    VolumeError
        Missing, a link (when not followed), not a regular file (FIFO, device, socket, folder),
        over ``max_bytes``, or unreadable.
    """
    try:
        st = os.stat(path) if follow_links else os.lstat(path)
    except FileNotFoundError as exc:
        raise VolumeError(f"{path}: no such file.") from exc
    except OSError as exc:
        raise VolumeError(f"{path}: cannot be read ({exc.strerror}).") from exc
    _require_regular(path, st)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not follow_links:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise VolumeError(f"{path}: cannot be opened ({exc.strerror}).") from exc
    try:
        st = os.fstat(fd)
        _require_regular(path, st)
        if max_bytes is not None and st.st_size > max_bytes:
            raise VolumeError(
                f"{path}: the file holds {st.st_size:,} bytes, over the cap of {max_bytes:,}."
            )
        # The descriptor is non-blocking only so that opening cannot wait; reads of a regular
        # file never do.
        os.set_blocking(fd, True)
        handle = os.fdopen(fd, "rb")
        handle.raw.name = str(path)  # type: ignore[attr-defined]  # readers name the file
    except BaseException:
        os.close(fd)
        raise
    with handle:
        yield handle, st.st_size


def _require_regular(path: Path, st: os.stat_result) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise VolumeError(f"{path}: is a symlink; links are not followed.")
    if not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else f"mode {stat.filemode(st.st_mode)}"
        raise VolumeError(f"{path}: is not a regular file ({kind}).")


_CHUNK = 64 * 1024 * 1024


def _read_exactly(stream: BinaryIO, n: int, *, what: str) -> bytearray:
    """``n`` bytes, then one more must not exist; ``stream`` decompresses lazily, if at all.

    Read in chunks, so memory follows the bytes the file really holds, never what its header
    claims (a header of 32000**3 voxels over an empty stream costs nothing).
    """
    data = bytearray()
    while len(data) < n:
        chunk = stream.read(min(_CHUNK, n - len(data)))
        if not chunk:
            raise VolumeError(f"truncated: {what} needs {n:,} bytes, the file holds {len(data):,}.")
        data += chunk
    if stream.read(1):
        raise VolumeError(
            f"the file holds more than the {n:,} bytes its header declares ({what}); "
            "a file must hold exactly what its header says."
        )
    return data


# NIfTI ---------------------------------------------------------------------------------------

_NIFTI_TYPES: dict[int, str] = {
    2: "u1",
    4: "i2",
    8: "i4",
    16: "f4",
    64: "f8",
    256: "i1",
    512: "u2",
    768: "u4",
    1024: "i8",
    1280: "u8",
}
_NIFTI_OTHER_TYPES: dict[int, str] = {
    1: "binary (1 bit)",
    32: "complex64",
    128: "RGB24",
    1536: "float128",
    1792: "complex128",
    2048: "complex256",
    2304: "RGBA32",
}


@dataclass(frozen=True, eq=False)
class NiftiHeader:
    """The fields of a NIfTI header selma3d uses, checked.

    Attributes
    ----------
    shape : tuple of int
        ``dim[1..dim[0]]`` in file order (x fastest), trailing singleton axes dropped down to 3.
    dtype : numpy.dtype or None
        Stored voxel type with the file's byte order; None when it is not a real number.
    pixel_type : str
    vox_offset : int
    slope, inter : float
        ``scl_slope``, ``scl_inter``; ``slope`` 1.0 and ``inter`` 0.0 when unscaled.
    header : nibabel header
        For the affine and zooms.
    """

    shape: tuple[int, ...]
    dtype: np.dtype | None
    pixel_type: str
    vox_offset: int
    slope: float
    inter: float
    header: object

    @property
    def nbytes(self) -> int:
        """Bytes of voxel data the header declares (Python int)."""
        n = 1 if self.dtype is None else self.dtype.itemsize
        for s in self.shape:
            n *= int(s)
        return n


def open_nifti_stream(handle: BinaryIO, *, gz: bool) -> BinaryIO:
    """The stream of a NIfTI's bytes: ``handle`` itself, or its gzip stream, inflated lazily."""
    return gzip.GzipFile(fileobj=handle, mode="rb") if gz else handle


def parse_nifti_header(stream: BinaryIO) -> NiftiHeader:
    """Read and check a NIfTI-1 or NIfTI-2 header (and its extension blocks) from ``stream``.

    ``stream`` (:func:`open_nifti_stream`) is left at ``vox_offset``: the voxels come next
    (:func:`decode_nifti`).

    Raises
    ------
    VolumeError
        Whatever the module's rules refuse, saying which field and what was expected.
    """
    # nibabel takes about a third of a second to import, and only NIfTI files need it.
    import nibabel as nib

    try:
        first = stream.read(4)
        if len(first) < 4:
            raise VolumeError("truncated: not even a NIfTI header (sizeof_hdr) is there.")
        sizes = {struct.unpack("<i", first)[0]: "<", struct.unpack(">i", first)[0]: ">"}
        if 348 in sizes:
            endian, size, klass, magic = sizes[348], 348, nib.Nifti1Header, b"n+1"
        elif 540 in sizes:
            endian, size, klass, magic = sizes[540], 540, nib.Nifti2Header, b"n+2"
        else:
            raise VolumeError(
                f"sizeof_hdr is {struct.unpack('<i', first)[0]}; a NIfTI header says 348 "
                "(NIfTI-1) or 540 (NIfTI-2)."
            )
        block = first + stream.read(size - 4)
        if len(block) < size:
            raise VolumeError(f"truncated: the NIfTI header needs {size} bytes.")
        header = klass(binaryblock=block, endianness=endian, check=False)
        return _check_nifti(header, stream, size=size, magic=magic, endian=endian)
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise VolumeError(f"cannot read the NIfTI header: {exc}") from exc


def _check_nifti(
    header: object, stream: BinaryIO, *, size: int, magic: bytes, endian: str
) -> NiftiHeader:
    got_magic = bytes(header["magic"]).rstrip(b"\0")  # type: ignore[index]
    if not got_magic.startswith(magic):
        if got_magic[:3] in (b"ni1", b"ni2"):
            raise VolumeError(
                f"magic is {got_magic[:3].decode()!r}: the header names a separate .img data "
                f"file, which is never read; write a single-file NIfTI (magic {magic.decode()!r})."
            )
        raise VolumeError(
            f"magic is {got_magic!r}, expected {magic.decode()!r} for a {size}-byte header "
            f"(sizeof_hdr {size}: NIfTI-{1 if size == 348 else 2})."
        )
    dim = [int(d) for d in header["dim"]]  # type: ignore[index]
    if not 1 <= dim[0] <= 7:
        raise VolumeError(f"dim[0] is {dim[0]}; the number of dimensions must be 1 to 7.")
    shape = tuple(dim[1 : dim[0] + 1])
    if any(s < 1 for s in shape):
        raise VolumeError(f"dim[1..{dim[0]}] is {shape}; every dimension must be at least 1.")
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    code = int(header["datatype"])  # type: ignore[index]
    if code in _NIFTI_TYPES:
        dtype: np.dtype | None = np.dtype(_NIFTI_TYPES[code]).newbyteorder(endian)
        pixel_type = str(np.dtype(_NIFTI_TYPES[code]))
    elif code in _NIFTI_OTHER_TYPES:
        dtype, pixel_type = None, _NIFTI_OTHER_TYPES[code]
    else:
        raise VolumeError(
            f"datatype is {code}, not a NIfTI type code (a real type: "
            f"{', '.join(str(c) for c in sorted(_NIFTI_TYPES))})."
        )
    raw_offset = float(header["vox_offset"])  # type: ignore[index]
    if not math.isfinite(raw_offset) or raw_offset != int(raw_offset):
        raise VolumeError(f"vox_offset is {raw_offset}; expected a whole number of bytes.")
    # 0 is what a header left unset holds; nibabel then reads the voxels right after the header.
    vox_offset = int(raw_offset) or size + 4
    if not size + 4 <= vox_offset <= MAX_VOX_OFFSET:
        raise VolumeError(
            f"vox_offset is {vox_offset}; the voxels of a single-file NIfTI start after the "
            f"header ({size + 4} bytes or more) and at most {MAX_VOX_OFFSET:,} bytes in."
        )
    _check_extensions(stream.read(vox_offset - size), size=size, vox_offset=vox_offset, e=endian)
    slope = float(header["scl_slope"])  # type: ignore[index]
    inter = float(header["scl_inter"])  # type: ignore[index]
    if slope == 0 or math.isnan(slope):
        slope, inter = 1.0, 0.0  # the standard's "no scaling"
    elif not math.isfinite(slope) or not math.isfinite(inter):
        raise VolumeError(
            f"scl_slope is {slope} and scl_inter {inter}; scaling must be finite "
            "(or scl_slope 0 for none)."
        )
    return NiftiHeader(shape, dtype, pixel_type, vox_offset, slope, inter, header)


def _check_extensions(region: bytes, *, size: int, vox_offset: int, e: str) -> None:
    """The 4-byte extender, then blocks of ``esize`` bytes that must end by ``vox_offset``."""
    if len(region) < vox_offset - size:
        raise VolumeError(f"truncated: vox_offset is {vox_offset}, the file ends before.")
    if region[0] == 0:
        return
    pos = 4
    blocks = 0
    while pos + 8 <= len(region):
        esize, ecode = struct.unpack(e + "ii", region[pos : pos + 8])
        if esize < 16 or esize % 16 or pos + esize > len(region):
            raise VolumeError(
                f"an extension block (code {ecode}) at byte {size + pos} claims {esize:,} bytes; "
                f"blocks are multiples of 16 bytes that end by vox_offset ({vox_offset})."
            )
        pos += esize
        blocks += 1
    if not blocks:
        raise VolumeError(
            f"the extension flag is set but vox_offset ({vox_offset}) leaves no room for an "
            "extension block; clear the flag or move vox_offset."
        )


def decode_nifti(stream: BinaryIO, header: NiftiHeader) -> np.ndarray:
    """The voxels after :func:`parse_nifti_header`, as ``(z, y, x)``, scaling applied.

    Scaled values are computed in float64 and must fit float32 (the type NIfTI readers give
    scaled data), so a slope that overflows is refused rather than scored as infinity.
    """
    if header.dtype is None or len(header.shape) != 3:
        raise VolumeError(
            f"expected a 3D volume of real numbers, got {header.pixel_type} "
            f"of shape {header.shape}."
        )
    try:
        raw = _read_exactly(stream, header.nbytes, what="the voxels its dim and datatype declare")
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise VolumeError(f"cannot read the NIfTI voxels: {exc}") from exc
    array = np.frombuffer(raw, dtype=header.dtype).reshape(tuple(reversed(header.shape)))
    array = array.astype(header.dtype.newbyteorder("="), copy=False)
    if (header.slope, header.inter) == (1.0, 0.0):
        return array
    scaled = array.astype(np.float64) * header.slope + header.inter
    limit = float(np.finfo(np.float32).max)
    if scaled.size and not (np.isfinite(scaled).all() and np.abs(scaled).max() <= limit):
        raise VolumeError(
            f"scl_slope {header.slope:g} and scl_inter {header.inter:g} scale the voxels past "
            "float32's range (they would read as infinite)."
        )
    return scaled


# MetaImage -------------------------------------------------------------------------------

_MET_TYPES: dict[str, str] = {
    "MET_CHAR": "i1",
    "MET_UCHAR": "u1",
    "MET_SHORT": "i2",
    "MET_USHORT": "u2",
    "MET_INT": "i4",
    "MET_UINT": "u4",
    "MET_LONG": "i4",
    "MET_ULONG": "u4",
    "MET_LONG_LONG": "i8",
    "MET_ULONG_LONG": "u8",
    "MET_FLOAT": "f4",
    "MET_DOUBLE": "f8",
}
_TRUE = ("true", "t", "1")


@dataclass(frozen=True)
class MetaHeader:
    """A MetaImage header, checked: what it declares and where its voxels are.

    Attributes
    ----------
    shape : tuple of int
        ``DimSize`` reversed: ``(z, y, x)`` for a 3D image.
    dtype : numpy.dtype or None
        With the file's byte order; None for a type that is not a real scalar.
    pixel_type : str
    channels : int
    spacing, origin : tuple of float
        ``ElementSpacing`` (x, y, z order as written) and ``Offset``.
    direction : tuple of float
        ITK's direction, row-major (the transpose of ``TransformMatrix`` as written).
    compressed : bool
    data_offset : int
        Where the voxels start in the file.
    data_size : int
        Bytes from ``data_offset`` to the end of the file.
    """

    shape: tuple[int, ...]
    dtype: np.dtype | None
    pixel_type: str
    channels: int
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]
    compressed: bool
    data_offset: int
    data_size: int

    @property
    def nbytes(self) -> int:
        """Bytes of voxel data the header declares (Python int)."""
        n = self.channels * (1 if self.dtype is None else self.dtype.itemsize)
        for s in self.shape:
            n *= int(s)
        return n


def parse_mha_header(handle: BinaryIO, file_size: int) -> MetaHeader:
    """Read and check a MetaImage (``.mha``) header: text lines up to ``ElementDataFile``.

    Raises
    ------
    VolumeError
        Not a MetaImage header, a data file other than ``LOCAL``, ``HeaderSize``, a
        ``CompressedDataSize`` that lies, or a field that cannot be read.
    """
    prefix = handle.read(MAX_MHA_HEADER)
    fields: dict[str, str] = {}
    pos = 0
    data_offset = None
    while pos < len(prefix):
        end = prefix.find(b"\n", pos)
        if end < 0:
            break
        line = prefix[pos:end].rstrip(b"\r")
        pos = end + 1
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError as exc:
            raise VolumeError(
                "not a MetaImage header (a line of its text is not ASCII); a .mha file starts "
                "with 'Key = Value' lines."
            ) from exc
        if not text.strip():
            continue
        key, eq, value = text.partition("=")
        if not eq:
            raise VolumeError(f"not a MetaImage header (line {text[:40]!r} is not 'Key = Value').")
        fields[key.strip()] = value.strip()
        if key.strip() == "ElementDataFile":
            data_offset = pos
            break
    if data_offset is None:
        raise VolumeError(
            f"no 'ElementDataFile = LOCAL' line in the first {MAX_MHA_HEADER:,} bytes: not a "
            "MetaImage with its voxels inside (a .mha file is a text header, then the voxels)."
        )
    return _check_mha(fields, data_offset, file_size)


def _mha_numbers(fields: dict[str, str], key: str, n: int, default: float) -> tuple[float, ...]:
    if key not in fields:
        return (default,) * n
    try:
        values = tuple(float(v) for v in fields[key].split())
    except ValueError as exc:
        raise VolumeError(f"{key} is {fields[key]!r}; expected {n} numbers.") from exc
    if len(values) != n or not all(math.isfinite(v) for v in values):
        raise VolumeError(f"{key} is {fields[key]!r}; expected {n} finite numbers.")
    return values


def _check_mha(fields: dict[str, str], data_offset: int, file_size: int) -> MetaHeader:
    """Check the fields read up to ``ElementDataFile``; the voxels start at ``data_offset``."""
    _check_mha_source(fields)
    dims, ndims, channels = _mha_grid(fields)
    dtype, pixel_type = _mha_voxel_type(fields, channels)
    spacing = _mha_numbers(fields, "ElementSpacing", ndims, 1.0)
    if any(not s > 0 for s in spacing):
        raise VolumeError(f"ElementSpacing is {spacing}; expected positive numbers.")
    origin_key = next((k for k in ("Offset", "Origin", "Position") if k in fields), "Offset")
    origin = _mha_numbers(fields, origin_key, ndims, 0.0)
    direction = _mha_direction(fields, ndims)
    compressed = fields.get("CompressedData", "False").lower() in _TRUE
    data_size = file_size - data_offset
    if compressed and "CompressedDataSize" in fields:
        _check_compressed_size(fields["CompressedDataSize"], data_size)
    return MetaHeader(
        shape=tuple(reversed(dims)),
        dtype=dtype,
        pixel_type=pixel_type,
        channels=channels,
        spacing=spacing,
        origin=origin,
        direction=direction,
        compressed=compressed,
        data_offset=data_offset,
        data_size=data_size,
    )


def _check_mha_source(fields: dict[str, str]) -> None:
    """The voxels are binary and right after the header: nothing makes a reader look elsewhere."""
    source = fields["ElementDataFile"]
    if source.upper() != "LOCAL":
        raise VolumeError(
            f"ElementDataFile is {source!r}: a MetaImage must carry its voxels itself; a data "
            "file elsewhere (a path, LIST, a pattern, a device) is never read. Write "
            "'ElementDataFile = LOCAL' with the voxels after the header (SimpleITK.WriteImage "
            "to a .mha file does)."
        )
    if fields.get("HeaderSize", "0").strip() not in ("0", ""):
        raise VolumeError(
            f"HeaderSize is {fields['HeaderSize']!r}: with ElementDataFile = LOCAL the voxels "
            "follow the header; remove HeaderSize."
        )
    if fields.get("ObjectType", "Image") != "Image":
        raise VolumeError(f"ObjectType is {fields['ObjectType']!r}, expected 'Image'.")
    if fields.get("BinaryData", "True").lower() not in _TRUE:
        raise VolumeError("BinaryData is False: voxels as ASCII text are not read; write binary.")


def _mha_grid(fields: dict[str, str]) -> tuple[tuple[int, ...], int, int]:
    """``DimSize`` (as written, x first), ``NDims`` and ``ElementNumberOfChannels``, checked."""
    try:
        dims = tuple(int(v) for v in fields["DimSize"].split())
        ndims = int(fields.get("NDims", len(dims)))
        channels = int(fields.get("ElementNumberOfChannels", "1"))
    except KeyError as exc:
        raise VolumeError(f"the MetaImage header has no {exc.args[0]}.") from exc
    except ValueError as exc:
        raise VolumeError(f"NDims, DimSize or ElementNumberOfChannels is not whole: {exc}") from exc
    if ndims != len(dims) or not 1 <= ndims <= 10 or any(d < 1 for d in dims):
        raise VolumeError(f"NDims is {ndims} and DimSize {dims}; expected NDims positive sizes.")
    if channels < 1:
        raise VolumeError(f"ElementNumberOfChannels is {channels}; expected at least 1.")
    return dims, ndims, channels


def _mha_voxel_type(fields: dict[str, str], channels: int) -> tuple[np.dtype | None, str]:
    """The voxels' dtype in the file's byte order (None unless one real scalar), and its name."""
    element = fields.get("ElementType", "")
    big = any(
        fields.get(k, "False").lower() in _TRUE
        for k in ("BinaryDataByteOrderMSB", "ElementByteOrderMSB")
    )
    if element in _MET_TYPES:
        dtype: np.dtype | None = np.dtype(_MET_TYPES[element]).newbyteorder(">" if big else "<")
        pixel_type = str(np.dtype(_MET_TYPES[element]))
    else:
        dtype, pixel_type = None, element or "(no ElementType)"
    if channels != 1:
        dtype, pixel_type = None, f"{channels} components of {pixel_type}"
    return dtype, pixel_type


def _mha_direction(fields: dict[str, str], ndims: int) -> tuple[float, ...]:
    """ITK's direction, row-major, from whichever matrix key the header uses (identity if none)."""
    matrix_key = next(
        (k for k in ("TransformMatrix", "Rotation", "Orientation") if k in fields),
        "TransformMatrix",
    )
    if matrix_key in fields:
        matrix = np.asarray(_mha_numbers(fields, matrix_key, ndims * ndims, 0.0))
    else:
        matrix = np.eye(ndims).reshape(-1)
    # MetaIO writes the matrix with one index axis per row; ITK's direction has them as columns.
    return tuple(float(v) for v in matrix.reshape(ndims, ndims).T.reshape(-1))


def _check_compressed_size(field: str, data_size: int) -> None:
    """``CompressedDataSize`` must be the bytes that follow the header."""
    try:
        declared = int(field)
    except ValueError as exc:
        raise VolumeError(f"CompressedDataSize is {field!r}; expected bytes.") from exc
    if declared != data_size:
        raise VolumeError(
            f"CompressedDataSize is {declared:,} but {data_size:,} bytes follow the header; "
            "the header must say what the file holds."
        )


def decode_mha(handle: BinaryIO, header: MetaHeader) -> np.ndarray:
    """The voxels of a checked MetaImage, from the file's own bytes, shaped ``header.shape``.

    Compressed data are inflated to the declared size and no further: a stream that holds more
    is refused after one extra byte.
    """
    if header.dtype is None:
        raise VolumeError(f"voxel type {header.pixel_type} is not a real scalar.")
    handle.seek(header.data_offset)
    n = header.nbytes
    if header.compressed:
        inflater = zlib.decompressobj()
        compressed = handle.read(header.data_size)
        try:
            raw = inflater.decompress(compressed, n)
            extra = inflater.decompress(inflater.unconsumed_tail, 1) if len(raw) == n else b""
        except zlib.error as exc:
            raise VolumeError(f"the compressed voxels cannot be inflated: {exc}") from exc
        del compressed
        if len(raw) < n:
            raise VolumeError(
                f"truncated: DimSize and ElementType declare {n:,} bytes, the compressed data "
                f"hold {len(raw):,}."
            )
        if extra:
            raise VolumeError(
                f"the compressed data hold more than the {n:,} bytes DimSize and ElementType "
                "declare; a file must hold exactly what its header says."
            )
    else:
        raw = _read_exactly(handle, n, what="DimSize and ElementType")
    array = np.frombuffer(raw, dtype=header.dtype).reshape(header.shape)
    return array.astype(header.dtype.newbyteorder("="), copy=False)


# TIFF ------------------------------------------------------------------------------------


def check_tiff_chain(handle: BinaryIO, file_size: int) -> int:
    """Follow a TIFF's chain of pages (IFDs) to its end; return the number of pages.

    Raises
    ------
    VolumeError
        Not a TIFF, a page outside the file, a chain that loops back, or over
        :data:`MAX_TIFF_PAGES` pages.
    """
    handle.seek(0)
    head = handle.read(16)
    order = {b"II": "<", b"MM": ">"}.get(head[:2])
    if order is None or len(head) < 8:
        raise VolumeError("not a TIFF file (it does not start with II or MM).")
    version = struct.unpack(order + "H", head[2:4])[0]
    if version == 42:
        offset = struct.unpack(order + "I", head[4:8])[0]
        count_fmt, entry, next_fmt = "H", 12, "I"
    elif version == 43 and len(head) >= 16:
        offset = struct.unpack(order + "Q", head[8:16])[0]
        count_fmt, entry, next_fmt = "Q", 20, "Q"
    else:
        raise VolumeError(f"not a TIFF file (version {version}, expected 42 or 43).")
    count_size, next_size = struct.calcsize(count_fmt), struct.calcsize(next_fmt)
    seen: set[int] = set()
    while offset:
        if offset in seen:
            raise VolumeError(
                f"the TIFF's chain of pages loops back to byte {offset} after {len(seen)} "
                "page(s); a page chain must end."
            )
        if len(seen) >= MAX_TIFF_PAGES:
            raise VolumeError(f"the TIFF has more than {MAX_TIFF_PAGES} pages.")
        seen.add(offset)
        if offset + count_size > file_size:
            raise VolumeError(f"a TIFF page starts at byte {offset}, past the end of the file.")
        handle.seek(offset)
        count = struct.unpack(order + count_fmt, handle.read(count_size))[0]
        at = offset + count_size + count * entry
        if at + next_size > file_size:
            raise VolumeError(f"the TIFF page at byte {offset} runs past the end of the file.")
        handle.seek(at)
        offset = struct.unpack(order + next_fmt, handle.read(next_size))[0]
    handle.seek(0)
    return len(seen)
