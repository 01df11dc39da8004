"""Template submission: segment bright structures by thresholding normalised intensity.

Replace `segment` with your method; keep the input/output handling, which implements both
selma3d container contracts:

grand-challenge (one case per run)
    reads  /input/images/light-sheet-3d-microscopy/<uuid>.mha (or .tif)
    writes /output/images/isolated-biological-structure/<same uuid>.mha
folder (many cases per run)
    reads  /input/<name>.nii.gz for every case
    writes /output/<name>.nii.gz

The structure name, when the round provides it, is in /input/biological-structure.json
(grand-challenge) or /input/structures.json (folder).
"""

import json
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

INPUT = Path("/input")
OUTPUT = Path("/output")
GC_INPUT = INPUT / "images" / "light-sheet-3d-microscopy"
GC_OUTPUT = OUTPUT / "images" / "isolated-biological-structure"


def segment(image: np.ndarray, structure: str | None) -> np.ndarray:
    """Return a uint8 0/1 mask of the same shape as `image` (z, y, x)."""
    lo, hi = np.percentile(image, (1.0, 99.9))
    normalised = np.clip((image.astype(np.float32) - lo) / max(float(hi - lo), 1e-6), 0.0, 1.0)
    # Foreground: well above the background level of this patch.
    threshold = float(normalised.mean() + 2.0 * normalised.std())
    return (normalised > min(threshold, 0.9)).astype(np.uint8)


def predict_file(src: Path, dest: Path, structure: str | None) -> None:
    image = sitk.ReadImage(str(src))
    mask = sitk.GetImageFromArray(segment(sitk.GetArrayFromImage(image), structure))
    mask.CopyInformation(image)  # same grid: spacing, origin, direction
    dest.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(mask, str(dest), useCompression=True)
    print(f"wrote {dest.name}: {int(sitk.GetArrayViewFromImage(mask).sum())} foreground voxels")


def main() -> int:
    if GC_INPUT.is_dir():
        structure_file = INPUT / "biological-structure.json"
        structure = json.loads(structure_file.read_text()) if structure_file.is_file() else None
        images = sorted(p for p in GC_INPUT.iterdir() if p.suffix in (".mha", ".tif", ".tiff"))
        if len(images) != 1:
            print(f"expected one input image in {GC_INPUT}, found {len(images)}", file=sys.stderr)
            return 2
        src = images[0]
        predict_file(src, GC_OUTPUT / f"{src.stem}.mha", structure)
        return 0
    structures_file = INPUT / "structures.json"
    structures = json.loads(structures_file.read_text()) if structures_file.is_file() else {}
    cases = sorted(INPUT.glob("*.nii.gz"))
    if not cases:
        print("no input found in /input", file=sys.stderr)
        return 2
    for src in cases:
        predict_file(src, OUTPUT / src.name, structures.get(src.name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
