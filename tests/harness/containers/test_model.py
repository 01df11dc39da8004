"""A model folder is held to the prediction gate's link rules, and never taken from the split."""

from __future__ import annotations

import os

import pytest

from harness.containers.model import prepare_model, refuse_model_in_split
from harness.errors import SubmissionError
from harness.split.manifest import load_split
from harness.split.synth import synthesize_split


@pytest.fixture
def split(tmp_path):
    return load_split(synthesize_split(tmp_path / "split", cases=2, size=(8, 8, 8), seed=1,
                                       progress=False).root)


def test_a_hard_link_to_a_hidden_label_in_a_model_folder_is_refused(tmp_path, split):
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.pt").write_bytes(b"w")
    os.link(split.cases[0].label, model / "extra.nii.gz")
    with pytest.raises(SubmissionError) as info:
        prepare_model(model)
    assert "extra.nii.gz is a hard link (2 links)" in str(info.value)
    os.unlink(model / "extra.nii.gz")
    assert prepare_model(model).size_bytes == 1


def test_a_symbolic_link_in_a_model_folder_is_refused(tmp_path, split):
    model = tmp_path / "model"
    model.mkdir()
    (model / "label.nii.gz").symlink_to(split.cases[0].label)
    with pytest.raises(SubmissionError, match=r"label\.nii\.gz is a symbolic link"):
        prepare_model(model)


@pytest.mark.parametrize("inside", ["labels", "labels/../images", ".", "manifest.csv"])
def test_a_model_inside_the_split_is_refused(split, inside):
    with pytest.raises(SubmissionError, match="lies inside the split"):
        refuse_model_in_split(split.root / inside, split)


def test_a_model_folder_holding_the_split_is_refused(tmp_path, split):
    with pytest.raises(SubmissionError, match="the folder holds the split"):
        refuse_model_in_split(tmp_path, split)
    with pytest.raises(SubmissionError, match="the folder holds the split"):
        refuse_model_in_split("/", split)
    (tmp_path / "elsewhere").mkdir()
    refuse_model_in_split(tmp_path / "elsewhere", split)


def test_a_link_to_the_split_given_as_model_is_resolved_and_refused(tmp_path, split):
    (tmp_path / "weights").symlink_to(split.root / "labels")
    with pytest.raises(SubmissionError, match="lies inside the split"):
        refuse_model_in_split(tmp_path / "weights", split)
