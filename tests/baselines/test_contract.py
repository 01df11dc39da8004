import json

import numpy as np
import pytest
import SimpleITK as sitk
import tifffile

from baselines import contract


def _mha(path, array, spacing=(0.5, 0.7, 2.0), origin=(1.0, 2.0, 3.0)):
    img = sitk.GetImageFromArray(array)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(img, str(path))


def _recorder(calls):
    def segment(image, structure):
        calls.append((image.shape, structure))
        return image > 5

    return segment


@pytest.fixture
def image():
    arr = np.zeros((6, 7, 8), np.float32)
    arr[2:4, 2:5, 3:6] = 10.0
    return arr


def test_grand_challenge_mha_round_trip_keeps_the_grid(tmp_path, image):
    inp, out = tmp_path / "input", tmp_path / "output"
    _mha(inp / contract.GC_IMAGE_DIR / "3f2a.mha", image)
    (inp / "biological-structure.json").write_text(json.dumps("microglia"))
    calls = []
    assert contract.run(_recorder(calls), name="t", input_dir=inp, output_dir=out) == 0
    assert calls == [((6, 7, 8), "microglia")]
    written = list((out / contract.GC_OUTPUT_DIR).iterdir())
    assert [p.name for p in written] == ["3f2a.mha"]
    mask = sitk.ReadImage(str(written[0]))
    assert mask.GetSpacing() == (0.5, 0.7, 2.0) and mask.GetOrigin() == (1.0, 2.0, 3.0)
    arr = sitk.GetArrayFromImage(mask)
    assert arr.dtype == np.uint8 and arr.sum() == 2 * 3 * 3


def test_grand_challenge_structure_from_inputs_json_socket(tmp_path, image):
    inp, out = tmp_path / "input", tmp_path / "output"
    _mha(inp / contract.GC_IMAGE_DIR / "a.mha", image)
    (inp / "inputs.json").write_text(
        json.dumps(
            [
                {"interface": {"slug": "light-sheet-3d-microscopy"}, "image": {}},
                {"interface": {"slug": "biological-structure"}, "value": "cfos"},
            ]
        )
    )
    calls = []
    assert contract.run(_recorder(calls), name="t", input_dir=inp, output_dir=out) == 0
    assert calls[0][1] == "cfos"


def test_grand_challenge_without_structure_passes_none(tmp_path, image):
    inp, out = tmp_path / "input", tmp_path / "output"
    _mha(inp / contract.GC_IMAGE_DIR / "a.mha", image)
    calls = []
    contract.run(_recorder(calls), name="t", input_dir=inp, output_dir=out)
    assert calls[0][1] is None


def test_grand_challenge_tif_in_tif_out(tmp_path, image):
    inp, out = tmp_path / "input", tmp_path / "output"
    (inp / contract.GC_IMAGE_DIR).mkdir(parents=True)
    tifffile.imwrite(
        inp / contract.GC_IMAGE_DIR / "b.tif",
        image,
        imagej=True,
        resolution=(1 / 0.5, 1 / 0.5),
        metadata={"spacing": 2.0, "axes": "ZYX"},
    )
    assert contract.run(_recorder([]), name="t", input_dir=inp, output_dir=out) == 0
    target = out / contract.GC_OUTPUT_DIR / "b.tif"
    with tifffile.TiffFile(target) as tif:
        assert tif.asarray().sum() == 18
        assert tif.imagej_metadata["spacing"] == 2.0


def test_grand_challenge_two_images_is_a_contract_error(tmp_path, image, capsys):
    inp = tmp_path / "input"
    _mha(inp / contract.GC_IMAGE_DIR / "a.mha", image)
    _mha(inp / contract.GC_IMAGE_DIR / "b.mha", image)
    assert contract.run(_recorder([]), name="t", input_dir=inp, output_dir=tmp_path / "o") == 2
    assert "exactly one volume" in capsys.readouterr().err


def test_folder_contract_with_structures(tmp_path, image):
    inp, out = tmp_path / "input", tmp_path / "output"
    _mha(inp / "case_a.nii.gz", image)
    _mha(inp / "case_b.nii.gz", image * 0)
    (inp / "structures.json").write_text(json.dumps({"case_a.nii.gz": "blood_vessel"}))
    calls = []
    code = contract.run(
        _recorder(calls),
        name="t",
        input_dir=inp,
        output_dir=out,
        contracts=("grand-challenge", "folder"),
    )
    assert code == 0
    assert calls == [((6, 7, 8), "blood_vessel"), ((6, 7, 8), None)]
    assert sorted(p.name for p in out.iterdir()) == ["case_a.nii.gz", "case_b.nii.gz"]
    assert sitk.GetArrayFromImage(sitk.ReadImage(str(out / "case_a.nii.gz"))).sum() == 18


def test_unsupported_contract_is_refused(tmp_path, image):
    inp = tmp_path / "input"
    _mha(inp / "case_a.nii.gz", image)
    assert contract.run(_recorder([]), name="t", input_dir=inp, output_dir=tmp_path / "o") == 2
