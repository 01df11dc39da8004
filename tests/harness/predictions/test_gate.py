"""One gate for every prediction: hostile files built here, scored through every path.

Paths compared: ``evaluate`` on a plain folder, the runner's own post-processing (the gate, then
``save_mask`` and an ``ok`` record) followed by ``evaluate`` on the runner folder, and the
report's volume loader (``leaderboard --split``).
"""

from __future__ import annotations

import gzip
import json
import os

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.errors import ResultsError
from harness.cli import run
from harness.errors import VolumeError
from harness.predictions.validate import (
    BinarizeRule,
    GateOptions,
    save_mask,
    validate_prediction,
)
from harness.scoring.evaluate import evaluate_predictions
from harness.scoring.volumes import SplitVolumes
from harness.split.manifest import load_split, write_manifest
from harness.split.volume import Grid, write_volume
from metrics import METRIC_COLUMNS

SHAPE = (6, 7, 8)
GRID = Grid(SHAPE, spacing=(2.0, 1.0, 1.0))


def _label():
    m = np.zeros(SHAPE, np.uint8)
    m[1:3, 1:3, 1:3] = 1  # a 2x2x2 blob: 8 voxels
    m[4:6, 4:7, 4:7] = 1  # a 2x3x3 blob: 18 voxels
    return m


def _make_split(root, label=None, image_shape=SHAPE):
    root.mkdir(parents=True, exist_ok=True)
    write_volume(root / "c1.nii.gz", np.zeros(image_shape, np.float32), Grid(image_shape,
                                                                              (2.0, 1.0, 1.0)))
    write_volume(root / "c1_label.nii.gz", _label() if label is None else label,
                 Grid(label.shape if label is not None else SHAPE, (2.0, 1.0, 1.0)))
    write_manifest(root, [{"case_id": "c1", "track": "spot", "structure": "x",
                           "image": "c1.nii.gz", "label": "c1_label.nii.gz"}])
    return load_split(root, check_volumes=False)


@pytest.fixture
def split(tmp_path):
    return _make_split(tmp_path / "split")


def _row(split, folder, **kw):
    frame = evaluate_predictions(split, {"t": folder}, progress=False, **kw)
    return frame.iloc[0]


def _bomb(path, shape=(32000, 32000, 32000)):
    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(np.uint8)
    path.write_bytes(gzip.compress(header.binaryblock + b"\0" * 4))
    return path


# 1. Links -----------------------------------------------------------------------------------


def test_a_symlink_to_the_hidden_label_is_refused_not_followed(tmp_path, split):
    team = tmp_path / "team"
    team.mkdir()
    (team / "c1.nii.gz").symlink_to(split.case("c1").label)
    row = _row(split, team)
    assert row["status"] == "invalid_output"
    assert row["message"].startswith("c1.nii.gz is a symlink (to ")
    assert row["dice"] == 0.0  # the worst value, not the label's perfect 1.0


def test_a_hard_link_and_a_folder_named_like_the_case_are_refused(tmp_path, split):
    team = tmp_path / "team"
    team.mkdir()
    os.link(split.case("c1").label, team / "c1.nii.gz")
    assert "is a hard link (2 links)" in _row(split, team)["message"]
    other = tmp_path / "other"
    (other / "c1.nii.gz").mkdir(parents=True)
    row = _row(split, other)
    assert (row["status"], row["message"]) == (
        "invalid_output", "c1.nii.gz is a folder, not a prediction file"
    )


# 2. Header bombs -----------------------------------------------------------------------------


def test_a_header_bomb_is_invalid_output_through_evaluate(tmp_path, split):
    team = tmp_path / "team"
    team.mkdir()
    _bomb(team / "c1.nii.gz")
    assert (team / "c1.nii.gz").stat().st_size < 100
    code = run(["evaluate", "--split", str(split.root), "--predictions", str(team),
                "--out", str(tmp_path / "m.csv"), "--no-progress"])
    assert code == 1  # the team's case failed; not an internal error
    row = pd.read_csv(tmp_path / "m.csv", keep_default_na=False).iloc[0]
    assert row["status"] == "invalid_output"
    # The cap: 8 bytes per voxel of the case's 6*7*8 = 336 voxels.
    assert "over the cap of 2,688 bytes" in row["message"]


