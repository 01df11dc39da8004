"""A participant's file never makes the harness read anything else, nor block, nor overflow.

Every hostile file of :mod:`tests.harness.predictions.hostile` (built byte by byte) is scored
by a real ``selma3d evaluate`` process whose standard input is a pipe left open (a reader that
followed ``/dev/stdin`` would wait forever), on a split whose hidden labels are uncompressed
NIfTI files (their last voxels are exactly the masks). The same files written by a real
container are in tests/integration/test_hostile_outputs.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
import zlib

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import tifffile

from harness.errors import VolumeError
from harness.predictions.validate import validate_prediction
from harness.split.manifest import write_manifest
from harness.split.volume import Grid, read_header, read_volume, write_volume
from tests.harness.predictions.hostile import SHAPE, hostile_files, mha, mha_fields, nifti1

GRID = Grid(SHAPE)


def _label() -> np.ndarray:
    m = np.zeros(SHAPE, np.uint8)
    m[1:3, 1:3, 1:3] = 1
    m[4:6, 4:7, 4:7] = 1
    return m


def _split(root, n):
    root.mkdir(parents=True)
    rows = []
    for k in range(n):
        write_volume(root / f"c{k}.nii.gz", np.zeros(SHAPE, np.float32))
        write_volume(root / f"c{k}_label.nii", _label())
        rows.append({"case_id": f"c{k}", "track": "spot", "structure": "x",
                     "image": f"c{k}.nii.gz", "label": f"c{k}_label.nii"})
    write_manifest(root, rows)
    return root


def _evaluate(split, team, out):
    """A real ``selma3d evaluate`` with stdin a pipe nobody writes to; (exit code, stderr)."""
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "evaluate", "--split", str(split), "--predictions",
         str(team), "--out", str(out), "--no-progress"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("selma3d evaluate blocked on a hostile prediction (killed after 120 s)")
    return proc.returncode, err.decode()


def test_every_hostile_file_is_invalid_output_through_evaluate(tmp_path):
    n = len(hostile_files(tmp_path / "x"))
    split = _split(tmp_path / "split", n + 2)
    team = tmp_path / "team"
    team.mkdir()
    expected = {}
    for k in range(n):
        hostile = hostile_files(split / f"c{k}_label.nii")[k]
        (team / f"c{k}{hostile.ext}").write_bytes(hostile.data)
        expected[f"c{k}"] = hostile
    # The local data file a header names, as a link to the hidden label: never opened.
    local_raw = next(k for k, h in expected.items() if h.name == "mha-local-raw")
    (team / "c1.raw").symlink_to(split / f"{local_raw}_label.nii")
    # A FIFO as the prediction itself, and as a MetaImage's data file.
    os.mkfifo(team / f"c{n}.mha")
    os.mkfifo(tmp_path / "pipe")
    (team / f"c{n + 1}.mha").write_bytes(mha(mha_fields(str(tmp_path / "pipe"))))
    code, err = _evaluate(split, team, tmp_path / "m.csv")
    assert code == 1, err
    table = pd.read_csv(tmp_path / "m.csv", keep_default_na=False).set_index("case_id")
    for case_id, hostile in expected.items():
        row = table.loc[case_id]
        assert row["status"] == "invalid_output", (hostile.name, row["message"])
        assert hostile.words in row["message"], (hostile.name, row["message"])
        assert row["dice"] == 0.0, hostile.name  # scored at the worst value, never the label's
    assert "is not a regular file" in table.loc[f"c{n}", "message"]
    assert "ElementDataFile = LOCAL" in table.loc[f"c{n + 1}", "message"]


def test_the_refusal_says_what_to_write_instead(tmp_path):
    path = tmp_path / "p.mha"
    path.write_bytes(mha(mha_fields("/dev/zero")))
    reason = validate_prediction(path, GRID).reason
    assert "ElementDataFile is '/dev/zero'" in reason
    assert "Write 'ElementDataFile = LOCAL'" in reason


# Valid files are never refused --------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint32, np.int64, np.float32])
def test_simpleitk_metaimages_read_as_simpleitk_reads_them(tmp_path, dtype, compress):
    rng = np.random.default_rng(3)
    array = (rng.random(SHAPE) * 100).astype(dtype)
    img = sitk.GetImageFromArray(array)
    img.SetSpacing((0.5, 2.0, 3.0))
    img.SetOrigin((1.0, -2.0, 3.5))
    img.SetDirection((0, 1, 0, 0, 0, 1, 1, 0, 0))  # not symmetric: catches a transposition
    path = tmp_path / "v.mha"
    sitk.WriteImage(img, str(path), useCompression=compress)
    ours = read_volume(path, untrusted=True)
    theirs = sitk.ReadImage(str(path))
    np.testing.assert_array_equal(ours.array, sitk.GetArrayFromImage(theirs))
    assert ours.array.dtype == sitk.GetArrayFromImage(theirs).dtype
    assert ours.grid.spacing == (3.0, 2.0, 0.5)
    np.testing.assert_allclose(ours.grid.origin, theirs.GetOrigin())
    np.testing.assert_allclose(ours.grid.direction, theirs.GetDirection())


def test_simpleitk_lzw_tiff_is_accepted(tmp_path):
    mask = _label()
    path = tmp_path / "c1.tif"
    sitk.WriteImage(sitk.GetImageFromArray(mask), str(path), True, compressor="LZW")
    with tifffile.TiffFile(str(path)) as tif:
        assert tif.pages[0].compression.name == "LZW"
    v = validate_prediction(path, GRID)
    assert v.status == "ok", v.reason
    np.testing.assert_array_equal(v.mask, mask)


@pytest.mark.parametrize("ext", [".nii", ".nii.gz"])
def test_nibabel_and_simpleitk_niftis_are_accepted(tmp_path, ext):
    mask = _label()
    a = write_volume(tmp_path / f"a{ext}", mask * 3)  # nibabel: scl_slope NaN = unscaled
    b = tmp_path / f"b{ext}"
    sitk.WriteImage(sitk.GetImageFromArray(mask), str(b))
    for path in (a, b):
        v = validate_prediction(path, GRID)
        assert v.status == "ok", v.reason
        np.testing.assert_array_equal(v.mask, mask)


def test_a_scaled_nifti_is_read_scaled(tmp_path):
    # int16 voxels -1, 0, 2 with slope 0.5 and intercept 0.25: -0.25, 0.25, 1.25.
    data = np.zeros(SHAPE, "<i2")
    data[0, 0, :3] = (-1, 0, 2)
    path = tmp_path / "s.nii"
    path.write_bytes(nifti1(datatype=4, bitpix=16, slope=0.5, inter=0.25, data=data.tobytes()))
    array = read_volume(path).array
    assert array[0, 0, :3].tolist() == [-0.25, 0.25, 1.25]


# Decided rules, with bounded memory ----------------------------------------------------------


def test_a_zlib_stream_far_longer_than_declared_stops_at_the_declared_size(tmp_path):
    # 64 MB of ones compressed to ~64 kB, declared as 6*7*8 = 336 voxels: refused after
    # inflating 337 bytes; peak memory stays near the compressed size, far under 64 MB.
    big = 64 * 1024 * 1024
    path = tmp_path / "p.mha"
    path.write_bytes(mha(mha_fields("LOCAL", CompressedData="True"), zlib.compress(b"\1" * big)))
    tracemalloc.start()
    v = validate_prediction(path, GRID)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert v.status == "invalid_output"
    assert "more than the 336 bytes" in v.reason
    assert peak < 2 * 1024 * 1024, peak


def test_a_gzip_stream_far_longer_than_declared_stops_at_the_declared_size(tmp_path):
    import gzip

    big = 64 * 1024 * 1024
    path = tmp_path / "p.nii.gz"
    path.write_bytes(gzip.compress(nifti1(data=b"\1" * big), compresslevel=1))
    tracemalloc.start()
    v = validate_prediction(path, GRID)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert v.status == "invalid_output"
    assert "more than the 336 bytes" in v.reason
    assert peak < 2 * 1024 * 1024, peak


def test_organizer_files_follow_links_but_never_open_a_fifo(tmp_path):
    real = write_volume(tmp_path / "a.nii.gz", _label())
    (tmp_path / "link.nii.gz").symlink_to(real)
    assert read_header(tmp_path / "link.nii.gz").shape == SHAPE
    with pytest.raises(VolumeError, match="is a symlink"):
        read_header(tmp_path / "link.nii.gz", untrusted=True)
    os.mkfifo(tmp_path / "f.nii.gz")
    with pytest.raises(VolumeError, match="is not a regular file"):
        read_volume(tmp_path / "f.nii.gz")


def test_check_advises_writing_the_voxels_inside_the_metaimage(tmp_path):
    from harness.rounds.check import advice_for

    path = tmp_path / "p.mha"
    path.write_bytes(mha(mha_fields("/hidden/labels/h001.nii", HeaderSize="-1")))
    reason = validate_prediction(path, GRID).reason
    advice = advice_for("invalid_output", reason=reason, limits={}, exit_code=0,
                        output_hint="/output/")
    assert "Write the voxels inside the .mha file (ElementDataFile = LOCAL)" in advice


@pytest.mark.parametrize("kind", ["nifti2", "big-endian"])
def test_nifti2_and_big_endian_niftis_written_by_nibabel_are_accepted(tmp_path, kind):
    import nibabel as nib

    mask = _label()
    data = np.ascontiguousarray(mask.transpose(2, 1, 0)).astype(np.int16) * 7
    if kind == "nifti2":
        img = nib.Nifti2Image(data, np.eye(4))
    else:
        img = nib.Nifti1Image(data, np.eye(4), header=nib.Nifti1Header(endianness=">"))
    path = tmp_path / "p.nii"
    nib.save(img, str(path))
    assert path.read_bytes()[:4] == ((540).to_bytes(4, "little") if kind == "nifti2"
                                     else (348).to_bytes(4, "big"))
    v = validate_prediction(path, GRID)
    assert v.status == "ok", v.reason
    np.testing.assert_array_equal(v.mask, mask)
