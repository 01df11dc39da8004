"""The synthetic data generator: determinism, case independence, structure statistics.

Statistics are checked with independent libraries (cc3d for components, scikit-image's Euler
number for loops), never with the project's metrics code.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cc3d
import numpy as np
import pytest
from click.testing import CliRunner
from scipy import ndimage as ndi
from skimage.measure import euler_number

from common.errors import ConfigError
from harness.cli import cli
from harness.split.synth import (
    CasePlan,
    generator_version,
    plan_cases,
    split_is_current,
    synthesize_case,
    synthesize_split,
)
from harness.split.synth.imaging import IMAGING_STYLES, acquire
from harness.split.synth.shapes import new_scene
from harness.split.synth.spots import spots
from harness.split.volume import read_volume

SMALL = (24, 32, 32)


def _rows(manifest: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(manifest.read_text(encoding="utf-8").splitlines()))


def _bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*.nii.gz"))}


def _b0_minus_euler(mask: np.ndarray) -> int:
    """b0 - chi = b1 - b2: a lower bound of the number of loops (26-connected foreground)."""
    b0 = cc3d.connected_components(mask.astype(np.uint8), connectivity=26, return_N=True)[1]
    return int(b0 - euler_number(mask, connectivity=3))


@pytest.fixture(scope="module")
def small_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "a"
    synthesize_split(out, cases=8, size=SMALL, seed=7)
    return out


def test_layout_manifest_and_record(small_split: Path) -> None:
    rows = _rows(small_split / "manifest.csv")
    assert [r["case_id"] for r in rows] == [
        "spot_000", "spot_001", "spot_002", "spot_003",
        "vessel_000", "vessel_001", "vessel_002", "vessel_003",
    ]
    assert [r["structure"] for r in rows] == [
        "cfos", "cell_nucleus", "amyloid_plaque", "cfos",
        "blood_vessel", "microglia", "blood_vessel", "microglia",
    ]
    for r in rows:
        assert r["image"] == f"images/{r['case_id']}.nii.gz"
        assert r["label"] == f"labels/{r['case_id']}.nii.gz"
        image = read_volume(small_split / r["image"])
        label = read_volume(small_split / r["label"])
        assert image.array.shape == SMALL and image.array.dtype == np.float32
        assert np.all(image.array == np.round(image.array))
        assert 0 <= image.array.min() and image.array.max() <= 65535
        assert label.array.dtype == np.uint8 and set(np.unique(label.array)) <= {0, 1}
        assert image.grid.mismatch(label.grid) is None
    record = json.loads((small_split / "synth.json").read_text())
    assert record["seed"] == 7 and record["size"] == list(SMALL)
    assert sorted(record["cases"]) == [r["case_id"] for r in rows]


def test_same_seed_same_bytes_other_seed_other_bytes(small_split: Path, tmp_path: Path) -> None:
    synthesize_split(tmp_path / "b", cases=8, size=SMALL, seed=7)
    synthesize_split(tmp_path / "c", cases=8, size=SMALL, seed=8)
    reference = _bytes(small_split)
    assert _bytes(tmp_path / "b") == reference
    other = _bytes(tmp_path / "c")
    assert other.keys() == reference.keys()
    assert all(other[k] != reference[k] for k in reference if k.startswith("images/"))


def test_case_does_not_depend_on_how_many_cases(small_split: Path, tmp_path: Path) -> None:
    synthesize_split(tmp_path / "few", cases=2, size=SMALL, seed=7)
    few, many = _bytes(tmp_path / "few"), _bytes(small_split)
    assert sorted(few) == ["images/spot_000.nii.gz", "images/vessel_000.nii.gz",
                           "labels/spot_000.nii.gz", "labels/vessel_000.nii.gz"]
    assert all(few[k] == many[k] for k in few)


def test_spot_patch_with_no_object(small_split: Path) -> None:
    # Spot case 3 of every 8 is empty: the truth is all zero, the image is not (look-alikes).
    label = read_volume(small_split / "labels" / "spot_003.nii.gz").array
    image = read_volume(small_split / "images" / "spot_003.nii.gz").array
    assert not label.any()
    assert image.std() > 0
    assert [p.case_id for p in plan_cases(16, tracks=("spot",)) if p.empty] == [
        "spot_003", "spot_011"
    ]


def test_unlabeled_split(tmp_path: Path) -> None:
    split = synthesize_split(tmp_path / "u", cases=2, size=(12, 16, 16), seed=0, labeled=False)
    assert all(c.label is None for c in split.cases)
    assert not (tmp_path / "u" / "labels").exists()


@pytest.mark.parametrize("index", [0, 2])
def test_vessel_labels_have_loops_and_leave_the_patch(index: int) -> None:
    plan = CasePlan(f"vessel_{index:03d}", "vessel", "blood_vessel", index, False)
    _, label, _, info = synthesize_case(plan, seed=0)
    mask = label > 0
    assert _b0_minus_euler(mask) > 0
    assert info["loops"] > 0
    # Vessels leave the patch: foreground on several faces.
    faces = [mask[0], mask[-1], mask[:, 0], mask[:, -1], mask[:, :, 0], mask[:, :, -1]]
    assert sum(bool(f.any()) for f in faces) >= 3
    # Calibre: the distance transform reaches both thin (<= 2) and wide (>= 3) vessels.
    edt = ndi.distance_transform_edt(mask)
    local_max = (edt == ndi.maximum_filter(edt, size=3)) & mask
    assert edt[local_max].min() <= 2 and edt[local_max].max() >= 3
    assert 0.02 < mask.mean() < 0.15


@pytest.mark.parametrize("structure,count", [("cfos", 40), ("amyloid_plaque", 6)])
def test_spot_blob_count_within_tolerance(structure: str, count: int) -> None:
    scene = new_scene((96, 96, 96), spacing=(2.0, 1.0, 1.0))
    drawn = spots(scene, np.random.default_rng(3), structure=structure, count=count)
    n = cc3d.connected_components(scene.label, connectivity=26, return_N=True)[1]
    # Each blob owns its centre voxel; touching blobs merge into one component.
    assert drawn["blobs"] == count
    assert 0.7 * count <= n <= count


def test_spot_cases_match_their_recorded_counts(small_split: Path) -> None:
    record = json.loads((small_split / "synth.json").read_text())["cases"]
    for case_id in ("spot_000", "spot_001", "spot_002"):
        label = read_volume(small_split / "labels" / f"{case_id}.nii.gz").array
        n = cc3d.connected_components(label, connectivity=26, return_N=True)[1]
        assert 0.5 * record[case_id]["blobs"] <= n <= record[case_id]["blobs"]


def test_blob_sizes_vary_and_include_tiny_ones() -> None:
    scene = new_scene((64, 64, 64), spacing=(2.0, 1.0, 1.0))
    spots(scene, np.random.default_rng(0), structure="cell_nucleus", count=120)
    labels = cc3d.connected_components(scene.label, connectivity=26)
    sizes = np.bincount(labels.ravel())[1:]
    assert sizes.min() <= 8 and sizes.max() >= 10 * np.median(sizes[sizes <= 8])


def test_psf_is_wider_along_z_in_physical_units() -> None:
    # A bright point source far above the background: its blurred image's second moments.
    density = np.zeros((33, 33, 33), np.float32)
    density[16, 16, 16] = 3000.0
    image, params = acquire(density, np.random.default_rng(0), style=IMAGING_STYLES["cfos"],
                            spacing=(1.0, 1.0, 1.0))
    assert params["psf_sigma_axial"] > 1.5 * params["psf_sigma_lateral"]
    spot = image[8:25, 8:25, 8:25] - np.median(image)
    # Keep the spot, drop the background's noise and slow variations.
    spot = np.where(spot > 0.02 * spot.max(), spot, 0)
    z, y, x = np.indices(spot.shape) - 8
    var = [float((spot * c**2).sum() / spot.sum()) for c in (z, y, x)]
    assert var[0] > 1.5 * var[1] and var[0] > 1.5 * var[2]


def test_plan_cases_shares_and_validates() -> None:
    plans = plan_cases(7, tracks=("spot", "vessel"))
    assert [p.case_id for p in plans] == ["spot_000", "spot_001", "spot_002", "spot_003",
                                          "vessel_000", "vessel_001", "vessel_002"]
    with pytest.raises(ConfigError, match="tracks must be distinct values"):
        plan_cases(2, tracks=("vessel", "tubes"))
    with pytest.raises(ConfigError, match="cases must be at least 1"):
        plan_cases(0)
    with pytest.raises(ConfigError, match="size must be three integers"):
        synthesize_case(plans[0], size=(4, 32, 32))


def test_refuses_to_write_into_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not a split"):
        synthesize_split(tmp_path, cases=1, size=(12, 16, 16))


def test_cli_synth(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["data", "synth", "--out", str(tmp_path / "s"), "--cases", "2",
                                      "--size", "12", "16", "16", "--seed", "1",
                                      "--tracks", "spot", "--unlabeled"])
    assert result.exit_code == 0, result.output
    rows = _rows(tmp_path / "s" / "manifest.csv")
    assert [(r["case_id"], r["label"]) for r in rows] == [("spot_000", ""), ("spot_001", "")]
    assert "content hash: sha256:" in result.output


def test_split_is_current_only_for_the_same_recipe_and_generator(
    small_split: Path, tmp_path: Path
) -> None:
    recipe = {"cases": 8, "size": SMALL, "seed": 7}
    assert split_is_current(small_split, **recipe)
    assert not split_is_current(small_split, **{**recipe, "seed": 8})
    assert not split_is_current(small_split, **{**recipe, "cases": 6})
    assert not split_is_current(small_split, **{**recipe, "size": (24, 32, 33)})
    assert not split_is_current(small_split, **recipe, labeled=False)
    assert not split_is_current(tmp_path / "nothing-here", **recipe)
    copy = tmp_path / "copy"
    shutil.copytree(small_split, copy)
    record = json.loads((copy / "synth.json").read_text(encoding="utf-8"))
    assert record["generator"] == generator_version()
    record["generator"] = "sha256:0000000000000000"  # as an earlier generator wrote it
    (copy / "synth.json").write_text(json.dumps(record), encoding="utf-8")
    assert not split_is_current(copy, **recipe)
    (copy / "synth.json").write_text('{"seed": 7, "si', encoding="utf-8")  # cut short
    assert not split_is_current(copy, **recipe)


def test_a_split_written_over_another_keeps_none_of_its_volumes(tmp_path: Path) -> None:
    out = tmp_path / "s"
    synthesize_split(out, cases=4, size=(12, 16, 16), seed=1)
    (out / "notes.txt").write_text("the organizer's own file", encoding="utf-8")
    (out / "images" / "extra.nii.gz").write_bytes(b"not listed in the manifest")
    assert len(list((out / "labels").iterdir())) == 4

    split = synthesize_split(out, cases=2, size=(12, 16, 16), seed=1, labeled=False)

    assert split.case_ids == ("spot_000", "vessel_000")
    # The earlier labels must not travel with an unlabeled split handed to participants.
    assert not (out / "labels").exists()
    assert sorted(p.name for p in (out / "images").iterdir()) == [
        "extra.nii.gz", "spot_000.nii.gz", "vessel_000.nii.gz"
    ]
    assert (out / "notes.txt").read_text(encoding="utf-8") == "the organizer's own file"


def test_a_split_the_generator_did_not_write_is_never_written_over(
    tmp_path: Path,
) -> None:
    out = tmp_path / "s"
    (out / "images").mkdir(parents=True)
    (out / "images" / "own_000.nii.gz").write_bytes(b"an organizer's own volume")
    manifest = "case_id,track,structure,image,label\nown_000,spot,cfos,images/own_000.nii.gz,\n"
    (out / "manifest.csv").write_text(manifest, encoding="utf-8")
    with pytest.raises(ConfigError, match="a split not written by `data synth`"):
        synthesize_split(out, cases=2, size=(12, 16, 16), seed=1)
    assert (out / "images" / "own_000.nii.gz").read_bytes() == b"an organizer's own volume"
    assert (out / "manifest.csv").read_text(encoding="utf-8") == manifest
    assert sorted(p.name for p in out.rglob("*")) == ["images", "manifest.csv", "own_000.nii.gz"]


def test_a_generated_manifest_naming_files_elsewhere_removes_nothing_there(
    tmp_path: Path,
) -> None:
    out = tmp_path / "s"
    synthesize_split(out, cases=2, size=(12, 16, 16), seed=1)
    outside = tmp_path / "keep.nii.gz"
    outside.write_bytes(b"x")
    (out / "manifest.csv").write_text(
        "case_id,track,structure,image,label\n"
        "a,spot,cfos,../keep.nii.gz,labels/../../keep.nii.gz\n",
        encoding="utf-8",
    )
    synthesize_split(out, cases=2, size=(12, 16, 16), seed=1)
    assert outside.read_bytes() == b"x"


def test_the_generator_version_follows_the_libraries_that_draw_the_volumes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import scipy

    before = generator_version()
    assert before == generator_version()
    monkeypatch.setattr(scipy, "__version__", "0.0.1")
    other_scipy = generator_version()
    assert other_scipy != before
    monkeypatch.setattr(np, "__version__", "0.0.1")
    assert generator_version() not in (before, other_scipy)


def test_cli_synth_names_cases_as_the_2026_organizers_do(tmp_path: Path) -> None:
    # 8 cases: vessel k = 0..3 all blood_vessel (microglia is isolated in 2026, and drawn
    # branching); spot k = 0..3 cycle cfos, cell_nucleus, amyloid_plaque, cfos, named by the
    # 2026 structure names; each name starts with one of the 2026 evaluator's prefixes.
    out = tmp_path / "s"
    result = CliRunner().invoke(cli, ["data", "synth", "--out", str(out), "--cases", "8",
                                      "--size", "12", "16", "16", "--profile", "selma3d-2026",
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    rows = _rows(out / "manifest.csv")
    assert sorted((r["case_id"], r["track"], r["structure"], r["image"]) for r in rows) == [
        ("AD_plaques_002", "spot", "amyloid_plaque", "images/AD_plaques_002.nii.gz"),
        ("blood_vessel_000", "vessel", "blood_vessel", "images/blood_vessel_000.nii.gz"),
        ("blood_vessel_001", "vessel", "blood_vessel", "images/blood_vessel_001.nii.gz"),
        ("blood_vessel_002", "vessel", "blood_vessel", "images/blood_vessel_002.nii.gz"),
        ("blood_vessel_003", "vessel", "blood_vessel", "images/blood_vessel_003.nii.gz"),
        ("cell_nuclei_001", "spot", "cell_nucleus", "images/cell_nuclei_001.nii.gz"),
        ("cfos_neuron_000", "spot", "cfos", "images/cfos_neuron_000.nii.gz"),
        ("cfos_neuron_003", "spot", "cfos", "images/cfos_neuron_003.nii.gz"),
    ]
    record = json.loads((out / "synth.json").read_text())
    assert record["profile"] == "selma3d-2026"
    assert split_is_current(out, cases=8, size=(12, 16, 16), profile="selma3d-2026")
    assert not split_is_current(out, cases=8, size=(12, 16, 16))
