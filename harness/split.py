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
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.errors import SplitError

__all__ = [
    "MANIFEST_COLUMNS",
    "MANIFEST_NAME",
    "TRACKS",
    "Case",
    "Split",
    "load_split",
    "write_manifest",
]

MANIFEST_NAME = "manifest.csv"
MANIFEST_COLUMNS: tuple[str, ...] = ("case_id", "track", "structure", "image", "label", "phase", "spacing")
REQUIRED_COLUMNS: tuple[str, ...] = ("case_id", "track", "structure", "image", "label")
TRACKS: tuple[str, ...] = ("vessel", "spot")
Track = Literal["vessel", "spot"]
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
CHANNEL_SEPARATOR = ";"


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

    Raises
    ------
    SplitError
        Listing every problem found, each naming its row (``row 3 (case 'c01')``).
    """
    path = Path(path)
    manifest = path / MANIFEST_NAME if path.is_dir() else path
    if not manifest.is_file():
        raise SplitError(str(manifest), ["no manifest file here"])
    root = manifest.parent.resolve()
    problems: list[str] = []
    with manifest.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing_cols = [c for c in REQUIRED_COLUMNS if c not in header]
        unknown_cols = [c for c in header if c not in MANIFEST_COLUMNS]
        if missing_cols:
            raise SplitError(str(manifest), [f"missing column(s): {', '.join(missing_cols)}"])
        if unknown_cols:
            problems.append(
                f"unknown column(s): {', '.join(unknown_cols)}; expected {', '.join(MANIFEST_COLUMNS)}"
            )
        rows = list(reader)
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for lineno, row in enumerate(rows, start=2):
        case_id = (row.get("case_id") or "").strip()
        where = f"row {lineno} (case {case_id!r})"
        row_problems: list[str] = []
        if not _SAFE_ID.match(case_id):
            row_problems.append(
                f"{where}: case_id must be letters, digits, '.', '_' or '-' (at most 128), "
                "not starting with '.' or '-'"
            )
        elif case_id in seen:
            row_problems.append(f"{where}: duplicate case_id, first seen on row {seen[case_id]}")
        else:
            seen[case_id] = lineno
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
        spacing = _parse_spacing(row.get("spacing") or "", where, row_problems)
        phase = (row.get("phase") or "").strip() or None
        problems.extend(row_problems)
        if not row_problems:
            cases.append(
                Case(
                    case_id=case_id,
                    track=track,  # type: ignore[arg-type]
                    structure=structure,
                    images=tuple(images),
                    label=labels[0] if labels else None,
                    phase=phase,
                    spacing=spacing,
                )
            )
    if not rows:
        problems.append("the manifest lists no cases")
    if check_volumes and not problems:
        from harness.split_checks import check_case_volumes

        for case in cases:
            problems.extend(check_case_volumes(case, where=f"row {seen[case.case_id]} (case {case.case_id!r})"))
    if problems:
        raise SplitError(str(manifest), problems)
    cases.sort(key=lambda c: c.case_id)
    return Split(root=root, cases=tuple(cases), content_hash=_content_hash(manifest, cases))


def write_manifest(path: str | Path, rows: Iterable[dict[str, str]]) -> Path:
    """Write ``manifest.csv`` with the standard columns, rows sorted by ``case_id``.

    Parameters
    ----------
    path : str or Path
        The split folder (``manifest.csv`` is written inside) or the manifest path.
    rows : iterable of dict
        Values for the columns of ``MANIFEST_COLUMNS``; missing ones are written empty.
    """
    path = Path(path)
    manifest = path / MANIFEST_NAME if path.suffix != ".csv" else path
    manifest.parent.mkdir(parents=True, exist_ok=True)
    ordered = sorted(rows, key=lambda r: r["case_id"])
    tmp = manifest.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(MANIFEST_COLUMNS), lineterminator="\n")
        writer.writeheader()
        for row in ordered:
            writer.writerow({c: row.get(c, "") or "" for c in MANIFEST_COLUMNS})
    tmp.replace(manifest)
    return manifest


def _resolve_paths(root: Path, field: str, where: str, column: str, problems: list[str]) -> list[Path]:
    paths = []
    for part in (p.strip() for p in field.split(CHANNEL_SEPARATOR)):
        if not part:
            continue
        p = Path(part)
        full = (p if p.is_absolute() else root / p).resolve()
        if not full.is_file():
            problems.append(f"{where}: {column} file {part!r} not found (looked at {full})")
        paths.append(full)
    return paths


def _parse_spacing(field: str, where: str, problems: list[str]) -> tuple[float, float, float] | None:
    field = field.strip()
    if not field:
        return None
    try:
        values = tuple(float(v) for v in field.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or any(not v > 0 for v in values):
        problems.append(f"{where}: spacing must be three positive numbers 'z,y,x', got {field!r}")
        return None
    return values  # type: ignore[return-value]


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _content_hash(manifest: Path, cases: list[Case]) -> str:
    root = manifest.parent.resolve()
    h = hashlib.sha256()
    h.update(manifest.read_bytes())
    files = sorted({p for c in cases for p in (*c.images, *([c.label] if c.label else []))})
    for f in files:
        rel = f.relative_to(root).as_posix() if f.is_relative_to(root) else f.as_posix()
        h.update(f"\n{rel}\t{_file_digest(f)}".encode())
    return "sha256:" + h.hexdigest()
