"""Output validation without Docker: hand-made files and arrays with hand-worked expectations."""

from __future__ import annotations

import gzip
import os

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
import tifffile

from harness.containers.cleanup import remove_tree
from harness.predictions.validate import (
    BinarizeRule,
    GateOptions,
    OutputLimits,
    binarize,
    save_mask,
    scan_output_tree,
    validate_prediction,
)
from harness.split.volume import Grid, read_volume

GRID = Grid((2, 3, 4), spacing=(2.0, 0.5, 0.5), origin=(1.0, 2.0, 3.0))


def write_mha(path, array, *, spacing_xyz=(0.5, 0.5, 2.0), origin=(1.0, 2.0, 3.0)):
    img = sitk.GetImageFromArray(array)
    img.SetSpacing(spacing_xyz)
    img.SetOrigin(origin)
    sitk.WriteImage(img, str(path))
    return path


@pytest.mark.parametrize(
    ("values", "dtype", "expected"),
    [
        ([0, 1, 1, 0], bool, [0, 1, 1, 0]),
        ([0, 1, 0, 1], np.uint8, [0, 1, 0, 1]),
        ([0.0, 1.0, 1.0, 0.0], np.float32, [0, 1, 1, 0]),  # a binary mask stored as floats
    ],
)
def test_binary_input_is_kept_without_a_warning(values, dtype, expected):
    result = binarize(np.array(values, dtype=dtype).reshape(1, 1, 4))
    assert (result.problem, result.warning) == ("", "")
    assert result.mask.dtype == np.uint8
    assert result.mask.ravel().tolist() == expected


@pytest.mark.parametrize(
    ("values", "dtype", "expected", "warning"),
    [
        # The official rule, > 0: every label, every positive probability or logit.
        ([0, 5, 255, 0], np.uint8, [0, 1, 1, 0], "integer output (values 0 to 255): 50%"),
        ([0, -1, 2, 0], np.int16, [0, 0, 1, 0], "integer output (values -1 to 2): 25%"),
        ([0.0, 0.01, 0.5, 1.0], np.float32, [0, 1, 1, 1], "float output (values 0 to 1): 75%"),
        ([-3.5, -0.1, 0.2, 4.0], np.float64, [0, 0, 1, 1], "float output (values -3.5 to 4): 50%"),
    ],
)
def test_non_binary_input_is_scored_under_the_rule_with_a_warning(values, dtype, expected, warning):
    result = binarize(np.array(values, dtype=dtype).reshape(1, 1, 4))
    assert result.mask.ravel().tolist() == expected
    assert result.warning.startswith(warning)
    assert result.warning.endswith("of voxels became foreground under the rule > 0")


def test_a_threshold_rule_is_value_at_or_above_it():
    rule = BinarizeRule(threshold=0.3)
    result = binarize(np.array([0.1, 0.3, 0.5, 0.9]).reshape(1, 1, 4), rule=rule)
    assert result.mask.ravel().tolist() == [0, 1, 1, 1]
    assert result.warning.endswith("75% of voxels became foreground under the rule >= 0.3")
    # A binary mask is a fixed point of every rule with a threshold in (0, 1].
    mask = np.array([0, 1, 1, 0], np.uint8).reshape(1, 1, 4)
    assert binarize(mask, rule=BinarizeRule(threshold=0.5)).mask.tolist() == mask.tolist()
    with pytest.raises(ValueError, match="finite"):
        BinarizeRule(threshold=float("inf"))


@pytest.mark.parametrize(
    ("values", "dtype", "words"),
    [
        ([0.0, np.nan, np.nan, 1.0], np.float32, "2 NaN and 0 infinite"),
        ([0.0, np.inf, 0.0, 1.0], np.float64, "0 NaN and 1 infinite"),
        ([0.0, -np.inf, 0.0, 1.0], np.float64, "0 NaN and 1 infinite"),
        ([0, 1j, 0, 0], np.complex64, "neither an integer nor a float"),
    ],
)
def test_binarize_refuses_what_no_rule_can_place(values, dtype, words):
    result = binarize(np.array(values, dtype=dtype).reshape(1, 1, 4))
    assert result.mask is None
    assert words in result.problem


def test_scan_counts_bytes_and_entries(tmp_path):
    (tmp_path / "images" / "x").mkdir(parents=True)
    (tmp_path / "images" / "x" / "a.mha").write_bytes(b"1" * 100)
    (tmp_path / "b.json").write_bytes(b"2" * 20)
    scan = scan_output_tree(tmp_path)
    assert (scan.total_bytes, scan.entries, scan.problem) == (120, 4, None)


def test_scan_rejects_a_symlink_without_following_it(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "p.mha").symlink_to("/etc/shadow")
    assert scan_output_tree(tmp_path).problem == (
        "/output/images/p.mha is a symlink (to /etc/shadow); links are not accepted"
    )


