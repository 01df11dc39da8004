"""A threshold algorithm in the form grand-challenge-forge generates.

It runs once per case: picks the handler for the sorted slugs of the input sockets listed in
/input/inputs.json (its "interface" key, as the generated template reads it), reads each input
socket from its relative path, and writes each output socket.
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
    interface_key = get_interface_key()
    handler = {
        ("light-sheet-3d-microscopy",): interf0_handler,
        ("biological-structure", "light-sheet-3d-microscopy"): interf1_handler,
    }[interface_key]
    return handler()


def interf0_handler():
    input_light_sheet_3d_microscopy = load_image_file_as_array(
        location=INPUT_PATH / "images/light-sheet-3d-microscopy",
    )
    return segment(input_light_sheet_3d_microscopy, structure=None)


def interf1_handler():
    input_light_sheet_3d_microscopy = load_image_file_as_array(
        location=INPUT_PATH / "images/light-sheet-3d-microscopy",
    )
    input_biological_structure = load_json_file(
        location=INPUT_PATH / "biological-structure.json",
    )
    return segment(input_light_sheet_3d_microscopy, structure=input_biological_structure)


def segment(image, *, structure):
    # Option 1: resources inside the container image.
    with open(RESOURCE_PATH / "some_resource.txt") as f:
        print(f.read().strip())
    # Option 2: resources in the model tarball, extracted to /opt/ml/model.
    model_dir = Path("/opt/ml/model")
    with open(model_dir / "a_tarball_subdirectory" / "some_tarball_resource.txt") as f:
        print(f.read().strip())
    params = load_json_file(location=model_dir / "threshold.json")
    print(f"structure: {structure}")

    cut = numpy.quantile(image, float(params["quantile"]))
    output_isolated_biological_structure = (image > cut).astype(numpy.uint8)

    write_array_as_image_file(
        location=OUTPUT_PATH / "images/isolated-biological-structure",
        array=output_isolated_biological_structure,
    )
    return 0


def get_interface_key():
    inputs = load_json_file(
        location=INPUT_PATH / "inputs.json",
    )
    socket_slugs = [sv["interface"]["slug"] for sv in inputs]
    return tuple(sorted(socket_slugs))


def load_json_file(*, location):
    with open(location) as f:
        return json.loads(f.read())


def load_image_file_as_array(*, location):
    input_files = (
        glob(str(location / "*.tif"))
        + glob(str(location / "*.tiff"))
        + glob(str(location / "*.mha"))
    )
    result = SimpleITK.ReadImage(input_files[0])
    return SimpleITK.GetArrayFromImage(result)


def write_array_as_image_file(*, location, array):
    location.mkdir(parents=True, exist_ok=True)
    suffix = ".mha"
    image = SimpleITK.GetImageFromArray(array)
    SimpleITK.WriteImage(
        image,
        location / f"output{suffix}",
        useCompression=True,
    )


if __name__ == "__main__":
    raise SystemExit(run())
