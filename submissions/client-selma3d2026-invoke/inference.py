"""A threshold "model" in the shape of the SELMA3D 2026 example algorithm.

init_model() -- called once when the server starts: reads the model from /opt/ml/model.
run(model)   -- called for each POST /invoke: reads /input, writes /output.

Which handler runs is chosen by the sorted socket slugs of /input/inputs.json, as the example
does (it reads each entry's "socket").
"""

import glob
import json
from pathlib import Path

import numpy
import SimpleITK

INPUT_PATH = Path("/input")
OUTPUT_PATH = Path("/output")
MODEL_PATH = Path("/opt/ml/model")


def init_model():
    """Load the model: the quantile above which a voxel is foreground."""
    model = json.loads((MODEL_PATH / "threshold.json").read_text())
    # A resource in a subfolder of the model tarball, as the example reads one.
    with open(MODEL_PATH / "a_tarball_subdirectory" / "some_tarball_resource.txt") as f:
        print(f.read().strip())
    print(f"model loaded: {model}")
    return model


def run(model):
    handler = {
        ("light-sheet-3d-microscopy",): interf0_handler,
    }[get_interface_key()]
    return handler(model)


def interf0_handler(model):
    image = load_image_file_as_array(location=INPUT_PATH / "images/light-sheet-3d-microscopy")
    cut = numpy.quantile(image, float(model["quantile"]))
    mask = (image > cut).astype(numpy.int8)
    write_array_as_image_file(
        location=OUTPUT_PATH / "images/isolated-biological-structure", array=mask
    )
    return 0


def get_interface_key():
    inputs = load_json_file(location=INPUT_PATH / "inputs.json")
    return tuple(sorted(sv["socket"]["slug"] for sv in inputs))


def load_json_file(*, location):
    with open(location) as f:
        return json.loads(f.read())


def load_image_file_as_array(*, location):
    input_files = (
        glob.glob(str(location / "*.tif"))
        + glob.glob(str(location / "*.tiff"))
        + glob.glob(str(location / "*.mha"))
    )
    result = SimpleITK.ReadImage(input_files[0])
    return SimpleITK.GetArrayFromImage(result)


def write_array_as_image_file(*, location, array):
    location.mkdir(parents=True, exist_ok=True)
    # No spacing or origin copied from the input: the mask is judged on the voxel grid.
    image = SimpleITK.GetImageFromArray(array)
    SimpleITK.WriteImage(image, location / "output.mha", useCompression=True)
