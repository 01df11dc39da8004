"""Hostile prediction files, built byte by byte (never by the readers under test).

:func:`hostile_files` returns, for a case of shape ``SHAPE`` whose hidden label is the
uncompressed NIfTI ``label`` (uint8, so its last voxels are exactly the mask), every file the
gate must refuse, with words its reason must hold. The same bytes are scored through
``selma3d evaluate`` and written by a real container into ``/output``.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SHAPE = (6, 7, 8)  # (z, y, x)


@dataclass(frozen=True)
class Hostile:
    """One hostile file: its name's extension, its bytes and words its refusal must hold."""

    name: str
    ext: str
    data: bytes
    words: str


def nifti1(
    array: np.ndarray | None = None,
    *,
    shape: tuple[int, ...] = SHAPE,
    datatype: int = 2,
    bitpix: int = 8,
    dim0: int | None = None,
    vox_offset: float = 352.0,
    slope: float = 0.0,
    inter: float = 0.0,
    magic: bytes = b"n+1\0",
    sizeof_hdr: int = 348,
    extension: bytes = b"\0\0\0\0",
    data: bytes | None = None,
) -> bytes:
    """A little-endian NIfTI-1 single file: 348-byte header, extender (and blocks), voxels.

    ``shape`` is ``(z, y, x)``; NIfTI's ``dim`` is written x first. Offsets are those of the
    NIfTI-1 standard (nifti1.h).
    """
    hdr = bytearray(348)
    struct.pack_into("<i", hdr, 0, sizeof_hdr)
    dims = list(reversed(shape))
    dim = [dim0 if dim0 is not None else len(dims), *dims] + [1] * (7 - len(dims))
    struct.pack_into("<8h", hdr, 40, *dim)
    struct.pack_into("<h", hdr, 70, datatype)
    struct.pack_into("<h", hdr, 72, bitpix)
    struct.pack_into("<8f", hdr, 76, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    struct.pack_into("<f", hdr, 108, vox_offset)
    struct.pack_into("<f", hdr, 112, slope)
    struct.pack_into("<f", hdr, 116, inter)
    hdr[344:348] = magic
    if data is None:
        data = np.zeros(shape, np.uint8).tobytes() if array is None else array.tobytes()
    return bytes(hdr) + extension + data


def mha(fields: list[tuple[str, str]], data: bytes = b"") -> bytes:
    """A MetaImage: ``Key = Value`` lines in order, then ``data``."""
    return "".join(f"{k} = {v}\n" for k, v in fields).encode() + data


def mha_fields(element_data_file: str, **extra: str) -> list[tuple[str, str]]:
    """The header a hostile submission writes: SHAPE of uint8, data file as given."""
    z, y, x = SHAPE
    fields = [
        ("ObjectType", "Image"),
        ("NDims", "3"),
        ("BinaryData", "True"),
        ("BinaryDataByteOrderMSB", "False"),
        ("DimSize", f"{x} {y} {z}"),
        ("ElementType", "MET_UCHAR"),
    ]
    fields.extend(extra.items())
    fields.append(("ElementDataFile", element_data_file))
    return fields


def tiff(pages: np.ndarray, *, loop: bool = False) -> bytes:
    """A classic little-endian TIFF, one uncompressed uint8 page per z slice.

    ``loop``: the last page's next-page offset points back to the first page.
    """
    z, h, w = pages.shape
    out = bytearray(b"II*\0" + struct.pack("<I", 8))
    n_entries = 9
    ifd_size = 2 + 12 * n_entries + 4
    first = 8
    data_at = first + z * ifd_size
    for k in range(z):
        at = first + k * ifd_size
        nxt = at + ifd_size if k < z - 1 else (first if loop else 0)
        strip = data_at + k * h * w
        entries = [
            (256, 4, 1, w),
            (257, 4, 1, h),
            (258, 3, 1, 8),
            (259, 3, 1, 1),
            (262, 3, 1, 1),
            (273, 4, 1, strip),
            (277, 3, 1, 1),
            (278, 4, 1, h),
            (279, 4, 1, h * w),
        ]
        out += struct.pack("<H", n_entries)
        for tag, typ, count, value in entries:
            packed = struct.pack("<HI", value, 0)[:4] if typ == 3 else struct.pack("<I", value)
            out += struct.pack("<HHI", tag, typ, count) + packed
        out += struct.pack("<I", nxt)
    out += np.ascontiguousarray(pages, np.uint8).tobytes()
    return bytes(out)


def hostile_files(label: Path) -> list[Hostile]:
    """Every hostile prediction for a case whose hidden label is the uncompressed NIfTI ``label``.

    Files whose reason is the same rule share its words; names are unique.
    """
    local = "ElementDataFile = LOCAL"
    voxels = int(np.prod(SHAPE))
    ones = np.ones(SHAPE, np.uint8).tobytes()
    files = [
        Hostile("mha-abs-label", ".mha",
                mha(mha_fields(str(label), HeaderSize="-1")), local),
        Hostile("mha-rel-label", ".mha",
                mha(mha_fields("../../../../../../../../.." + str(label), HeaderSize="-1")),
                local),
        Hostile("mha-list", ".mha",
                mha([*mha_fields("LIST"), ("a.raw", ""), ("b.raw", "")]), local),
        Hostile("mha-pattern", ".mha", mha(mha_fields("slice%03d.raw 0 5 1")), local),
        Hostile("mha-dev-zero", ".mha", mha(mha_fields("/dev/zero")), local),
        Hostile("mha-dev-urandom", ".mha", mha(mha_fields("/dev/urandom")), local),
        Hostile("mha-dev-stdin", ".mha", mha(mha_fields("/dev/stdin")), local),
        Hostile("mha-local-raw", ".mha", mha(mha_fields("c1.raw")), local),
        Hostile("mha-headersize", ".mha",
                mha(mha_fields("LOCAL", HeaderSize="-1"), ones), "HeaderSize is '-1'"),
        Hostile("mha-compressed-size-lie", ".mha",
                mha(mha_fields("LOCAL", CompressedData="True", CompressedDataSize="5"),
                    zlib.compress(ones)), "CompressedDataSize is 5 but"),
        Hostile("mha-zlib-longer", ".mha",
                mha(mha_fields("LOCAL", CompressedData="True"),
                    zlib.compress(b"\1" * (voxels * 1000))), "more than the 336 bytes"),
        Hostile("mha-is-a-tiff", ".mha", tiff(np.ones(SHAPE, np.uint8)),
                "not a MetaImage"),
        Hostile("tiff-loop", ".tif", tiff(np.ones(SHAPE, np.uint8), loop=True),
                "chain of pages loops back to byte 8 after 6 page(s)"),
        Hostile("nii-dim0-9", ".nii", nifti1(dim0=9), "dim[0] is 9"),
        Hostile("nii-negative-offset", ".nii", nifti1(vox_offset=-4096.0), "vox_offset is -4096"),
        Hostile("nii-datatype-1", ".nii", nifti1(datatype=1, bitpix=1),
                "voxel type binary (1 bit) is not a real number"),
        Hostile("nii-datatype-9999", ".nii", nifti1(datatype=9999), "datatype is 9999"),
        Hostile("nii-inter-nan", ".nii", nifti1(slope=2.0, inter=float("nan")),
                "scl_inter nan"),
        Hostile("nii-slope-inf", ".nii", nifti1(slope=float("inf")), "scl_slope is inf"),
        Hostile("nii-slope-overflow", ".nii",
                nifti1(datatype=4, bitpix=16, slope=1e38,
                       data=np.full(SHAPE, 32767, "<i2").tobytes()),
                "past float32's range"),
        Hostile("nii-extension-2g", ".nii",
                nifti1(vox_offset=368.0,
                       extension=b"\1\0\0\0" + struct.pack("<ii", 2**31 - 16, 4) + bytes(8)),
                "claims 2,147,483,632 bytes"),
        Hostile("nii-sizeof-540", ".nii", nifti1(sizeof_hdr=540),
                "expected 'n+2' for a 540-byte header"),
        Hostile("nii-magic-ni1", ".nii", nifti1(magic=b"ni1\0", vox_offset=0.0),
                "names a separate .img data file"),
        Hostile("nii-longer", ".nii.gz",
                gzip.compress(nifti1(data=ones + b"\1" * (voxels * 1000))),
                "more than the 336 bytes"),
    ]
    return files