def test_scan_rejects_a_symlinked_folder(tmp_path):
    (tmp_path / "images").symlink_to("/etc")
    assert "is a symlink (to /etc)" in scan_output_tree(tmp_path).problem


def test_scan_rejects_a_hard_link(tmp_path):
    (tmp_path / "a.mha").write_bytes(b"x")
    os.link(tmp_path / "a.mha", tmp_path / "b.mha")
    assert "is a hard link (2 links)" in scan_output_tree(tmp_path).problem


def test_scan_rejects_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    assert scan_output_tree(tmp_path).problem.startswith(
        "/output/pipe is not a regular file (mode p"
    )


def test_scan_enforces_size_and_file_caps(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 11)
    assert (
        "size cap of 10 bytes"
        in scan_output_tree(tmp_path, limits=OutputLimits(max_bytes=10)).problem
    )
    for i in range(3):
        (tmp_path / f"f{i}").write_bytes(b"")
    assert "cap of 3 files" in scan_output_tree(tmp_path, limits=OutputLimits(max_files=3)).problem
    with pytest.raises(ValueError, match="must be positive"):
        OutputLimits(max_bytes=0)


def test_a_matching_mha_is_ok_and_binarized(tmp_path):
    array = np.zeros((2, 3, 4), np.float32)
    array[1, 2, 3] = 0.8
    array[0, 0, 0] = 0.2
    v = validate_prediction(write_mha(tmp_path / "p.mha", array), GRID)
    assert (v.status, v.reason) == ("ok", "")
    # The official rule, > 0: both non-zero voxels of the 24 are foreground.
    assert int(v.mask.sum()) == 2 and v.mask[1, 2, 3] == 1 and v.mask[0, 0, 0] == 1
    assert v.warnings == (
        "p.mha: float output (values 0 to 0.8): 8.33% of voxels became foreground under the "
        "rule > 0",
    )
    half = validate_prediction(tmp_path / "p.mha", GRID, options=GateOptions(
        binarize=BinarizeRule(threshold=0.5)))
    assert int(half.mask.sum()) == 1 and half.mask[1, 2, 3] == 1


def test_a_wrong_shape_is_caught_from_the_header(tmp_path):
    v = validate_prediction(write_mha(tmp_path / "p.mha", np.zeros((2, 3, 5), np.uint8)), GRID)
    assert v.status == "invalid_output"
    assert v.reason == "p.mha: shape (z, y, x) is (2, 3, 5), expected (2, 3, 4) (the input's)"


def test_differing_spacing_or_origin_is_scored_with_a_warning_naming_the_field(tmp_path):
    array = np.zeros((2, 3, 4), np.uint8)
    array[1, 1, 1] = 1
    p = write_mha(tmp_path / "p.mha", array, spacing_xyz=(1.0, 1.0, 1.5))
    v = validate_prediction(p, GRID)
    assert v.status == "ok" and int(v.mask.sum()) == 1 and v.reason == ""
    assert v.warnings == (
        "p.mha: spacing is (1.5, 1.0, 1.0), expected (2.0, 0.5, 0.5) (scored on the voxel grid)",
    )
    q = write_mha(tmp_path / "q.mha", array, origin=(0.0, 5.0, 0.0))
    assert [w.split(" is ")[0] for w in validate_prediction(q, GRID).warnings] == ["q.mha: origin"]


def test_strict_geometry_refuses_differing_spacing(tmp_path):
    strict = GateOptions(geometry="strict")
    p = write_mha(tmp_path / "p.mha", np.zeros((2, 3, 4), np.uint8), spacing_xyz=(1.0, 1.0, 1.5))
    v = validate_prediction(p, GRID, options=strict)
    assert v.status == "invalid_output"
    assert v.reason.startswith("p.mha: spacing is (1.5, 1.0, 1.0), expected (2.0, 0.5, 0.5)")
    assert "geometry: strict" in v.reason
    same = write_mha(tmp_path / "same.mha", np.zeros((2, 3, 4), np.uint8))
    assert validate_prediction(same, GRID, options=strict).status == "ok"


@pytest.mark.parametrize("strict", [False, True])
def test_an_output_without_geometry_scores_normally(tmp_path, strict):
    # What the SELMA3D 2026 example algorithm writes: GetImageFromArray, no CopyInformation.
    array = np.zeros((2, 3, 4), np.uint8)
    array[0, 1, 2] = 1
    sitk.WriteImage(sitk.GetImageFromArray(array), str(tmp_path / "p.mha"))
    sitk.WriteImage(sitk.GetImageFromArray(array), str(tmp_path / "p.nii.gz"))
    options = GateOptions(geometry="strict" if strict else "voxel")
    for name in ("p.mha", "p.nii.gz"):
        v = validate_prediction(tmp_path / name, GRID, options=options)
        assert (v.status, v.reason, v.warnings) == ("ok", "", ())
        assert v.mask[0, 1, 2] == 1 and int(v.mask.sum()) == 1


