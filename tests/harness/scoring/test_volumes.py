"""The volumes a leaderboard report draws: the split's, read back with nibabel; predictions gated.

nibabel (an independent reader) gives arrays as ``(x, y, z)``; selma3d's are ``(z, y, x)``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from common.errors import ResultsError
from harness.scoring.volumes import SplitVolumes
from harness.split.synth import synthesize_split

SIZE = (24, 24, 24)


def zyx(path: Path) -> np.ndarray:
    return np.asarray(nib.load(path).dataobj).transpose(2, 1, 0)


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return synthesize_split(tmp_path_factory.mktemp("split"), cases=2, size=SIZE, seed=3)


def test_images_and_references_are_the_files_voxels(split):
    volumes = SplitVolumes(split, base_dir=None)
    for case in split.cases:
        np.testing.assert_allclose(volumes.image(case.case_id), zyx(case.image))
        np.testing.assert_array_equal(volumes.reference(case.case_id), zyx(case.label))
    # Not vacuous: some case has foreground.
    assert any(zyx(case.label).any() for case in split.cases)


def test_an_unlabeled_case_has_no_reference(tmp_path):
    unlabeled = synthesize_split(tmp_path / "split", cases=1, size=SIZE, seed=3, labeled=False)
    (case,) = unlabeled.cases
    assert SplitVolumes(unlabeled, base_dir=None).reference(case.case_id) is None


def test_a_prediction_is_read_from_the_results_folder_as_its_mask(split, tmp_path):
    case = next(c for c in split.cases if zyx(c.label).any())
    (tmp_path / "preds").mkdir()
    shutil.copy(case.label, tmp_path / "preds" / "p.nii.gz")
    relative = SplitVolumes(split, base_dir=tmp_path).prediction(case.case_id, "preds/p.nii.gz")
    np.testing.assert_array_equal(relative != 0, zyx(case.label) > 0)
    absolute = SplitVolumes(split, base_dir=None).prediction(
        case.case_id, str(tmp_path / "preds" / "p.nii.gz")
    )
    np.testing.assert_array_equal(absolute, relative)


def test_a_relative_path_needs_the_results_folder(split):
    case_id = split.cases[0].case_id
    with pytest.raises(ResultsError) as caught:
        SplitVolumes(split, base_dir=None).prediction(case_id, "preds/p.nii.gz")
    assert str(caught.value) == (
        f"preds/p.nii.gz: 1 problem(s):\n"
        f"  - case {case_id!r}: a relative prediction path needs the results' folder"
    )


@pytest.mark.parametrize("kind", ["missing", "another grid", "not a volume"])
def test_a_prediction_that_fails_the_gate_names_the_file_and_the_case(split, tmp_path, kind):
    case = split.cases[0]
    path = tmp_path / "p.nii.gz"
    if kind == "another grid":
        nib.save(nib.Nifti1Image(np.zeros((SIZE[0], SIZE[1], 7), np.uint8), np.eye(4)), path)
    elif kind == "not a volume":
        path.write_bytes(b"not a volume")
    with pytest.raises(ResultsError) as caught:
        SplitVolumes(split, base_dir=tmp_path).prediction(case.case_id, "p.nii.gz")
    assert str(caught.value).startswith(
        f"p.nii.gz: 1 problem(s):\n  - case {case.case_id!r}: the prediction does not pass the "
        "gate: "
    )
