"""Finds every input through /input/inputs.json's "interface" key, and no other.

The image is /input/<interface.relative_path>/<image.name>; the mask, above the image's 90th
percentile, goes to the output socket's folder.
"""

import json
from pathlib import Path

import numpy
import SimpleITK

KEY = "interface"
INPUT = Path("/input")
OUTPUT = Path("/output/images/isolated-biological-structure")


def main():
    entries = json.loads((INPUT / "inputs.json").read_text())
    by_slug = {entry[KEY]["slug"]: entry for entry in entries}
    entry = by_slug["light-sheet-3d-microscopy"]
    if entry[KEY]["super_kind"] != "Image":
        raise SystemExit(f"expected an image socket, got {entry[KEY]}")
    path = INPUT / entry[KEY]["relative_path"] / entry["image"]["name"]
    image = SimpleITK.ReadImage(str(path))
    array = SimpleITK.GetArrayFromImage(image)
    mask = SimpleITK.GetImageFromArray((array > numpy.quantile(array, 0.9)).astype(numpy.uint8))
    mask.CopyInformation(image)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    SimpleITK.WriteImage(mask, str(OUTPUT / "output.mha"), useCompression=True)
    print(f"read {path} through '{KEY}'")


if __name__ == "__main__":
    main()
