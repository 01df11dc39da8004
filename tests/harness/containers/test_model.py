"""A model folder is held to the prediction gate's link rules, and never taken from the split."""

from __future__ import annotations

import os
import tarfile

import pytest

from harness.containers.cleanup import remove_tree
from harness.containers.model import prepare_model, refuse_model_in_split
from harness.errors import SubmissionError
from harness.split.manifest import load_split
from harness.split.synth import synthesize_split
from tests.harness.containers.deep_trees import nested


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


_LIMITS = (
    "a path inside a model has at most 32 names (folders nested at most that deep) and 1024 "
    "characters."
)


def test_a_model_folder_3000_folders_deep_is_refused_naming_it_and_the_limit(tmp_path):
    model = nested(tmp_path / "model", 3000)
    with pytest.raises(SubmissionError) as info:
        prepare_model(model)
    remove_tree(model)  # pytest's own removal of tmp_path recurses
    assert str(info.value) == (
        f"model folder {model}: d/d/d/.../d/d nests folders too deep; {_LIMITS}"
    )


def test_a_model_folder_within_the_limit_is_accepted(tmp_path):
    # 31 folders and the file: a path of 32 names, the limit.
    assert prepare_model(nested(tmp_path / "model", 31)).size_bytes == 1


def test_a_model_tarball_3000_folders_deep_is_refused_before_extraction(tmp_path):
    tarball = tmp_path / "deep.tar"
    with tarfile.open(tarball, "w") as tar:
        for k in range(1, 3001):
            info = tarfile.TarInfo("/".join(["d"] * k))
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
    cache = tmp_path / "cache"
    with pytest.raises(SubmissionError) as info:
        prepare_model(tarball, cache=cache)
    assert str(info.value) == (
        f"model tarball {tarball}: member {'d/' * 32 + 'd'!r} has 33 names and 65 "
        f"characters; {_LIMITS}"
    )
    # Refused from the headers: nothing of it was written.
    assert list(cache.iterdir()) == []
