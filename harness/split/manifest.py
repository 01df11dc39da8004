"""Splits: a folder with ``manifest.csv`` and the volumes it points to.

Manifest columns
----------------
``case_id``
    Unique, safe as a file name (letters, digits, ``._-``; not starting with a dot).
``track``
    ``vessel`` or ``spot``.
``structure``
    Free text such as ``blood_vessel``, ``microglia``, ``cfos``, ``cell_nucleus``.
``image``
    Path of the image relative to the manifest; several channels are separated by ``;``
    (``raw/p_0000.nii.gz;raw/p_0001.nii.gz``).
``label``
    Path of the binary mask, empty for unlabeled data.
``phase`` (optional)
    ``sample``, ``preliminary``, ``final``, ...
``spacing`` (optional)
    ``z,y,x`` voxel size, overriding the file headers.
"""

from __future__ import annotations

import csv
import hashlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from common.errors import ConfigError
from common.files import resolved
from common.tables import write_csv
from harness.errors import SplitError
from harness.split.checks import check_case_volumes
from metrics.registry import TRACKS, Track

__all__ = [
    "MANIFEST_COLUMNS",
    "MANIFEST_NAME",
    "Case",
    "Split",
    "content_hash",
    "load_split",
    "write_manifest",
]

MANIFEST_NAME = "manifest.csv"
MANIFEST_COLUMNS: tuple[str, ...] = (
    "case_id",
    "track",
    "structure",
    "image",
    "label",
    "phase",
    "spacing",
)
REQUIRED_COLUMNS: tuple[str, ...] = ("case_id", "track", "structure", "image", "label")
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
CHANNEL_SEPARATOR = ";"
MAX_PROBLEMS = 100
"""Reading a manifest stops after this many problems (the message says where it stopped)."""


@dataclass(frozen=True)
class Case:
    """One case of a split.

    Attributes
    ----------
    case_id : str
        Unique within the split; safe as a file name.
    track : {"vessel", "spot"}
        Which leaderboard track scores it.
    structure : str
        The biological structure (``blood_vessel``, ``cfos``, ...).
    images : tuple of Path
        Absolute paths of the image channels (one or more).
    label : Path or None
        Absolute path of the mask; None for unlabeled cases.
    phase : str or None
        The phase the case belongs to.
    spacing : tuple of float or None
        ``(z, y, x)`` voxel size from the manifest, if given.
    """

    case_id: str
    track: Track
    structure: str
    images: tuple[Path, ...]
    label: Path | None = None
    phase: str | None = None
    spacing: tuple[float, float, float] | None = None

    @property
    def image(self) -> Path:
        """The first (or only) image channel."""
        return self.images[0]


@dataclass(frozen=True)
class Split:
    """A validated split.

    Attributes
    ----------
    root : Path
        Folder holding the manifest; relative paths resolve against it.
    cases : tuple of Case
        Sorted by ``case_id``.
    content_hash : str
        ``sha256:`` of the manifest and every referenced file's digest; results record it so a
        leaderboard says exactly which data it was computed on.
    """

    root: Path
    cases: tuple[Case, ...]
    content_hash: str

    @property
    def manifest(self) -> Path:
        """Path of the manifest file."""
        return self.root / MANIFEST_NAME

    @property
    def case_ids(self) -> tuple[str, ...]:
        """Sorted case ids."""
        return tuple(c.case_id for c in self.cases)

    def case(self, case_id: str) -> Case:
        """Return the case with this id."""
        for c in self.cases:
            if c.case_id == case_id:
                return c
        raise KeyError(f"{self.manifest}: no case {case_id!r}.")

    @property
    def labeled(self) -> bool:
        """True if every case has a label."""
        return all(c.label is not None for c in self.cases)


