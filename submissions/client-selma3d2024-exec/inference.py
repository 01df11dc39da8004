"""A threshold algorithm in the SELMA3D 2024 layout: one case per container run.

Reads the image from /input/images/<socket>/ (``*.tiff`` or ``*.mha``, as the 2024 example
globbed), its parameters from resources/ inside the image, and writes one mask to
/output/images/<socket>/output.mha. The socket names are the round's.
"""

import json
from glob import glob
from pathlib import Path

import numpy
import SimpleITK

INPUT_PATH = Path("/input")
OUTPUT_PATH = Path("/output")
RESOURCE_PATH = Path("resources")


def run():
    image = load_image_file_as_array(location=INPUT_PATH / "images/light-sheet-3d-microscopy")
    params = json.loads((RESOURCE_PATH / "threshold.json").read_text())
    cut = numpy.quantile(image, float(params["quantile"]))
    mask = (image > cut).astype(numpy.uint8)
    write_array_as_image_file(
        location=OUTPUT_PATH / "images/isolated-biological-structure", array=mask
    )
    return 0


def load_image_file_as_array(*, location):
    input_files = glob(str(location / "*.tiff")) + glob(str(location / "*.mha"))
    result = SimpleITK.ReadImage(input_files[0])
    return SimpleITK.GetArrayFromImage(result)


def write_array_as_image_file(*, location, array):
    location.mkdir(parents=True, exist_ok=True)
    image = SimpleITK.GetImageFromArray(array)
    SimpleITK.WriteImage(image, location / "output.mha", useCompression=True)


if __name__ == "__main__":
    raise SystemExit(run())