def test_a_header_bomb_is_refused_from_its_header(tmp_path):
    # 32000^3 uint8 voxels claimed by a header of a few dozen compressed bytes; reading the
    # voxels would need 32 TB.
    header = nib.Nifti1Header()
    header.set_data_shape((32000, 32000, 32000))
    header.set_data_dtype(np.uint8)
    bomb = tmp_path / "p.nii.gz"
    bomb.write_bytes(gzip.compress(header.binaryblock + b"\0" * 4))
    assert bomb.stat().st_size < 100
    v = validate_prediction(bomb, GRID)
    assert v.status == "invalid_output"
    assert "(32000, 32000, 32000) of uint8 (32,768,000,000,000 bytes), over the cap of 192" in (
        v.reason
    )


def test_a_header_with_the_wrong_dimensions_or_type_is_refused(tmp_path):
    flat = write_mha(tmp_path / "p.mha", np.zeros((3, 4), np.uint8), spacing_xyz=(1.0, 1.0),
                     origin=(0.0, 0.0))
    assert validate_prediction(flat, GRID).reason == (
        "p.mha: expected a 3D volume (z, y, x), the header declares shape (3, 4)"
    )
    vec = sitk.GetImageFromArray(np.zeros((2, 3, 4, 3), np.float32), isVector=True)
    sitk.WriteImage(vec, str(tmp_path / "v.mha"))
    assert "voxel type 3 components of" in validate_prediction(tmp_path / "v.mha", GRID).reason


def test_nans_in_a_file_are_invalid(tmp_path):
    array = np.full((2, 3, 4), 0.9, np.float32)
    array[0, 0, :3] = np.nan
    v = validate_prediction(write_mha(tmp_path / "p.mha", array), GRID)
    assert v.status == "invalid_output" and "3 NaN" in v.reason and v.mask is None
    array[0, 0, :3] = -np.inf
    v = validate_prediction(write_mha(tmp_path / "q.mha", array), GRID)
    assert v.status == "invalid_output" and "3 infinite" in v.reason


def test_a_folder_named_like_a_prediction_is_not_a_file(tmp_path):
    (tmp_path / "p.nii.gz").mkdir()
    v = validate_prediction(tmp_path / "p.nii.gz", GRID)
    assert (v.status, v.reason) == ("invalid_output", "p.nii.gz is a folder, not a prediction file")


def test_garbage_is_unreadable(tmp_path):
    (tmp_path / "p.mha").write_bytes(b"this is not an image")
    v = validate_prediction(tmp_path / "p.mha", GRID)
    assert v.status == "invalid_output" and "p.mha is unreadable" in v.reason


def test_a_link_given_as_the_prediction_is_never_read(tmp_path):
    target = write_mha(tmp_path / "real.mha", np.zeros((2, 3, 4), np.uint8))
    (tmp_path / "p.mha").symlink_to(target)
    v = validate_prediction(tmp_path / "p.mha", GRID)
    assert v.status == "invalid_output" and "is a symlink" in v.reason


def test_tiff_is_compared_by_shape_only(tmp_path):
    array = np.zeros((2, 3, 4), np.uint8)
    array[0, 1, 2] = 1
    tifffile.imwrite(tmp_path / "p.tif", array)
    v = validate_prediction(tmp_path / "p.tif", GRID)
    assert v.status == "ok" and v.mask[0, 1, 2] == 1 and int(v.mask.sum()) == 1
    tifffile.imwrite(tmp_path / "q.tif", np.zeros((2, 4, 4), np.uint8))
    assert "shape (z, y, x) is (2, 4, 4)" in validate_prediction(tmp_path / "q.tif", GRID).reason


def test_save_mask_writes_uint8_on_the_grid_and_leaves_no_temporary(tmp_path):
    mask = np.zeros((2, 3, 4), np.uint8)
    mask[1, 1, 1] = 1
    dest = save_mask(mask, GRID, tmp_path / "preds" / "case_1.nii.gz")
    vol = read_volume(dest)
    assert vol.array.dtype == np.uint8 and vol.array[1, 1, 1] == 1 and int(vol.array.sum()) == 1
    assert GRID.mismatch(vol.grid) is None
    assert sorted(p.name for p in (tmp_path / "preds").iterdir()) == ["case_1.nii.gz"]


def test_scan_refuses_folders_nested_3000_deep_under_any_file_cap(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    here = os.getcwd()
    try:
        os.chdir(out)
        for _ in range(3000):  # relative steps: the full path is longer than a path may be
            os.mkdir("d")
            os.chdir("d")
    finally:
        os.chdir(here)
    scan = scan_output_tree(out, limits=OutputLimits(max_files=10**6))
    remove_tree(out)  # pytest's own removal of tmp_path recurses
    # 64 folders entered, then the 65th found inside the 64th.
    assert (scan.entries, scan.problem) == (
        64,
        "/output/d/d/d/.../d/d lies 64 folders deep and holds more; /output may nest folders "
        "at most 64 deep",
    )
