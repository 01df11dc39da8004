"""Template invoke submission: load the model once, then segment one case per call.

Replace `init_model` and `segment` with your method. grand-challenge (and selma3d) call:

init_model()
    once, when the container starts; the model weights are in /opt/ml/model (read-only), shipped
    apart from the image as a tarball (`tar -czf model.tar.gz -C model .`).
run(model)
    once per case: reads /input/images/light-sheet-3d-microscopy/<uuid>.mha and writes
    /output/images/isolated-biological-structure/output.mha.

The structure name, when the round provides it, is in /input/biological-structure.json.
"""

import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk

MODEL_DIR = Path("/opt/ml/model")
INPUT = Path("/input")
IMAGES = INPUT / "images" / "light-sheet-3d-microscopy"
OUTPUT = Path("/output/images/isolated-biological-structure/output.mha")


def init_model() -> dict:
    """Load the model once. Here: the threshold rule's parameters from params.json."""
    params = MODEL_DIR / "params.json"
    if not params.is_file():
        raise FileNotFoundError(
            f"{params} is missing: pass the model with `selma3d check . --model model` "
            "(a folder or a .tar.gz of it)"
        )
    model = json.loads(params.read_text())
    print(f"loaded {params}: {model}", flush=True)
    return model


def segment(image: np.ndarray, structure: str | None, model: dict) -> np.ndarray:
    """Return a uint8 0/1 mask of the same shape as `image` (z, y, x)."""
    lo, hi = np.percentile(image, (1.0, 99.9))
    normalised = np.clip((image.astype(np.float32) - lo) / max(float(hi - lo), 1e-6), 0.0, 1.0)
    # Foreground: well above the background level of this patch.
    threshold = float(normalised.mean() + model["stds_above_mean"] * normalised.std())
    return (normalised > min(threshold, model["max_threshold"])).astype(np.uint8)


def run(model: dict) -> None:
    """Segment the case staged in /input into /output."""
    images = sorted(p for p in IMAGES.iterdir() if p.suffix in (".mha", ".tif", ".tiff"))
    if len(images) != 1:
        raise ValueError(f"expected one input image in {IMAGES}, found {len(images)}")
    structure_file = INPUT / "biological-structure.json"
    structure = json.loads(structure_file.read_text()) if structure_file.is_file() else None
    image = sitk.ReadImage(str(images[0]))
    mask = sitk.GetImageFromArray(segment(sitk.GetArrayFromImage(image), structure, model))
    mask.CopyInformation(image)  # same grid: spacing, origin, direction
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(mask, str(OUTPUT), useCompression=True)
    print(f"wrote {OUTPUT.name}: {int(sitk.GetArrayViewFromImage(mask).sum())} foreground voxels")
