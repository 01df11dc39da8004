"""The real patches reach the baselines' experiments only through an explicit folder."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.experiments import prepare_real
from harness.split.manifest import load_split


def test_prepare_real_imports_the_given_train_and_val_folders(tmp_path, real_patches):
    paths = prepare_real(tmp_path, source=real_patches)
    assert paths == {"real-train": tmp_path / "real-train", "real-val": tmp_path / "real-val"}
    for name, phase in (("real-train", "train"), ("real-val", "val")):
        split = load_split(paths[name])
        # Three patches per folder: one plaque, one nucleus, one vessel patch (the file names).
        assert len(split.cases) == 3
        assert {c.image.parent.resolve() for c in split.cases} == {(real_patches / phase).resolve()}


def test_prepare_real_names_the_folder_it_could_not_use(tmp_path):
    (tmp_path / "patches" / "train").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"patches: no val/ folder"):
        prepare_real(tmp_path / "work", source=tmp_path / "patches")
    assert not (tmp_path / "work").exists()
