"""Container contracts: what a submission finds in ``/input`` and where it writes its masks.

Two contracts, both staging the inputs into a fresh folder per container run (never the
organizer's data folder), re-written through :func:`harness.split.volume.write_volume` so no header
field of the organizer's files (descriptions, original file names) reaches the container.
A container learns only the image (and, when the round allows it, the structure name): never
labels, the manifest, case ids or other cases.

grand-challenge (default; one container run per case)
    ``/input/images/light-sheet-3d-microscopy/<uuid4>.mha`` (or ``.tif``), and
    ``/input/inputs.json`` in grand-challenge's current form: a list of socket values, each
    ``{socket, interface, value, file, image: {pk, name}, pk}``, where ``socket`` and
    ``interface`` are the same object (``title, description, slug, kind, pk, default_value,
    super_kind, relative_path, overlay_segments, look_up_table``), so code reading either key
    works. With
    ``expose_structure`` the socket ``biological-structure`` (a ``String`` value) is listed too
    and written to ``/input/biological-structure.json`` as a JSON string. The prediction is the
    only ``.mha``/``.tif``/``.tiff`` file in ``/output/images/isolated-biological-structure/``.
folder (nnU-Net style; one run for many cases)
    ``/input/<anonymised>.nii.gz`` per case (names are random, e.g. ``case_3f9a1c2b7d.nii.gz``),
    ``/input/structures.json`` ``{file name: structure}`` with ``expose_structure``; the
    prediction of each is ``/output/<same name>``.

Multi-channel cases: channel 0 is the main image, staged as above. Channel ``k >= 1`` is staged
as ``/input/images/light-sheet-3d-microscopy-channel-<k>/<uuid4>.mha`` (grand-challenge; also
listed in ``inputs.json`` under that slug) or ``/input/extra-channels/<anonymised>_ch<k>.nii.gz``
(folder), so a container that only knows the main image is unaffected.
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.split.manifest import Case
from harness.split.volume import Grid, read_volume, write_volume

__all__ = [
    "CONTRACTS",
    "Contract",
    "FolderContract",
    "GrandChallengeContract",
    "Located",
    "StagedCase",
    "gc_socket",
    "gc_socket_value",
    "make_contract",
]

CONTRACTS: tuple[str, ...] = ("grand-challenge", "folder")
_IMAGE_EXTENSIONS = (".mha", ".tif", ".tiff")


@dataclass(frozen=True)
class StagedCase:
    """One case staged for a container run.

    Attributes
    ----------
    case_id : str
        Known to the harness only.
    token : str
        The name the container sees (a uuid or an anonymised file stem).
    grid : Grid
        The grid of channel 0, which the prediction must match.
    """

    case_id: str
    token: str
    grid: Grid


@dataclass(frozen=True)
class Located:
    """Where a case's prediction is, or why there is none.

    ``status`` is ``"ok"`` (``path`` set), ``"missing_output"`` or ``"invalid_output"``.
    """

    status: str
    path: Path | None = None
    reason: str = ""


def _case_grid(case: Case) -> tuple[object, Grid]:
    vol = read_volume(case.image)
    grid = vol.grid
    if case.spacing is not None:
        grid = Grid(grid.shape, spacing=case.spacing, origin=grid.origin, direction=grid.direction)
    return vol.array, grid


def _write_channel(src: Path, dest: Path, grid: Grid) -> None:
    vol = read_volume(src)
    write_volume(dest, vol.array, Grid(vol.grid.shape, grid.spacing, grid.origin, grid.direction))


@dataclass(frozen=True)
class GrandChallengeContract:
    """grand-challenge's algorithm container interface, one case per run.

    Attributes
    ----------
    input_slug, output_slug : str
        Socket slugs of the image input and the mask output.
    input_format : {"mha", "tif"}
        Format the case image is written in.
    structure_slug : str
        Slug of the optional structure-name value socket.
    expose_structure : bool
        List the structure name in ``inputs.json`` and ``/input/<structure_slug>.json``.
    """

    input_slug: str = "light-sheet-3d-microscopy"
    output_slug: str = "isolated-biological-structure"
    input_format: Literal["mha", "tif"] = "mha"
    structure_slug: str = "biological-structure"
    expose_structure: bool = False

    name = "grand-challenge"
    per_case = True

    def stage(self, cases: Sequence[Case], input_dir: Path) -> list[StagedCase]:
        """Write one case's inputs under ``input_dir`` (the future ``/input``)."""
        if len(cases) != 1:
            raise ValueError(
                f"the grand-challenge contract runs one case per container; got {len(cases)}."
            )
        case = cases[0]
        array, grid = _case_grid(case)
        token = str(uuid.uuid4())
        entries = []
        for k, src in enumerate(case.images):
            slug = self.input_slug if k == 0 else f"{self.input_slug}-channel-{k}"
            folder = input_dir / "images" / slug
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{token if k == 0 else uuid.uuid4()}.{self.input_format}"
            if k == 0:
                write_volume(folder / name, array, grid)  # type: ignore[arg-type]
            else:
                _write_channel(src, folder / name, grid)
            entries.append(_gc_image_entry(slug, name, k))
        if self.expose_structure:
            (input_dir / f"{self.structure_slug}.json").write_text(
                json.dumps(case.structure), encoding="utf-8"
            )
            entries.append(_gc_value_entry(self.structure_slug, case.structure, len(entries)))
        (input_dir / "inputs.json").write_text(json.dumps(entries, indent=2), encoding="utf-8")
        return [StagedCase(case.case_id, token, grid)]

    def output_folder(self, output_dir: Path) -> Path:
        """Folder the prediction is read from."""
        return output_dir / "images" / self.output_slug

    def locate(self, output_dir: Path, staged: StagedCase) -> Located:
        """Find the single image in the output socket folder."""
        folder = self.output_folder(output_dir)
        where = f"/output/images/{self.output_slug}/"
        if not folder.is_dir() or folder.is_symlink():
            if folder.is_symlink():
                return Located("invalid_output", reason=f"{where} is a symlink")
            return Located("missing_output", reason=f"nothing written to {where}")
        files = sorted(p for p in folder.iterdir())
        images = [p for p in files if p.name.lower().endswith(_IMAGE_EXTENSIONS)]
        if not images:
            if files:
                names = ", ".join(p.name for p in files[:5])
                return Located(
                    "invalid_output", reason=f"{where} holds no .mha or .tif image, only: {names}"
                )
            return Located("missing_output", reason=f"{where} is empty")
        if len(images) > 1:
            names = ", ".join(p.name for p in images[:5])
            return Located(
                "invalid_output",
                reason=f"{len(images)} images in {where} where one is expected: {names}",
            )
        return Located("ok", path=images[0])


