"""Importers: the SELMA3D release and LSM samples, including the real patches."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from common.errors import ConfigError
from harness.cli import cli
from harness.split.importers import import_layout, load_track_map, manifest_path, resolve_structure
from harness.split.volume import write_volume
from tests.conftest import REAL_PATCHES

SHAPE = (4, 5, 6)


def _rows(manifest: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(manifest.read_text(encoding="utf-8").splitlines()))


def _vol(path: Path, *, mask: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.zeros(SHAPE, np.uint8) if mask else np.ones(SHAPE, np.float32)
    if mask:
        data[1, 1, 1] = 1
    return write_volume(path, data)


# --- the real patches -------------------------------------------------------------------------


def test_import_real_lsm_patches(tmp_path: Path) -> None:
    assert REAL_PATCHES.is_dir(), (
        f"the real light-sheet patches are expected at {REAL_PATCHES} (../shared/data/lsm-patches "
        "beside the checkout); they are needed by this test"
    )
    out = tmp_path / "real"
    split = import_layout(REAL_PATCHES, out)
    assert len(split.cases) == 6
    tracks = {c.case_id: c.track for c in split.cases}
    # The README's table: plaques and nuclei are spot-like, vessels vessel-like.
    assert Counter(tracks.values()) == {"spot": 4, "vessel": 2}
    assert tracks["vessels_patch_017_vol006_ch1"] == "vessel"
    assert tracks["amyloid_plaque_patch_000_vol000_ch0"] == "spot"
    assert tracks["cell_nucleus_patch_010_vol000_ch0"] == "spot"
    assert Counter(c.structure for c in split.cases) == {
        "amyloid_plaque": 2, "cell_nucleus": 2, "blood_vessel": 2}
    assert Counter(c.phase for c in split.cases) == {"train": 3, "val": 3}
    # Nothing copied: the output holds only the manifest, which points at the source files.
    assert [p.name for p in out.iterdir()] == ["manifest.csv"]
    case = split.case("cell_nucleus_patch_002_vol007_ch0")
    stem = REAL_PATCHES / "train" / "cell_nucleus_patch_002_vol007_ch0"
    assert case.image == stem.with_name(stem.name + ".nii.gz").resolve()
    assert case.label == stem.with_name(stem.name + "_label.nii.gz").resolve()


# --- SELMA3D release layout -------------------------------------------------------------------


@pytest.fixture
def selma3d(tmp_path: Path) -> Path:
    src = tmp_path / "release"
    for stem in ("patchvolume_000", "patchvolume_001"):
        _vol(src / "VessAP_vessel" / "raw" / f"{stem}_0000.nii.gz")
        _vol(src / "VessAP_vessel" / "raw" / f"{stem}_0001.nii.gz")
        _vol(src / "VessAP_vessel" / "gt" / f"{stem}.nii.gz", mask=True)
    _vol(src / "cFos-Active_Neurons" / "raw" / "patchvolume_007_0000.nii.gz")
    _vol(src / "cFos-Active_Neurons" / "gt" / "patchvolume_007.nii.gz", mask=True)
    _vol(src / "AD_plaques" / "raw" / "patchvolume_002_0000.nii.gz")
    _vol(src / "AD_plaques" / "gt" / "patchvolume_002.nii.gz", mask=True)
    _vol(src / "shannel_cells" / "raw" / "patchvolume_003_0000.nii.gz")  # no gt: unlabeled
    (src / "dataset.json").write_text("{}")  # not a volume: ignored
    return src


def test_import_selma3d_layout_with_two_channels(selma3d: Path, tmp_path: Path) -> None:
    split = import_layout(selma3d, tmp_path / "out")
    assert split.case_ids == (
        "AD_plaques_patchvolume_002",
        "VessAP_vessel_patchvolume_000",
        "VessAP_vessel_patchvolume_001",
        "cFos-Active_Neurons_patchvolume_007",
        "shannel_cells_patchvolume_003",
    )
    vessel = split.case("VessAP_vessel_patchvolume_001")
    assert (vessel.track, vessel.structure) == ("vessel", "blood_vessel")
    assert [p.name for p in vessel.images] == ["patchvolume_001_0000.nii.gz",
                                               "patchvolume_001_0001.nii.gz"]
    assert vessel.label.name == "patchvolume_001.nii.gz"
    assert (split.case("cFos-Active_Neurons_patchvolume_007").track,
            split.case("AD_plaques_patchvolume_002").structure) == ("spot", "amyloid_plaque")
    cells = split.case("shannel_cells_patchvolume_003")
    assert (cells.track, cells.label) == ("spot", None)
    # Paths relative to the manifest (source and output share a top-level folder).
    row = next(r for r in _rows(tmp_path / "out" / "manifest.csv")
               if r["case_id"] == "VessAP_vessel_patchvolume_000")
    assert row["image"] == ("../release/VessAP_vessel/raw/patchvolume_000_0000.nii.gz;"
                            "../release/VessAP_vessel/raw/patchvolume_000_0001.nii.gz")


def test_track_map_overrides_yaml_and_csv(selma3d: Path, tmp_path: Path) -> None:
    yaml_map = tmp_path / "map.yaml"
    yaml_map.write_text("shannel_cells: {track: vessel, structure: microglia}\nAD_plaques: spot\n")
    split = import_layout(selma3d, tmp_path / "a", track_map=yaml_map)
    cells = split.case("shannel_cells_patchvolume_003")
    assert (cells.track, cells.structure) == ("vessel", "microglia")
    assert split.case("AD_plaques_patchvolume_002").structure == "ad_plaques"
    csv_map = tmp_path / "map.csv"
    csv_map.write_text("source,track,structure\nSHANNEL_CELLS,spot,neurons\n")
    assert load_track_map(csv_map) == {"SHANNEL_CELLS": ("neurons", "spot")}
    assert resolve_structure("shannel_cells", track_map=load_track_map(csv_map)) == (
        "neurons", "spot")
    bad = tmp_path / "bad.yaml"
    bad.write_text("shannel_cells: tubes\n")
    with pytest.raises(ConfigError, match="entry 'shannel_cells': track must be one of"):
        load_track_map(bad)


def test_unknown_structure_and_stray_files_are_errors(selma3d: Path, tmp_path: Path) -> None:
    _vol(selma3d / "mystery_stain" / "raw" / "p_0000.nii.gz")
    with pytest.raises(ConfigError, match=r"'mystery_stain' matches no rule.*--track-map"):
        import_layout(selma3d, tmp_path / "a")
    (selma3d / "mystery_stain").rename(selma3d / "microglia_x")
    _vol(selma3d / "microglia_x" / "raw" / "badname.nii.gz")
    _vol(selma3d / "microglia_x" / "gt" / "orphan.nii.gz", mask=True)
    with pytest.raises(ConfigError) as info:
        import_layout(selma3d, tmp_path / "b")
    assert "badname.nii.gz: expected '<stem>_<4-digit channel>'" in str(info.value)
    assert "orphan.nii.gz: label without an image" in str(info.value)


def test_lsm_layout_in_a_fake_folder(tmp_path: Path) -> None:
    src = tmp_path / "lsm"
    _vol(src / "microglia_patch_001_vol002_ch0.nii.gz")
    _vol(src / "microglia_patch_001_vol002_ch0_label.nii.gz", mask=True)
    _vol(src / "train" / "c-fos_patch_004_vol001_ch1.nii.gz")  # unlabeled
    split = import_layout(src, tmp_path / "out", absolute=True)
    assert [(c.case_id, c.track, c.structure, c.phase) for c in split.cases] == [
        ("c-fos_patch_004_vol001_ch1", "spot", "cfos", "train"),
        ("microglia_patch_001_vol002_ch0", "vessel", "microglia", None),
    ]
    assert all(Path(r["image"]).is_absolute() for r in _rows(tmp_path / "out" / "manifest.csv"))
    _vol(src / "val" / "notes_0001.nii.gz")
    with pytest.raises(ConfigError, match=r"notes_0001\.nii\.gz: expected '<structure>_patch_XXX"):
        import_layout(src, tmp_path / "out2")


def test_unknown_layout_and_non_empty_output(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="not a known layout"):
        import_layout(tmp_path / "empty", tmp_path / "o")
    src = tmp_path / "lsm"
    _vol(src / "vessels_patch_001_vol002_ch0.nii.gz")
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "keep.txt").write_text("x")
    with pytest.raises(ConfigError, match="output folder is not empty"):
        import_layout(src, tmp_path / "o")


def test_manifest_path_policy() -> None:
    assert manifest_path(Path("/a/b/c.nii.gz"), Path("/a/x")) == "../b/c.nii.gz"
    assert manifest_path(Path("/a/b/c.nii.gz"), Path("/z/x")) == "/a/b/c.nii.gz"
    assert manifest_path(Path("/a/b/c.nii.gz"), Path("/a/x"), absolute=True) == "/a/b/c.nii.gz"


def test_cli_import(selma3d: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["data", "import", str(selma3d), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "blood_vessel" in result.output and "content hash: sha256:" in result.output
