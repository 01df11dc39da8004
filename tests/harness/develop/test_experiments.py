"""The baselines' experiments: the real patches reach them only through an explicit folder, and
the U-Net weights they write are what ``baselines.unet.load_model`` reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import ConfigError
from harness.develop.experiments import prepare_real
from harness.split.manifest import load_split
from tests.conftest import REAL_PATCHES


@pytest.fixture(scope="module")
def real_patches() -> Path:
    if not (REAL_PATCHES / "val").is_dir():
        pytest.fail(
            f"real patches not found at {REAL_PATCHES}: the tests expect "
            "../shared/data/lsm-patches beside the checkout (see the brief)."
        )
    return REAL_PATCHES


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


@pytest.mark.deep
def test_save_weights_writes_what_load_model_reads(tmp_path):
    # torch (the deep extra): only this test of the module needs it.
    from baselines import unet
    from harness.develop.experiments import save_weights

    config = unet.TrainConfig(crop=16, channels=(4, 8))
    model = unet.build_model(channels=config.channels)
    path = tmp_path / "w" / "net.pt"
    digest = save_weights(model, path, config=config, provenance={"seed": 3})
    loaded, loaded_config = unet.load_model(path)
    assert digest == unet.weights_digest(model) == unet.weights_digest(loaded)
    assert loaded_config == config
    assert [p.name for p in path.parent.iterdir()] == ["net.pt"]  # no temporary file left
