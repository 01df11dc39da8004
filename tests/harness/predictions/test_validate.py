"""Output validation without Docker: hand-made files and arrays with hand-worked expectations."""

from __future__ import annotations

import os

import numpy as np
import pytest
import SimpleITK as sitk
import tifffile

from harness.predictions.validate import (
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
        ([0, 5, 255, 0], np.uint8, [0, 1, 1, 0]),  # label masks: every label is foreground
        ([0, 2, 7, 0], np.int32, [0, 1, 1, 0]),
        ([0.0, 0.49, 0.5, 1.0], np.float32, [0, 0, 1, 1]),  # probabilities at 0.5
        ([0.0, 2.0, 3.0, 0.0], np.float64, [0, 1, 1, 0]),  # integer labels stored as floats
    ],
)
def test_binarize_accepts_masks_labels_and_probabilities(values, dtype, expected):
    mask, why = binarize(np.array(values, dtype=dtype).reshape(1, 1, 4))
    assert why == ""
    assert mask.dtype == np.uint8
    assert mask.ravel().tolist() == expected


def test_binarize_threshold_is_configurable():
    mask, _ = binarize(np.array([0.1, 0.3, 0.5, 0.9]).reshape(1, 1, 4), threshold=0.3)
    assert mask.ravel().tolist() == [0, 1, 1, 1]
    with pytest.raises(ValueError, match="threshold must be in"):
        binarize(np.zeros((1, 1, 1)), threshold=0)


@pytest.mark.parametrize(
    ("values", "dtype", "words"),
    [
        ([0, -1, 1, 0], np.int16, "negative values (min -1)"),
        ([0.0, -0.5, 0.5, 0.0], np.float32, "negative values (min -0.5)"),
        ([0.0, np.nan, np.nan, 1.0], np.float32, "2 NaN and 0 infinite"),
        ([0.0, np.inf, 0.0, 1.0], np.float64, "0 NaN and 1 infinite"),
        ([0.0, 1.5, 2.0, 0.0], np.float32, "not integer labels (e.g. 1.5)"),
        ([0, 1j, 0, 0], np.complex64, "neither an integer nor a float"),
    ],
)
def test_binarize_rejects_what_is_neither_mask_nor_probabilities(values, dtype, words):
    mask, why = binarize(np.array(values, dtype=dtype).reshape(1, 1, 4))
    assert mask is None
    assert words in why


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
    assert int(v.mask.sum()) == 1 and v.mask[1, 2, 3] == 1


def test_a_wrong_shape_is_caught_from_the_header(tmp_path):
    v = validate_prediction(write_mha(tmp_path / "p.mha", np.zeros((2, 3, 5), np.uint8)), GRID)
    assert v.status == "invalid_output"
    assert v.reason == "p.mha: shape (z, y, x) is (2, 3, 5), expected (2, 3, 4) (the input's)"


def test_a_wrong_spacing_or_origin_is_invalid(tmp_path):
    p = write_mha(tmp_path / "p.mha", np.zeros((2, 3, 4), np.uint8), spacing_xyz=(1.0, 1.0, 1.0))
    assert (
        "spacing is (1.0, 1.0, 1.0), expected (2.0, 0.5, 0.5)"
        in validate_prediction(p, GRID).reason
    )
    q = write_mha(tmp_path / "q.mha", np.zeros((2, 3, 4), np.uint8), origin=(0.0, 0.0, 0.0))
    assert "origin is (0.0, 0.0, 0.0)" in validate_prediction(q, GRID).reason


def test_nans_in_a_file_are_invalid(tmp_path):
    array = np.full((2, 3, 4), 0.9, np.float32)
    array[0, 0, :3] = np.nan
    v = validate_prediction(write_mha(tmp_path / "p.mha", array), GRID)
    assert v.status == "invalid_output" and "3 NaN" in v.reason and v.mask is None


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
