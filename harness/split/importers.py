"""Import released light-sheet data layouts as splits, without copying a single volume.

Layouts
-------
SELMA3D release (nnU-Net style)
    ``SRC/<structure folder>/raw/<stem>_0000.nii.gz`` (one file per channel: ``_0000``,
    ``_0001``, ...) and ``SRC/<structure folder>/gt/<stem>.nii.gz``; structure folders such as
    ``VessAP_vessel``, ``shannel_cells``, ``cFos-Active_Neurons``, ``AD_plaques``. ``SRC`` may
    also be one structure folder. Case ids are ``<structure folder>_<stem>``; a stem without
    ``gt`` file is an unlabeled case.
LSM foundation-model samples
    ``SRC/[<phase>/]<structure>_patch_<XXX>_vol<YYY>_ch<Z>.nii.gz`` with
    ``<same stem>_label.nii.gz`` masks, optionally in subfolders (``train/``, ``val/``) that
    become the case's ``phase``. Case ids are the stems (prefixed by the phase when a stem occurs
    in two phases). This is the layout of ``../shared/data/lsm-patches``.

Structure names map to a structure and a track through :data:`DEFAULT_STRUCTURE_RULES` (first
matching rule wins); a user file (``--track-map``) overrides it per source name.

No copies
---------
The manifest points at the source files: by a path relative to the manifest when the two share
a top-level folder (so moving them together keeps the split valid), else by an absolute path.
Links are not used: they break silently when the source moves and hard links cannot cross file
systems, while a manifest path fails loudly at load time with the row and path.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from common.errors import ConfigError, Selma3dError
from common.files import load_yaml_mapping, read_config_text, resolved, write_atomic
from common.profiles import DEFAULT_PROFILE, get_profile
from harness.split.manifest import MANIFEST_NAME, Split, load_split, write_manifest
from harness.split.volume import SUPPORTED_EXTENSIONS, strip_extension
from metrics.registry import TRACKS

__all__ = [
    "DEFAULT_STRUCTURE_RULES",
    "StructureRule",
    "detect_layout",
    "import_layout",
    "load_track_map",
    "manifest_path",
    "resolve_structure",
]


@dataclass(frozen=True)
class StructureRule:
    """Map source names matching ``pattern`` (case-insensitive regex search) to a structure."""

    pattern: str
    structure: str
    track: str


DEFAULT_STRUCTURE_RULES: tuple[StructureRule, ...] = (
    StructureRule(r"microglia", "microglia", "vessel"),
    StructureRule(r"vess", "blood_vessel", "vessel"),
    StructureRule(r"c-?fos", "cfos", "spot"),
    StructureRule(r"nucle", "cell_nucleus", "spot"),
    StructureRule(r"plaque", "amyloid_plaque", "spot"),
    StructureRule(r"cell", "cells", "spot"),
)

_LSM_STEM = re.compile(r"^(?P<structure>.+?)_patch_(?P<patch>\d+)_vol(?P<vol>\d+)_ch(?P<ch>\d+)$")
_CHANNEL = re.compile(r"^(?P<stem>.+)_(?P<channel>\d{4})$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def resolve_structure(
    name: str, *, track_map: Mapping[str, tuple[str, str]] | None = None
) -> tuple[str, str]:
    """Return ``(structure, track)`` for a source structure name.

    Parameters
    ----------
    name : str
        The folder name (SELMA3D) or file-name prefix (LSM samples).
    track_map : mapping, optional
        ``{source name: (structure, track)}`` from :func:`load_track_map`; matched exactly, but
        case-insensitively, before the default rules.

    Raises
    ------
    ConfigError
        If no rule matches.

    Examples
    --------
    >>> resolve_structure("VessAP_vessel"), resolve_structure("cFos-Active_Neurons")
    (('blood_vessel', 'vessel'), ('cfos', 'spot'))
    >>> resolve_structure("AD_plaques", track_map={"ad_plaques": ("plaque", "spot")})
    ('plaque', 'spot')
    """
    if track_map:
        folded = {k.casefold(): v for k, v in track_map.items()}
        if name.casefold() in folded:
            return folded[name.casefold()]
    for rule in DEFAULT_STRUCTURE_RULES:
        if re.search(rule.pattern, name, flags=re.IGNORECASE):
            return rule.structure, rule.track
    raise ConfigError(
        f"structure {name!r} matches no rule of the default table "
        f"({', '.join(r.pattern for r in DEFAULT_STRUCTURE_RULES)}); map it to a track with "
        "--track-map FILE (YAML 'name: track' or CSV 'source,track[,structure]')."
    )


def load_track_map(path: str | Path) -> dict[str, tuple[str, str]]:
    """Read a user's structure table: YAML or CSV.

    YAML: ``{source name: track}`` or ``{source name: {track: ..., structure: ...}}``.
    CSV: columns ``source``, ``track`` and optionally ``structure``. Without a structure, the
    source name itself (lower-cased) is used.

    Returns
    -------
    dict
        ``{source name: (structure, track)}``.

    Raises
    ------
    ConfigError
        Naming the file and the entry that is wrong.
    """
    path = Path(path)
    entries: list[tuple[str, object, object]] = []
    if path.suffix.lower() == ".csv":
        text = read_config_text(path, what="track map")
        try:
            reader = csv.DictReader(io.StringIO(text, newline=""))
            if not reader.fieldnames or not {"source", "track"} <= set(reader.fieldnames):
                raise ConfigError(
                    f"{path}: a track map CSV needs columns 'source' and 'track' (and optionally "
                    f"'structure'); got {reader.fieldnames}."
                )
            for row in reader:
                entries.append((row["source"], row["track"], row.get("structure")))
        except csv.Error as exc:
            raise ConfigError(f"{path}: not a CSV file: {exc}") from exc
    else:
        data = load_yaml_mapping(path, what="track map")
        for key, value in data.items():
            if isinstance(value, dict):
                unknown = set(value) - {"track", "structure"}
                if unknown:
                    raise ConfigError(
                        f"{path}: entry {key!r}: unknown field(s) {sorted(unknown)}; "
                        "expected 'track' and optionally 'structure'."
                    )
                entries.append((str(key), value.get("track"), value.get("structure")))
            else:
                entries.append((str(key), value, None))
    out: dict[str, tuple[str, str]] = {}
    for source, track, structure in entries:
        if track not in TRACKS:
            raise ConfigError(
                f"{path}: entry {source!r}: track must be one of {TRACKS}; got {track!r}."
            )
        name = str(structure).strip() if structure else source.strip().lower()
        out[source.strip()] = (name, str(track))
    return out


def manifest_path(target: Path, root: Path, *, absolute: bool = False) -> str:
    """How a manifest in ``root`` refers to ``target``.

    Relative (POSIX separators) when both lie under one top-level folder, else absolute.

    Examples
    --------
    >>> manifest_path(Path("/data/raw/a.nii.gz"), Path("/data/splits/x"))
    '../../raw/a.nii.gz'
    >>> manifest_path(Path("/mnt/raw/a.nii.gz"), Path("/tmp/x"))
    '/mnt/raw/a.nii.gz'
    """
    target, root = Path(os.path.abspath(target)), Path(os.path.abspath(root))
    if absolute or target.parts[:2] != root.parts[:2]:
        return target.as_posix()
    return Path(os.path.relpath(target, root)).as_posix()


def _volumes(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and p.name.lower().endswith(SUPPORTED_EXTENSIONS)
        and not p.name.startswith(".")
    )


def detect_layout(src: str | Path) -> str:
    """Return ``"selma3d"`` or ``"lsm"`` for a source folder.

    Raises
    ------
    ConfigError
        If the folder is neither layout.
    """
    src = Path(src)
    if not src.is_dir():
        raise ConfigError(f"{src}: source folder not found.")
    if (src / "raw").is_dir() or any((d / "raw").is_dir() for d in src.iterdir() if d.is_dir()):
        return "selma3d"
    folders = [src, *sorted(d for d in src.iterdir() if d.is_dir())]
    for folder in folders:
        if any(_LSM_STEM.match(strip_extension(p.name).removesuffix("_label"))
               for p in _volumes(folder)):
            return "lsm"
    raise ConfigError(
        f"{src}: not a known layout. Expected either structure folders with raw/ and gt/ "
        "(SELMA3D release) or files '<structure>_patch_XXX_volYYY_chZ.nii.gz' with "
        "'_label.nii.gz' masks, optionally in train/ and val/ (LSM samples)."
    )


def _selma3d_rows(
    src: Path, out: Path, *, track_map: Mapping[str, tuple[str, str]] | None, absolute: bool
) -> list[dict[str, str]]:
    structure_dirs = [src] if (src / "raw").is_dir() else sorted(
        d for d in src.iterdir() if d.is_dir() and (d / "raw").is_dir()
    )
    rows: list[dict[str, str]] = []
    problems: list[str] = []
    for folder in structure_dirs:
        structure, track = resolve_structure(folder.name, track_map=track_map)
        channels: dict[str, list[tuple[str, Path]]] = {}
        for path in _volumes(folder / "raw"):
            m = _CHANNEL.match(strip_extension(path.name))
            if not m:
                problems.append(
                    f"{path}: expected '<stem>_<4-digit channel>' (e.g. patchvolume_001_0000)"
                )
                continue
            channels.setdefault(m["stem"], []).append((m["channel"], path))
        gt = folder / "gt"
        labels = {strip_extension(p.name): p for p in _volumes(gt)} if gt.is_dir() else {}
        for stem in sorted(set(labels) - set(channels)):
            problems.append(f"{labels[stem]}: label without an image in {folder / 'raw'}")
        for stem, chans in sorted(channels.items()):
            chans.sort()
            numbers = [int(c) for c, _ in chans]
            if numbers != list(range(len(numbers))):
                problems.append(
                    f"{folder / 'raw'}: {stem}: channels must be _0000, _0001, ... without gaps; "
                    f"got {', '.join(c for c, _ in chans)}"
                )
                continue
            label = labels.get(stem)
            rows.append({
                "case_id": _UNSAFE.sub("_", f"{folder.name}_{stem}"),
                "track": track,
                "structure": structure,
                "image": ";".join(manifest_path(p, out, absolute=absolute) for _, p in chans),
                "label": manifest_path(label, out, absolute=absolute) if label else "",
                "phase": "",
            })
    if problems:
        raise ConfigError(f"{src}: cannot import:\n" + "\n".join(f"  - {p}" for p in problems))
    return rows


def _lsm_rows(
    src: Path, out: Path, *, track_map: Mapping[str, tuple[str, str]] | None, absolute: bool
) -> list[dict[str, str]]:
    folders = [(src, ""), *((d, d.name) for d in sorted(src.iterdir()) if d.is_dir())]
    found: list[tuple[str, str, Path, Path | None, re.Match[str]]] = []
    problems: list[str] = []
    for folder, phase in folders:
        if resolved(folder) == resolved(out):
            continue
        files = _volumes(folder)
        stems = {strip_extension(p.name): p for p in files}
        for stem, path in stems.items():
            if stem.endswith("_label"):
                if stem.removesuffix("_label") not in stems:
                    problems.append(f"{path}: label without an image")
                continue
            m = _LSM_STEM.match(stem)
            if not m:
                problems.append(
                    f"{path}: expected '<structure>_patch_XXX_volYYY_chZ' (or '..._label')"
                )
                continue
            found.append((stem, phase, path, stems.get(stem + "_label"), m))
    if problems:
        raise ConfigError(f"{src}: cannot import:\n" + "\n".join(f"  - {p}" for p in problems))
    counts: dict[str, int] = {}
    for stem, *_ in found:
        counts[stem] = counts.get(stem, 0) + 1
    rows = []
    for stem, phase, image, label, m in found:
        structure, track = resolve_structure(m["structure"], track_map=track_map)
        case_id = stem if counts[stem] == 1 else f"{phase or 'root'}_{stem}"
        rows.append({
            "case_id": _UNSAFE.sub("_", case_id),
            "track": track,
            "structure": structure,
            "image": manifest_path(image, out, absolute=absolute),
            "label": manifest_path(label, out, absolute=absolute) if label else "",
            "phase": phase,
        })
    return rows


def import_layout(
    src: str | Path,
    out: str | Path,
    *,
    track_map: str | Path | Mapping[str, tuple[str, str]] | None = None,
    absolute: bool = False,
    profile: str = DEFAULT_PROFILE,
) -> Split:
    """Write a split whose manifest points at the volumes of a released layout.

    Parameters
    ----------
    src : str or Path
        A SELMA3D release folder or an LSM sample folder (see the module notes).
    out : str or Path
        The split folder to write (``manifest.csv`` only); created if needed. It must not hold
        anything but a previous manifest.
    track_map : path or mapping, keyword-only, optional
        A YAML/CSV file or mapping ``{source name: (structure, track)}`` overriding the
        default structure table.
    absolute : bool, keyword-only
        Always write absolute paths.
    profile : str, keyword-only
        The edition's rules (``common.profiles``): a profile with a structure map gives
        each structure its track (the 2026 one scores microglia as spot-like); the default
        keeps the structure table's tracks.

    Returns
    -------
    Split
        The imported split, validated (volumes opened).

    Raises
    ------
    ConfigError
        Unknown layout, unmatched structure names, stray files (each named).
    SplitError
        If the volumes fail validation (grid mismatch, unreadable, ...).
    """
    src, out = Path(src), Path(out)
    layout = detect_layout(src)
    if out.exists() and any(p.name != MANIFEST_NAME for p in out.iterdir()):
        raise ConfigError(
            f"{out}: output folder is not empty; the import writes only {MANIFEST_NAME} there."
        )
    mapping = load_track_map(track_map) if isinstance(track_map, (str, Path)) else track_map
    make_rows = _selma3d_rows if layout == "selma3d" else _lsm_rows
    rows = make_rows(src, out, track_map=mapping, absolute=absolute)
    if not rows:
        raise ConfigError(f"{src}: no case found in this {layout} layout.")
    rules = get_profile(profile)
    if rules.structure_tracks is not None:
        unknown = []
        for row in rows:
            try:
                row["track"] = rules.track_of(row["structure"])
            except ValueError as exc:
                unknown.append(f"case {row['case_id']}: {exc}")
        if unknown:
            raise ConfigError(f"{src}: " + "; ".join(unknown))
    ids = [r["case_id"] for r in rows]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ConfigError(f"{src}: several files give the same case id: {', '.join(dupes)}.")
    manifest = out / MANIFEST_NAME
    previous = manifest.read_bytes() if manifest.is_file() else None
    created = not out.exists()
    write_manifest(out, rows)
    try:
        return load_split(out)
    except Selma3dError:
        # A split that fails validation is not left behind as one: the folder is as it was.
        if previous is not None:
            write_atomic(manifest, previous)
        else:
            manifest.unlink(missing_ok=True)
            if created and not any(out.iterdir()):
                out.rmdir()
        raise
