"""Each baseline container passes the contract through the real runner on two real patches.

The submissions are built from their folders (offline, on the images of docker/baselines and
docker/baselines-torch, which `make images` builds). Cases: one vessel and one nucleus patch of
the real sample's val folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.containers.limits import Limits
from harness.containers.run_config import RunConfig
from harness.containers.runner import run_submission
from harness.split.manifest import load_split, write_manifest
from harness.split.volume import read_volume

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
SUBMISSIONS = REPO / "submissions"
CASES = {
    "vessels_patch_017_vol006_ch1": ("vessel", "blood_vessel"),
    "cell_nucleus_patch_010_vol000_ch0": ("spot", "cell_nucleus"),
}


@pytest.fixture(scope="module")
def two_patches(real_patches, tmp_path_factory):
    root = tmp_path_factory.mktemp("two-patches")
    rows = []
    for stem, (track, structure) in CASES.items():
        image = real_patches / "val" / f"{stem}.nii.gz"
        rows.append(
            {
                "case_id": stem,
                "track": track,
                "structure": structure,
                "image": str(image),
                "label": str(image.with_name(f"{stem}_label.nii.gz")),
            }
        )
    write_manifest(root, rows)
    return load_split(root)


def _run(name, split, out, **options):
    limits = Limits(timeout_s=300, memory="4g", cpus=2.0)
    config = RunConfig(limits=limits, progress=False, **options)
    summary = run_submission(SUBMISSIONS / name, split, out, config=config)
    statuses = {cid: rec.status for cid, rec in summary.records.items()}
    assert statuses == {cid: "ok" for cid in CASES}, statuses
    masks = {}
    for cid in CASES:
        pred = read_volume(out / "predictions" / f"{cid}.nii.gz")
        ref = read_volume(split.case(cid).image)
        assert pred.array.shape == ref.array.shape and pred.grid.mismatch(ref.grid) is None
        assert set(np.unique(pred.array)) <= {0, 1}
        masks[cid] = pred.array
    logs = {cid: (out / "logs" / f"{cid}.log").read_text() for cid in CASES}
    return masks, logs


def _dice(a, b):
    return 2 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


def test_threshold_container(two_patches, tmp_path):
    masks, logs = _run("baseline-threshold", two_patches, tmp_path / "out")
    for cid, mask in masks.items():
        assert mask.any(), cid
        assert "grand-challenge" in logs[cid]


def test_classical_container_with_structure(two_patches, tmp_path):
    masks, logs = _run("baseline-classical", two_patches, tmp_path / "out", expose_structure=True)
    assert "structure 'blood_vessel' -> track 'vessel'" in logs["vessels_patch_017_vol006_ch1"]
    assert "structure 'cell_nucleus' -> track 'spot'" in logs["cell_nucleus_patch_010_vol000_ch0"]
    nuclei = read_volume(two_patches.case("cell_nucleus_patch_010_vol000_ch0").label).array > 0
    assert _dice(nuclei, masks["cell_nucleus_patch_010_vol000_ch0"]) > 0.3


def test_unet_container_grand_challenge_without_structure(two_patches, tmp_path):
    masks, logs = _run("baseline-unet", two_patches, tmp_path / "out")
    for cid in CASES:
        assert "no structure given: inferred track" in logs[cid], logs[cid]
    assert "inferred track 'spot'" in logs["cell_nucleus_patch_010_vol000_ch0"]
    nuclei = read_volume(two_patches.case("cell_nucleus_patch_010_vol000_ch0").label).array > 0
    assert _dice(nuclei, masks["cell_nucleus_patch_010_vol000_ch0"]) > 0.3


def test_unet_container_folder_contract(two_patches, tmp_path):
    masks, logs = _run(
        "baseline-unet", two_patches, tmp_path / "out", contract="folder", expose_structure=True
    )
    assert any("contract folder" in text for text in logs.values())
    assert all(m.any() for m in masks.values())


def test_unet_invoke_server_with_its_weights_as_a_model_tarball(two_patches, tmp_path):
    import json
    from importlib.resources import files

    from harness.containers.model import model_tarball

    weights = Path(str(files("baselines") / "weights"))
    tarball = model_tarball(
        {"unet.pt": weights / "unet.pt", "unet.json": weights / "unet.json"},
        tmp_path / "unet-model.tar.gz",
    )
    masks, logs = _run("baseline-unet-invoke", two_patches, tmp_path / "out", model=str(tarball))
    run_json = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run_json["api_method"] == "invoke" and len(run_json["servers"]) == 1
    assert "loaded /opt/ml/model/unet.pt" in logs["cell_nucleus_patch_010_vol000_ch0"] + logs[
        "vessels_patch_017_vol006_ch1"
    ]
    # The same network and weights as the exec baseline: the same masks.
    exec_masks, _ = _run("baseline-unet", two_patches, tmp_path / "exec")
    for cid, mask in masks.items():
        np.testing.assert_array_equal(mask, exec_masks[cid])
