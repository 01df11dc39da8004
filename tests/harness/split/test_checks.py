"""A split's volume checks: what makes a label unusable as a reference, every problem named.

Volumes are written with nibabel (an independent writer): its arrays are ``(x, y, z)``, which
selma3d reads as ``(z, y, x)``.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from harness.errors import VolumeError
from harness.split.checks import (
    check_case_volumes,
    image_grid,
    read_reference,
    reference_problems,
)

WHERE = "case 'c01'"


def nifti(path: Path, data_xyz: np.ndarray) -> Path:
    nib.save(nib.Nifti1Image(data_xyz, np.eye(4)), path)
    return path


def xyz(shape_zyx: tuple[int, int, int], dtype: type = np.uint8) -> np.ndarray:
    return np.zeros(shape_zyx[::-1], dtype)


@pytest.mark.parametrize(
    "label",
    [
        np.zeros((2, 3, 4), np.uint8),
        np.ones((2, 3, 4), bool),
        np.full((2, 3, 4), 0.5, np.float32),
        np.full((2, 3, 4), 7, np.int16),
    ],
)
def test_a_non_negative_real_label_of_the_images_shape_is_usable(label):
    assert reference_problems(label, (2, 3, 4)) == []


def test_an_empty_label_of_the_images_shape_is_usable():
    assert reference_problems(np.zeros((0, 3, 4), np.int8), (0, 3, 4)) == []


def test_a_label_of_another_shape():
    assert reference_problems(np.zeros((2, 3, 4), np.uint8), (2, 3, 5)) == [
        "shape (z, y, x) is (2, 3, 4), expected (2, 3, 5) (the image's)"
    ]


def test_a_label_that_is_not_numbers_is_named_after_its_shape():
    label = np.full((1, 1, 2), "a")
    assert reference_problems(label, (1, 1, 3)) == [
        "shape (z, y, x) is (1, 1, 2), expected (1, 1, 3) (the image's)",
        "data type <U1 is not a mask (expected integers or floats)",
    ]
    assert reference_problems(np.zeros((1, 1, 2), complex), (1, 1, 2)) == [
        "data type complex128 is not a mask (expected integers or floats)"
    ]


def test_nan_and_infinite_values_are_counted_apart():
    label = np.array([[[np.nan, np.nan, np.inf, -np.inf, 0.0, 1.0]]])
    # -inf is counted once, as infinite, and not again as a negative value.
    assert reference_problems(label, (1, 1, 6)) == [
        "2 NaN and 2 infinite value(s); expected a binary mask"
    ]


def test_a_negative_value_names_the_minimum():
    label = np.array([[[0, -3, 1, -1]]], np.int8)
    assert reference_problems(label, (1, 1, 4)) == [
        "negative values (min -3); expected a binary mask"
    ]
    assert reference_problems(np.array([[[0.0, -0.25]]]), (1, 1, 2)) == [
        "negative values (min -0.25); expected a binary mask"
    ]


def test_a_case_on_one_grid_has_no_problem(tmp_path):
    images = [nifti(tmp_path / f"c01_{i:04d}.nii.gz", xyz((2, 3, 4))) for i in range(2)]
    label = nifti(tmp_path / "c01_label.nii.gz", xyz((2, 3, 4)))
    assert check_case_volumes(images, label, where=WHERE) == []
    assert check_case_volumes(images, None, where=WHERE) == []


def test_every_problem_of_a_case_is_listed_with_where(tmp_path):
    image = nifti(tmp_path / "c01_0000.nii.gz", xyz((2, 3, 4)))
    channel = nifti(tmp_path / "c01_0001.nii.gz", xyz((2, 3, 5)))
    label_xyz = xyz((2, 3, 5), np.float32)
    label_xyz[0, 0, 0] = np.nan
    label = nifti(tmp_path / "c01_label.nii.gz", label_xyz)
    assert check_case_volumes([image, channel], label, where=WHERE) == [
        f"{WHERE}: channel c01_0001.nii.gz differs from c01_0000.nii.gz: "
        "shape (z, y, x) is (2, 3, 5), expected (2, 3, 4)",
        f"{WHERE}: label and image grids differ: label shape (z, y, x) is (2, 3, 5), "
        "expected (2, 3, 4)",
        f"{WHERE}: label contains NaN; expected a binary mask",
    ]


def test_unreadable_files_are_problems_not_exceptions(tmp_path):
    broken = tmp_path / "c01_0000.nii.gz"
    broken.write_bytes(b"not a volume")
    label = tmp_path / "c01_label.nii.gz"
    label.write_bytes(b"")
    problems = check_case_volumes([broken], label, where=WHERE)
    assert len(problems) == 2
    assert problems[0].startswith(f"{WHERE}: image unreadable: ")
    assert problems[1].startswith(f"{WHERE}: label unreadable: ")


def test_a_reference_is_read_with_its_images_grid(tmp_path):
    data = xyz((2, 3, 4))
    data[3, 2, 1] = 1  # x=3, y=2, z=1
    label = nifti(tmp_path / "c01_label.nii.gz", data)
    image = nifti(tmp_path / "c01_0000.nii.gz", xyz((2, 3, 4), np.float32))
    array, grid = read_reference(label, image, where=WHERE)
    assert grid.shape == (2, 3, 4)
    assert image_grid(image).shape == (2, 3, 4)
    assert array.shape == (2, 3, 4)
    assert list(zip(*np.nonzero(array), strict=True)) == [(1, 2, 3)]


def test_a_reference_that_cannot_be_used_names_the_case_the_label_and_the_problems(tmp_path):
    data = xyz((2, 3, 5), np.int16)
    data[0, 0, 0] = -1
    label = nifti(tmp_path / "c01_label.nii.gz", data)
    image = nifti(tmp_path / "c01_0000.nii.gz", xyz((2, 3, 4)))
    with pytest.raises(VolumeError) as caught:
        read_reference(label, image, where=WHERE)
    assert str(caught.value) == (
        f"{WHERE}: label {label} cannot be used as a reference: "
        "shape (z, y, x) is (2, 3, 5), expected (2, 3, 4) (the image's); "
        "negative values (min -1); expected a binary mask"
    )


def test_an_unreadable_image_or_label_is_named(tmp_path):
    good = nifti(tmp_path / "good.nii.gz", xyz((2, 3, 4)))
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"not a volume")
    with pytest.raises(VolumeError, match=r"^case 'c01': image unreadable: "):
        read_reference(good, broken, where=WHERE)
    with pytest.raises(VolumeError, match=r"^case 'c01': label unreadable: "):
        read_reference(broken, good, where=WHERE)