def test_the_report_loader_refuses_a_header_bomb_and_a_link(tmp_path, split):
    loader = SplitVolumes(split, base_dir=tmp_path)
    _bomb(tmp_path / "bomb.nii.gz")
    with pytest.raises(ResultsError, match="over the cap"):
        loader.prediction("c1", "bomb.nii.gz")
    (tmp_path / "link.nii.gz").symlink_to(split.case("c1").label)
    with pytest.raises(ResultsError, match="is a symlink"):
        loader.prediction("c1", "link.nii.gz")


# 3. One prediction, one score ------------------------------------------------------------------


def _runner_folder(folder, case_id, file, grid, gate):
    """What the runner leaves after a container wrote ``file``: the gate, save_mask, a record."""
    (folder / "predictions").mkdir(parents=True)
    check = validate_prediction(file, grid, options=gate)
    record = {"case_id": case_id, "status": check.status, "reason": check.message,
              "exit_code": 0, "wall_time_s": 1.0, "peak_memory_bytes": None,
              "image_digest": "sha256:0"}
    if check.mask is not None:
        save_mask(check.mask, grid, folder / "predictions" / f"{case_id}.nii.gz")
        record["prediction"] = f"predictions/{case_id}.nii.gz"
    (folder / "cases.jsonl").write_text(json.dumps(record) + "\n")
    return folder


def _same_row(a, b):
    assert a["status"] == b["status"]
    for column in METRIC_COLUMNS:
        assert (pd.isna(a[column]) and pd.isna(b[column])) or a[column] == b[column], column


@pytest.mark.parametrize("threshold", [None, 0.5])
def test_a_probability_map_scores_the_same_through_both_paths(tmp_path, split, threshold):
    prob = np.zeros(SHAPE, np.float32)
    prob[1:3, 1:3, 1:3] = 0.9  # the first blob, confidently
    prob[4:6, 4:7, 4:7] = 0.3  # the second blob, weakly: only > 0 keeps it
    team = tmp_path / "team"
    team.mkdir()
    write_volume(team / "c1.nii.gz", prob, GRID)
    gate = GateOptions(binarize=BinarizeRule(threshold=threshold))
    direct = _row(split, team, gate=gate)
    runner = _runner_folder(tmp_path / "run", "c1", team / "c1.nii.gz", GRID, gate)
    through_runner = _row(split, runner, gate=gate)
    _same_row(direct, through_runner)
    assert direct["message"] == through_runner["message"]
    # Worked by hand: > 0 finds both blobs (26 of 336 voxels = 7.74%); >= 0.5 only the 8-voxel
    # one, so Dice = 2*8 / (8 + 26) = 16/34.
    if threshold is None:
        assert direct["dice"] == 1.0 and direct["blob_tp"] == 2
        assert direct["message"] == (
            "warning: c1.nii.gz: float output (values 0 to 0.9): 7.74% of voxels became "
            "foreground under the rule > 0"
        )
    else:
        assert direct["dice"] == pytest.approx(16 / 34) and direct["blob_tp"] == 1
        assert "under the rule >= 0.5" in direct["message"]


@pytest.mark.parametrize(("value", "words"), [(np.nan, "1 NaN"), (np.inf, "1 infinite"),
                                              (-np.inf, "1 infinite")])
def test_nan_and_inf_maps_are_invalid_on_every_path(tmp_path, split, value, words):
    prob = np.zeros(SHAPE, np.float32)
    prob[0, 0, 0] = value
    team = tmp_path / "team"
    team.mkdir()
    write_volume(team / "c1.nii.gz", prob, GRID)
    direct = _row(split, team)
    runner = _row(split, _runner_folder(tmp_path / "run", "c1", team / "c1.nii.gz", GRID,
                                        GateOptions()))
    for row in (direct, runner):
        assert row["status"] == "invalid_output" and words in row["message"]


def test_negative_logits_are_background_under_the_official_rule(tmp_path, split):
    logits = np.full(SHAPE, -4.0, np.float32)
    logits[_label() > 0] = 2.5
    team = tmp_path / "team"
    team.mkdir()
    write_volume(team / "c1.nii.gz", logits, GRID)
    row = _row(split, team)
    assert (row["status"], row["dice"]) == ("ok", 1.0)
    assert "float output (values -4 to 2.5)" in row["message"]


# The property: every supported format and dtype, random masks, both paths, the same row.