def gc_socket(
    slug: str, *, pk: int, kind: str, super_kind: str, relative_path: str
) -> dict[str, object]:
    """One socket as grand-challenge serializes it (``ComponentInterfaceSerializer``)."""
    return {
        "title": slug.replace("-", " ").capitalize(),
        "description": "",
        "slug": slug,
        "kind": kind,
        "pk": pk,
        "default_value": None,
        "super_kind": super_kind,
        "relative_path": relative_path,
        "overlay_segments": [],
        "look_up_table": None,
    }


def gc_socket_value(
    socket: dict[str, object], *, pk: int, image: dict[str, str] | None, value: object
) -> dict[str, object]:
    """One socket value of ``inputs.json`` or ``predictions.json`` as grand-challenge writes it."""
    # grand-challenge writes the same socket under "socket" (current templates read it) and
    # "interface" (older templates read it): code reading either key finds it.
    return {
        "socket": socket,
        "interface": dict(socket),
        "value": value,
        "file": None,
        "image": image,
        "pk": pk,
    }


def _gc_image_entry(slug: str, name: str, pk: int) -> dict[str, object]:
    socket = gc_socket(
        slug, pk=pk + 1, kind="Image", super_kind="Image", relative_path=f"images/{slug}"
    )
    image = {"pk": name.rsplit(".", 1)[0], "name": name}
    return gc_socket_value(socket, pk=pk + 1, image=image, value=None)


def _gc_value_entry(slug: str, value: str, pk: int) -> dict[str, object]:
    socket = gc_socket(
        slug, pk=pk + 1, kind="String", super_kind="Value", relative_path=f"{slug}.json"
    )
    return gc_socket_value(socket, pk=pk + 1, image=None, value=value)


@dataclass(frozen=True)
class FolderContract:
    """Many cases per run: ``/input/<anonymised>.nii.gz`` in, ``/output/<same name>`` out.

    Attributes
    ----------
    expose_structure : bool
        Write ``/input/structures.json`` mapping each file name to its structure.
    """

    expose_structure: bool = False

    name = "folder"
    per_case = False

    def stage(self, cases: Sequence[Case], input_dir: Path) -> list[StagedCase]:
        """Write every case's inputs under ``input_dir`` with random names."""
        input_dir.mkdir(parents=True, exist_ok=True)
        staged = []
        structures = {}
        for case in cases:
            token = f"case_{secrets.token_hex(5)}"
            array, grid = _case_grid(case)
            write_volume(input_dir / f"{token}.nii.gz", array, grid)  # type: ignore[arg-type]
            for k, src in enumerate(case.images[1:], start=1):
                extra = input_dir / "extra-channels"
                extra.mkdir(exist_ok=True)
                _write_channel(src, extra / f"{token}_ch{k}.nii.gz", grid)
            structures[f"{token}.nii.gz"] = case.structure
            staged.append(StagedCase(case.case_id, token, grid))
        if self.expose_structure:
            text = json.dumps(dict(sorted(structures.items())), indent=2)
            (input_dir / "structures.json").write_text(text, encoding="utf-8")
        return staged

    def locate(self, output_dir: Path, staged: StagedCase) -> Located:
        """The prediction is ``/output/<token>.nii.gz``."""
        path = output_dir / f"{staged.token}.nii.gz"
        if os.path.lexists(path):
            return Located("ok", path=path)
        return Located("missing_output", reason=f"/output/{staged.token}.nii.gz was not written")


Contract = GrandChallengeContract | FolderContract


def make_contract(
    name: str,
    *,
    expose_structure: bool = False,
    input_format: str = "mha",
    input_slug: str = "light-sheet-3d-microscopy",
    output_slug: str = "isolated-biological-structure",
) -> Contract:
    """Build a contract by name (``"grand-challenge"`` or ``"folder"``).

    Examples
    --------
    >>> make_contract("folder").name
    'folder'
    >>> make_contract("gc")
    Traceback (most recent call last):
    ...
    ValueError: contract must be one of ('grand-challenge', 'folder'). Got 'gc'.
    """
    if name == "grand-challenge":
        if input_format not in ("mha", "tif"):
            raise ValueError(f"input_format must be 'mha' or 'tif'. Got {input_format!r}.")
        return GrandChallengeContract(
            input_slug=input_slug,
            output_slug=output_slug,
            input_format=input_format,  # type: ignore[arg-type]
            expose_structure=expose_structure,
        )
    if name == "folder":
        return FolderContract(expose_structure=expose_structure)
    raise ValueError(f"contract must be one of {CONTRACTS}. Got {name!r}.")
