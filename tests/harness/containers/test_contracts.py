"""Container contracts without Docker: what is staged, what is hidden, where outputs are read."""

from __future__ import annotations

import json
import re
import uuid

import numpy as np
import pytest
import SimpleITK as sitk

from harness.containers.contracts import (
    FolderContract,
    GrandChallengeContract,
    StagedCase,
    make_contract,
)
from harness.split.manifest import Case
from harness.split.volume import Grid, read_volume, write_volume

UUID_MHA = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}\.mha$")


@pytest.fixture
def case(tmp_path):
    data = tmp_path / "secret_organizer_data"
    data.mkdir()
    grid = Grid((3, 4, 5), spacing=(2.0, 1.0, 0.5), origin=(1.0, -2.0, 3.0))
    image = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    write_volume(data / "mouse7_brainA_image.nii.gz", image, grid)
    write_volume(data / "mouse7_brainA_ch2.nii.gz", image * 2, grid)
    write_volume(data / "mouse7_brainA_label.nii.gz", (image > 30).astype(np.uint8), grid)
    return Case(
        case_id="vessel_007",
        track="vessel",
        structure="microglia",
        images=(data / "mouse7_brainA_image.nii.gz", data / "mouse7_brainA_ch2.nii.gz"),
        label=data / "mouse7_brainA_label.nii.gz",
    )


