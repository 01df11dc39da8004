"""Input and output of the grand-challenge contract, shared by the misbehaving test containers."""

from pathlib import Path

import numpy as np
import SimpleITK as sitk

SRC = next(Path("/input/images/light-sheet-3d-microscopy").iterdir())
DEST = Path("/output/images/isolated-biological-structure") / (SRC.stem + ".mha")


def write(array, like=None):
    img = sitk.GetImageFromArray(array)
    if like is not None:
        img.CopyInformation(like)
    DEST.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(img, str(DEST))


def write_valid_mask():
    image = sitk.ReadImage(str(SRC))
    array = sitk.GetArrayFromImage(image)
    write((array > np.median(array)).astype(np.uint8), image)