_DTYPES = (np.uint8, np.int16, np.uint16, np.int32, np.float32, np.float64)
_FORMATS = (".nii.gz", ".nii", ".mha", ".tif")


def _write_any(path, array):
    if path.suffix == ".tif":
        tifffile.imwrite(path, array)
    elif path.suffix == ".mha":
        sitk.WriteImage(sitk.GetImageFromArray(array), str(path))  # no geometry of its own
    else:
        write_volume(path, array, GRID)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from(_DTYPES),
    ext=st.sampled_from(_FORMATS),
    scale=st.sampled_from([1, 3, 0.7]),
    threshold=st.sampled_from([None, 0.5]),
)
def test_evaluate_and_predict_then_evaluate_give_the_same_row(
    tmp_path_factory, split, seed, dtype, ext, scale, threshold
):
    rng = np.random.default_rng(seed)
    values = rng.random(SHAPE) * (rng.random(SHAPE) < 0.3) * scale
    array = values.astype(dtype)
    if ext == ".tif" and dtype == np.float64:
        array = array.astype(np.float32)
    base = tmp_path_factory.mktemp("p")
    (base / "team").mkdir()
    file = base / "team" / f"c1{ext}"
    _write_any(file, array)
    gate = GateOptions(binarize=BinarizeRule(threshold=threshold))
    direct = _row(split, base / "team", gate=gate)
    through_runner = _row(split, _runner_folder(base / "run", "c1", file, GRID, gate), gate=gate)
    _same_row(direct, through_runner)
    assert direct["message"] == through_runner["message"]
    assert direct["status"] == "ok"


# 4. References --------------------------------------------------------------------------------


def test_a_nan_in_a_label_stops_scoring_naming_the_label(tmp_path):
    label = _label().astype(np.float32)
    label[0, 0, 0] = np.nan
    split = _make_split(tmp_path / "split", label=label)
    team = tmp_path / "team"
    team.mkdir()
    write_volume(team / "c1.nii.gz", _label(), GRID)
    with pytest.raises(VolumeError, match=r"case 'c1': label .*c1_label.nii.gz cannot be used"):
        evaluate_predictions(split, {"t": team}, progress=False)
    code = run(["evaluate", "--split", str(split.root), "--predictions", str(team),
                "--out", str(tmp_path / "m.csv"), "--no-progress"])
    assert code == 2 and not (tmp_path / "m.csv").exists()


def test_a_label_of_the_wrong_shape_is_the_splits_fault_not_the_team(tmp_path, capsys,
                                                                     monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # one line per message
    split = _make_split(tmp_path / "split", label=np.zeros((6, 7, 9), np.uint8))
    team = tmp_path / "team"
    team.mkdir()
    write_volume(team / "c1.nii.gz", _label(), GRID)
    code = run(["evaluate", "--split", str(split.root), "--predictions", str(team),
                "--out", str(tmp_path / "m.csv"), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "c1_label.nii.gz cannot be used as a reference" in err
    assert "shape (z, y, x) is (6, 7, 9), expected (6, 7, 8) (the image's)" in err


# 7. Geometry ------------------------------------------------------------------------------------


def test_differing_spacing_is_scored_with_a_warning_or_refused_when_strict(tmp_path, split):
    team = tmp_path / "team"
    team.mkdir()
    write_volume(team / "c1.nii.gz", _label(), Grid(SHAPE, spacing=(1.5, 1.0, 1.0)))
    row = _row(split, team)
    assert (row["status"], row["dice"]) == ("ok", 1.0)
    assert row["message"] == (
        "warning: c1.nii.gz: spacing is (1.5, 1.0, 1.0), expected (2.0, 1.0, 1.0) "
        "(scored on the voxel grid)"
    )
    strict = _row(split, team, gate=GateOptions(geometry="strict"))
    assert strict["status"] == "invalid_output"
    assert "spacing is (1.5, 1.0, 1.0)" in strict["message"]


def test_an_output_written_without_geometry_scores_normally(tmp_path, split):
    team = tmp_path / "team"
    team.mkdir()
    sitk.WriteImage(sitk.GetImageFromArray(_label()), str(team / "c1.mha"))
    for gate in (GateOptions(), GateOptions(geometry="strict")):
        row = _row(split, team, gate=gate)
        assert (row["status"], row["message"], row["dice"]) == ("ok", "", 1.0)