def files_under(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_grand_challenge_stages_only_the_image_and_inputs_json(tmp_path, case):
    single = Case(case.case_id, case.track, case.structure, case.images[:1], case.label)
    staged = GrandChallengeContract().stage([single], tmp_path / "in")
    files = files_under(tmp_path / "in")
    assert len(files) == 2 and files[1] == "inputs.json"
    folder, name = files[0].rsplit("/", 1)
    assert folder == "images/light-sheet-3d-microscopy" and UUID_MHA.match(name)
    assert staged == [StagedCase("vessel_007", name[:-4], staged[0].grid)]
    # Same voxels and grid as the organizer's file, read with SimpleITK directly.
    img = sitk.ReadImage(str(tmp_path / "in" / files[0]))
    assert np.array_equal(
        sitk.GetArrayFromImage(img), np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    )
    assert img.GetSpacing() == (0.5, 1.0, 2.0) and img.GetOrigin() == (1.0, -2.0, 3.0)
    entries = json.loads((tmp_path / "in" / "inputs.json").read_text())
    assert len(entries) == 1
    assert entries[0]["interface"]["slug"] == "light-sheet-3d-microscopy"
    assert entries[0]["interface"]["relative_path"] == "images/light-sheet-3d-microscopy"
    assert entries[0]["interface"]["kind"] == "Image"
    assert entries[0]["image"]["name"] == name
    everything = (tmp_path / "in" / "inputs.json").read_text() + " ".join(files)
    for secret in ("vessel_007", "microglia", "mouse7", "label", "secret_organizer_data"):
        assert secret not in everything


def test_inputs_json_is_grand_challenges_current_form_exactly(tmp_path, case):
    """Each entry as grand-challenge's ComponentInterfaceValueSerializer writes it: the socket
    under both "socket" and "interface", then value, file, image {pk, name} and pk."""
    GrandChallengeContract(expose_structure=True).stage([case], tmp_path)
    entries = json.loads((tmp_path / "inputs.json").read_text())
    image_name = next((tmp_path / "images" / "light-sheet-3d-microscopy").iterdir()).name
    channel = next((tmp_path / "images" / "light-sheet-3d-microscopy-channel-1").iterdir()).name

    def socket(slug, pk, kind, super_kind, relative_path):
        return {
            "title": slug.replace("-", " ").capitalize(),
            "description": "",
            "slug": slug,
            "kind": kind,
            "pk": pk,
            "default_value": None,
            "super_kind": super_kind,
            "relative_path": relative_path,
            "overlay_segments": [],
            "look_up_table": None,
        }

    main = socket(
        "light-sheet-3d-microscopy", 1, "Image", "Image", "images/light-sheet-3d-microscopy"
    )
    ch1 = socket(
        "light-sheet-3d-microscopy-channel-1",
        2,
        "Image",
        "Image",
        "images/light-sheet-3d-microscopy-channel-1",
    )
    structure = socket("biological-structure", 3, "String", "Value", "biological-structure.json")
    assert entries == [
        {
            "socket": main,
            "interface": main,
            "value": None,
            "file": None,
            "image": {"pk": image_name.removesuffix(".mha"), "name": image_name},
            "pk": 1,
        },
        {
            "socket": ch1,
            "interface": ch1,
            "value": None,
            "file": None,
            "image": {"pk": channel.removesuffix(".mha"), "name": channel},
            "pk": 2,
        },
        {
            "socket": structure,
            "interface": structure,
            "value": "microglia",
            "file": None,
            "image": None,
            "pk": 3,
        },
    ]
    # The key order of grand-challenge's serializer (a reader may print it).
    assert list(entries[0]) == ["socket", "interface", "value", "file", "image", "pk"]
    # What the two public templates compute from it: the sorted socket slugs, by either key.
    for key in ("socket", "interface"):
        assert tuple(sorted(e[key]["slug"] for e in entries)) == (
            "biological-structure",
            "light-sheet-3d-microscopy",
            "light-sheet-3d-microscopy-channel-1",
        )


def test_grand_challenge_names_are_fresh_each_time(tmp_path, case):
    a = GrandChallengeContract().stage([case], tmp_path / "a")[0].token
    b = GrandChallengeContract().stage([case], tmp_path / "b")[0].token
    assert a != b and uuid.UUID(a).version == 4


def test_grand_challenge_structure_socket_when_allowed(tmp_path, case):
    GrandChallengeContract(expose_structure=True).stage([case], tmp_path)
    assert json.loads((tmp_path / "biological-structure.json").read_text()) == "microglia"
    entries = json.loads((tmp_path / "inputs.json").read_text())
    value = [e for e in entries if e["interface"]["slug"] == "biological-structure"]
    assert len(value) == 1 and value[0]["value"] == "microglia"
    assert value[0]["interface"]["relative_path"] == "biological-structure.json"


def test_grand_challenge_extra_channels_get_their_own_socket(tmp_path, case):
    GrandChallengeContract().stage([case], tmp_path)
    extra = list((tmp_path / "images" / "light-sheet-3d-microscopy-channel-1").iterdir())
    assert len(extra) == 1 and UUID_MHA.match(extra[0].name)
    assert np.array_equal(
        read_volume(extra[0]).array, np.arange(60, dtype=np.float32).reshape(3, 4, 5) * 2
    )
    slugs = [e["interface"]["slug"] for e in json.loads((tmp_path / "inputs.json").read_text())]
    assert slugs == ["light-sheet-3d-microscopy", "light-sheet-3d-microscopy-channel-1"]
    # The main socket still holds exactly one image.
    assert len(list((tmp_path / "images" / "light-sheet-3d-microscopy").iterdir())) == 1


def test_grand_challenge_can_stage_tif(tmp_path, case):
    GrandChallengeContract(input_format="tif").stage([case], tmp_path)
    (img,) = (tmp_path / "images" / "light-sheet-3d-microscopy").iterdir()
    assert img.suffix == ".tif" and read_volume(img).array.shape == (3, 4, 5)


def test_grand_challenge_locates_exactly_one_image(tmp_path):
    contract = GrandChallengeContract()
    staged = StagedCase("c", "t", Grid((1, 1, 1)))
    assert contract.locate(tmp_path, staged).status == "missing_output"
    out = tmp_path / "images" / "isolated-biological-structure"
    out.mkdir(parents=True)
    assert contract.locate(tmp_path, staged).reason.endswith("is empty")
    (out / "notes.txt").write_text("x")
    found = contract.locate(tmp_path, staged)
    assert (
        found.status == "invalid_output"
        and "no .mha or .tif image, only: notes.txt" in found.reason
    )
    (out / "a.mha").write_bytes(b"")
    assert contract.locate(tmp_path, staged).path == out / "a.mha"
    (out / "b.tif").write_bytes(b"")
    several = contract.locate(tmp_path, staged)
    assert several.status == "invalid_output" and several.reason.startswith("2 images")


def test_folder_contract_anonymises_names(tmp_path, case):
    other = Case("spot_001", "spot", "cfos", case.images[:1])
    staged = FolderContract(expose_structure=True).stage([case, other], tmp_path / "in")
    names = files_under(tmp_path / "in")
    tokens = [s.token for s in staged]
    assert len(set(tokens)) == 2 and all(re.fullmatch(r"case_[0-9a-f]{10}", t) for t in tokens)
    assert sorted(names) == sorted(
        [
            f"{tokens[0]}.nii.gz",
            f"{tokens[1]}.nii.gz",
            f"extra-channels/{tokens[0]}_ch1.nii.gz",
            "structures.json",
        ]
    )
    structures = json.loads((tmp_path / "in" / "structures.json").read_text())
    assert structures == {f"{tokens[0]}.nii.gz": "microglia", f"{tokens[1]}.nii.gz": "cfos"}
    for secret in ("vessel_007", "spot_001", "mouse7"):
        assert secret not in " ".join(names)


def test_folder_contract_hides_structures_unless_allowed(tmp_path, case):
    FolderContract().stage([case], tmp_path)
    assert not (tmp_path / "structures.json").exists()


def test_folder_contract_locates_the_same_name(tmp_path):
    staged = StagedCase("c", "case_abc", Grid((1, 1, 1)))
    assert FolderContract().locate(tmp_path, staged).status == "missing_output"
    (tmp_path / "case_abc.nii.gz").write_bytes(b"")
    assert FolderContract().locate(tmp_path, staged).path == tmp_path / "case_abc.nii.gz"


def test_make_contract_checks_its_arguments():
    assert make_contract("grand-challenge", output_slug="seg").output_slug == "seg"
    with pytest.raises(
        ValueError, match=re.escape("input_format must be 'mha' or 'tif'. Got 'png'")
    ):
        make_contract("grand-challenge", input_format="png")
    with pytest.raises(ValueError, match="contract must be one of"):
        make_contract("nnunet")