def load_split(path: str | Path, *, check_volumes: bool = True) -> Split:
    """Load and validate a split, reporting every problem at once.

    Parameters
    ----------
    path : str or Path
        The split folder or its ``manifest.csv``.
    check_volumes : bool, keyword-only
        Also open every volume: readable, 3D, image and label on the same grid, channels on the
        same grid, labels binary after ``> 0`` (which any integer or float mask is; NaN is not).

    Returns
    -------
    Split
        Cases sorted by id, with the split's content hash.

    Raises
    ------
    SplitError
        Listing every problem found, each naming its row (``row 3 (case 'c01')``): missing or
        unknown columns, unsafe or duplicate case ids (also ids equal but for case, which collide
        on case-insensitive file systems), unknown tracks, empty structures, missing files, a label
        that is also an image, bad spacing; with ``check_volumes``, unreadable or non-3D volumes,
        channels or label on a different grid than the first channel, and NaN in labels.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from harness.split.volume import write_volume
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = write_volume(d / "a.nii.gz", np.zeros((2, 3, 4), np.float32))
    >>> _ = write_volume(d / "a_mask.nii.gz", np.ones((2, 3, 4), np.uint8))
    >>> _ = write_manifest(d, [{"case_id": "a", "track": "spot", "structure": "cfos",
    ...                         "image": "a.nii.gz", "label": "a_mask.nii.gz"}])
    >>> split = load_split(d)
    >>> split.case_ids, split.case("a").label.name, split.content_hash[:7]
    (('a',), 'a_mask.nii.gz', 'sha256:')
    """
    path = Path(path)
    manifest = path / MANIFEST_NAME if path.is_dir() else path
    if not manifest.is_file():
        raise SplitError(str(manifest), ["no manifest file here"])
    root = resolved(manifest.parent)
    problems: list[str] = []
    cases: list[Case] = []
    seen: dict[str, int] = {}
    try:
        # utf-8-sig: spreadsheet programs often save CSV with a byte-order mark.
        with manifest.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = [h.strip() for h in next(reader, [])]
            n_rows, stopped_at = _read_rows(reader, header, root, problems, cases, seen)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SplitError(str(manifest), [f"not a UTF-8 CSV file: {exc}"]) from exc
    if isinstance(n_rows, list):  # the header was refused
        raise SplitError(str(manifest), n_rows)
    if stopped_at is not None:
        row, left = stopped_at
        problems.append(
            f"stopped at row {row} after {MAX_PROBLEMS} problems: {left:,} more row(s) were not "
            "checked (fix these and load again)"
        )
    rows = n_rows
    if not rows and not problems:
        problems.append("the manifest lists no cases")
    if check_volumes and not problems:
        for case in cases:
            where = f"row {seen[case.case_id]} (case {case.case_id!r})"
            problems.extend(check_case_volumes(case.images, case.label, where=where))
    if problems:
        raise SplitError(str(manifest), problems)
    cases.sort(key=lambda c: c.case_id)
    return Split(root=root, cases=tuple(cases), content_hash=content_hash(cases))


def _read_rows(
    reader: Iterable[list[str]],
    header: list[str],
    root: Path,
    problems: list[str],
    cases: list[Case],
    seen: dict[str, int],
) -> tuple[int | list[str], tuple[int, int] | None]:
    """Check the header, then each row as it is read, until :data:`MAX_PROBLEMS` problems.

    Returns the number of rows read (or the header's problems, which stop everything) and,
    when reading stopped early, the row where it stopped and how many rows were left unchecked.
    """
    header_problems = _header_problems(header)
    if header_problems:
        return header_problems, None
    unknown_cols = [c for c in header if c not in MANIFEST_COLUMNS]
    if unknown_cols:
        problems.append(
            f"unknown column(s): {', '.join(unknown_cols)}; expected {', '.join(MANIFEST_COLUMNS)}"
        )
    seen_folded: dict[str, tuple[str, int]] = {}
    n_rows = 0
    for lineno, cells in enumerate(reader, start=2):
        if len(problems) >= MAX_PROBLEMS:
            # Counting what is left is cheap (no file is looked at) and tells the size of it.
            return n_rows, (lineno, 1 + sum(1 for _ in reader))
        if not cells:
            continue  # a blank line, as csv.DictReader skips it
        n_rows += 1
        row_problems: list[str] = []
        case = _read_row(cells, header, lineno, root, seen, seen_folded, row_problems)
        problems.extend(row_problems)
        if case is not None:
            cases.append(case)
    return n_rows, None


def _header_problems(header: list[str]) -> list[str]:
    """What stops a manifest at its header: a required column missing, a column named twice."""
    duplicated = sorted({c for c in header if header.count(c) > 1})
    missing_cols = [c for c in REQUIRED_COLUMNS if c not in header]
    lines = []
    if missing_cols:
        lines.append(
            f"missing column(s): {', '.join(missing_cols)}; got {', '.join(header) or 'none'}"
        )
    if duplicated:
        lines.append(f"column(s) named twice in the header: {', '.join(duplicated)}")
    return lines


def _read_row(
    cells: list[str],
    header: list[str],
    lineno: int,
    root: Path,
    seen: dict[str, int],
    seen_folded: dict[str, tuple[str, int]],
    row_problems: list[str],
) -> Case | None:
    """One manifest row as a case, or None when something is wrong with it.

    What is wrong goes into ``row_problems``, each naming the row.
    """
    row = dict(zip(header, cells, strict=False))
    case_id = (row.get("case_id") or "").strip()
    where = f"row {lineno} (case {case_id!r})"
    if len(cells) > len(header):
        row_problems.append(
            f"{where}: {len(cells)} cells, more than the header's {len(header)} columns"
        )
    _check_case_id(case_id, where, lineno, seen, seen_folded, row_problems)
    track = (row.get("track") or "").strip()
    if track not in TRACKS:
        row_problems.append(f"{where}: unknown track {track!r}; expected one of {TRACKS}")
    structure = (row.get("structure") or "").strip()
    if not structure:
        row_problems.append(f"{where}: empty structure")
    images = _resolve_paths(root, row.get("image") or "", where, "image", row_problems)
    if not images:
        row_problems.append(f"{where}: no image given")
    label_field = (row.get("label") or "").strip()
    labels = _resolve_paths(root, label_field, where, "label", row_problems)
    if len(labels) > 1:
        row_problems.append(f"{where}: one label expected, got {len(labels)}")
    if labels and labels[0] in images:
        row_problems.append(f"{where}: the label file is also listed as an image")
    spacing = _parse_spacing(row.get("spacing") or "", where, row_problems)
    if row_problems:
        return None
    return Case(
        case_id=case_id,
        track=track,  # type: ignore[arg-type]
        structure=structure,
        images=tuple(images),
        label=labels[0] if labels else None,
        phase=(row.get("phase") or "").strip() or None,
        spacing=spacing,
    )


