"""The container side of the submission contracts, shared by the baseline submissions.

A submission's ``predict.py`` calls :func:`run` with its segmentation function. Two contracts:

grand-challenge (one run per case)
    reads the one image in ``/input/images/light-sheet-3d-microscopy/`` (``.mha`` or ``.tif``),
    the optional structure from ``/input/biological-structure.json`` (a JSON string) or the
    ``biological-structure`` socket of ``/input/inputs.json``, and writes one mask of the same
    format to ``/output/images/isolated-biological-structure/``.
folder (one run for all cases)
    reads every volume directly in ``/input`` and the optional ``/input/structures.json``
    {file name: structure}, and writes ``/output/<same file name>``.

The contract is chosen by what ``/input`` holds: an ``images/`` folder means grand-challenge.
Only numpy, SimpleITK and tifffile are used here, so the module runs in every baseline image.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "GC_IMAGE_DIR",
    "GC_OUTPUT_DIR",
    "VOLUME_EXTENSIONS",
    "ContractError",
    "Segmenter",
    "detect_contract",
    "log",
    "read_image",
    "run",
    "run_folder",
    "run_grand_challenge",
    "write_mask",
]

GC_IMAGE_DIR = "images/light-sheet-3d-microscopy"
GC_OUTPUT_DIR = "images/isolated-biological-structure"
VOLUME_EXTENSIONS = (".nii.gz", ".nii", ".mha", ".tif", ".tiff")

# segment(image, structure) -> mask; a method that ignores the structure just drops it.
Segmenter = Callable[[np.ndarray, "str | None"], np.ndarray]


class ContractError(RuntimeError):
    """The input folder does not follow the contract (the message says what was found)."""


def log(message: str) -> None:
    """Print a time-stamped line to the container's log."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _extension(path: Path) -> str | None:
    lower = path.name.lower()
    return next((ext for ext in VOLUME_EXTENSIONS if lower.endswith(ext)), None)


def read_image(path: Path) -> tuple[np.ndarray, Any]:
    """Read a 3D volume and the header needed to write a mask on the same grid.

    Returns
    -------
    array : (Z, Y, X) ndarray
    header : object
        A SimpleITK image (``.mha``, ``.nii[.gz]``) or a dict of TIFF spacing.
    """
    ext = _extension(path)
    if ext in (".tif", ".tiff"):
        # Each format's reader is loaded when a file of that format is met.
        import tifffile

        with tifffile.TiffFile(str(path)) as tif:
            array = np.squeeze(tif.asarray())
            spacing_z = float((tif.imagej_metadata or {}).get("spacing", 1.0))
            page = tif.pages[0]
            res = {
                name: page.tags[name].value
                for name in ("XResolution", "YResolution")
                if name in page.tags
            }
        header: Any = {"spacing_z": spacing_z, "resolution": res}
    elif ext is not None:
        # Each format's reader is loaded when a file of that format is met.
        import SimpleITK as sitk

        header = sitk.ReadImage(str(path))
        array = sitk.GetArrayFromImage(header)
    else:
        raise ContractError(
            f"{path}: not a volume; expected one of {', '.join(VOLUME_EXTENSIONS)}."
        )
    if array.ndim != 3:
        raise ContractError(f"{path}: expected a 3D volume (Z, Y, X); got shape {array.shape}.")
    return array, header


def write_mask(path: Path, mask: np.ndarray, header: Any) -> Path:
    """Write a uint8 0/1 mask on the grid of the image ``header`` came from."""
    mask = (np.asarray(mask) > 0).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Its own temporary-then-rename writer, not common.files.atomic_path: this module runs
    # inside participant containers, which hold the baselines package and nothing else.
    # The writers pick the format from the name: the temporary file keeps the real extension.
    tmp = path.with_name(".tmp-" + path.name)
    if isinstance(header, dict):
        # Each format's reader is loaded when a file of that format is met.
        import tifffile

        res = header["resolution"]
        resolution = None
        if "XResolution" in res and "YResolution" in res:
            resolution = (res["XResolution"], res["YResolution"])
        tifffile.imwrite(
            str(tmp),
            mask,
            imagej=True,
            resolution=resolution,
            metadata={"spacing": header["spacing_z"], "axes": "ZYX"},
            compression="zlib",
        )
    else:
        # Each format's reader is loaded when a file of that format is met.
        import SimpleITK as sitk

        out = sitk.GetImageFromArray(mask)
        out.CopyInformation(header)
        sitk.WriteImage(out, str(tmp), useCompression=True)
    os.replace(tmp, path)
    return path