def _check_case_id(
    case_id: str,
    where: str,
    lineno: int,
    seen: dict[str, int],
    seen_folded: dict[str, tuple[str, int]],
    row_problems: list[str],
) -> None:
    """A safe id, not seen before even but for case; a new one is recorded as seen."""
    if not _SAFE_ID.match(case_id):
        row_problems.append(
            f"{where}: case_id must be letters, digits, '.', '_' or '-' (at most 128), "
            "not starting with '.' or '-'"
        )
    elif case_id in seen:
        row_problems.append(f"{where}: duplicate case_id, first seen on row {seen[case_id]}")
    elif case_id.casefold() in seen_folded:
        other, other_row = seen_folded[case_id.casefold()]
        row_problems.append(
            f"{where}: case_id differs only by case from {other!r} on row {other_row}; "
            "both would name the same file on case-insensitive file systems"
        )
    else:
        seen[case_id] = lineno
        seen_folded[case_id.casefold()] = (case_id, lineno)


def write_manifest(path: str | Path, rows: Iterable[dict[str, str]]) -> Path:
    """Write ``manifest.csv`` with the standard columns, rows sorted by ``case_id``.

    Parameters
    ----------
    path : str or Path
        The split folder (``manifest.csv`` is written inside) or the manifest path.
    rows : iterable of dict
        Values for the columns of ``MANIFEST_COLUMNS``; missing ones are written empty.

    Returns
    -------
    Path
        The manifest written (atomically, ``common.files.atomic_path``).
    """
    path = Path(path)
    manifest = path / MANIFEST_NAME if path.suffix != ".csv" else path
    rows = list(rows)
    for i, row in enumerate(rows):
        unknown = sorted(set(row) - set(MANIFEST_COLUMNS))
        if "case_id" not in row or unknown:
            raise ValueError(
                f"rows[{i}] must have a case_id and only the columns {MANIFEST_COLUMNS}. "
                f"Got keys {sorted(row)}."
            )
    ordered = sorted(rows, key=lambda r: r["case_id"])
    table = pd.DataFrame(
        [{c: str(row.get(c, "") or "") for c in MANIFEST_COLUMNS} for row in ordered],
        columns=list(MANIFEST_COLUMNS),
        dtype=object,
    )
    return write_csv(table, manifest)


def _resolve_paths(
    root: Path, field: str, where: str, column: str, problems: list[str]
) -> list[Path]:
    paths = []
    for part in (p.strip() for p in field.split(CHANNEL_SEPARATOR)):
        if not part:
            continue
        p = Path(part)
        try:
            full = resolved(p if p.is_absolute() else root / p)
        except ConfigError:
            problems.append(f"{where}: {column} file {part!r} is a loop of symbolic links")
            continue
        if not full.is_file():
            problems.append(f"{where}: {column} file {part!r} not found (looked at {full})")
        paths.append(full)
    return paths


def _parse_spacing(
    field: str, where: str, problems: list[str]
) -> tuple[float, float, float] | None:
    field = field.strip()
    if not field:
        return None
    try:
        values = tuple(float(v) for v in field.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or any(not 0 < v < math.inf for v in values):
        problems.append(
            f"{where}: spacing must be three positive finite numbers 'z,y,x', got {field!r}"
        )
        return None
    return values  # type: ignore[return-value]


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def content_hash(cases: Iterable[Case]) -> str:
    """Hash a split's content: each case's fields and the SHA-256 of each of its files.

    Paths do not enter the hash, only what the files hold, so the same data gives the same hash
    wherever it lies (an imported split pointing at the source files, or a copy of it).

    Parameters
    ----------
    cases : iterable of Case
        Hashed in case-id order.

    Returns
    -------
    str
        ``"sha256:<hex>"``.
    """
    h = hashlib.sha256(b"selma3d-split-v1\n")
    for c in sorted(cases, key=lambda c: c.case_id):
        spacing = ",".join(repr(v) for v in c.spacing) if c.spacing else ""
        digests = [_file_digest(p) for p in c.images]
        label = _file_digest(c.label) if c.label is not None else ""
        fields = [c.case_id, c.track, c.structure, c.phase or "", spacing, ";".join(digests), label]
        h.update(("\t".join(fields) + "\n").encode())
    return "sha256:" + h.hexdigest()