def _structure_from_gc(input_dir: Path) -> str | None:
    direct = input_dir / "biological-structure.json"
    if direct.is_file():
        value = json.loads(direct.read_text())
        if not isinstance(value, str):
            raise ContractError(f"{direct}: expected a JSON string; got {type(value).__name__}.")
        return value
    inputs = input_dir / "inputs.json"
    if inputs.is_file():
        doc = json.loads(inputs.read_text())
        for item in doc if isinstance(doc, list) else []:
            interface = item.get("interface", {}) if isinstance(item, dict) else {}
            if interface.get("slug") == "biological-structure" and isinstance(
                item.get("value"), str
            ):
                return item["value"]
    return None


def detect_contract(input_dir: Path) -> str:
    """``grand-challenge`` when ``input_dir/images`` exists, else ``folder``."""
    return "grand-challenge" if (input_dir / "images").is_dir() else "folder"


def run_grand_challenge(segment: Segmenter, *, input_dir: Path, output_dir: Path) -> Path:
    """Segment the one image of a grand-challenge style input; return the written mask's path."""
    folder = input_dir / GC_IMAGE_DIR
    if not folder.is_dir():
        raise ContractError(
            f"{folder}: missing; the grand-challenge contract puts the image there."
        )
    found = sorted(p for p in folder.iterdir() if _extension(p) is not None)
    if len(found) != 1:
        names = [p.name for p in folder.iterdir()]
        raise ContractError(f"{folder}: expected exactly one volume; found {names}.")
    source = found[0]
    structure = _structure_from_gc(input_dir)
    log(f"contract grand-challenge: {source.name}, structure {structure!r}")
    image, header = read_image(source)
    mask = segment(image, structure)
    ext = _extension(source)
    out_ext = ".tif" if ext in (".tif", ".tiff") else ".mha"
    stem = source.name[: -len(ext or "")]
    target = write_mask(output_dir / GC_OUTPUT_DIR / (stem + out_ext), mask, header)
    log(f"wrote {target} ({int(np.count_nonzero(mask))} foreground voxels)")
    return target


def run_folder(segment: Segmenter, *, input_dir: Path, output_dir: Path) -> list[Path]:
    """Segment every volume in ``input_dir``; masks go to ``output_dir`` under the same names."""
    structures: dict[str, str] = {}
    mapping = input_dir / "structures.json"
    if mapping.is_file():
        doc = json.loads(mapping.read_text())
        if not isinstance(doc, dict):
            raise ContractError(
                f"{mapping}: expected an object {{file name: structure}}; got {type(doc).__name__}."
            )
        structures = {str(k): str(v) for k, v in doc.items()}
    sources = sorted(p for p in input_dir.iterdir() if p.is_file() and _extension(p) is not None)
    if not sources:
        raise ContractError(f"{input_dir}: no volume found ({', '.join(VOLUME_EXTENSIONS)}).")
    log(f"contract folder: {len(sources)} volume(s)")
    written = []
    for source in sources:
        structure = structures.get(source.name)
        log(f"{source.name}: structure {structure!r}")
        image, header = read_image(source)
        mask = segment(image, structure)
        written.append(write_mask(output_dir / source.name, mask, header))
    return written


def run(
    segment: Segmenter,
    *,
    name: str,
    input_dir: str | Path = "/input",
    output_dir: str | Path = "/output",
    contracts: tuple[str, ...] = ("grand-challenge",),
) -> int:
    """Entry point of a baseline container: pick the contract, segment, write; return the exit code.

    Parameters
    ----------
    segment : callable
        ``segment(image, structure) -> mask``.
    name : str
        The baseline's name, for the log.
    input_dir, output_dir : str or Path
    contracts : tuple of str
        The contracts this submission supports; another one found in ``input_dir`` is an error.

    Returns
    -------
    int
        0 on success, 2 when the input does not follow a supported contract.
    """
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    start = time.perf_counter()
    contract = detect_contract(input_dir)
    log(f"{name}: input {input_dir} looks like the {contract} contract")
    if contract not in contracts:
        print(
            f"{name}: the {contract} contract is not supported (supported: {contracts})",
            file=sys.stderr,
        )
        return 2
    try:
        if contract == "grand-challenge":
            run_grand_challenge(segment, input_dir=input_dir, output_dir=output_dir)
        else:
            run_folder(segment, input_dir=input_dir, output_dir=output_dir)
    except (ContractError, json.JSONDecodeError) as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    log(f"{name}: done in {time.perf_counter() - start:.1f} s")
    return 0
