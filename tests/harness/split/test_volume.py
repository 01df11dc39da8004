import gzip

import numpy as np
import pytest

from harness.errors import VolumeError
from harness.split.volume import Grid, read_volume, write_volume
from tests.conftest import REAL_PATCHES

GRID = Grid(
    (4, 5, 6),
    spacing=(2.5, 0.5, 0.75),
    origin=(10.0, -3.0, 7.5),
    direction=(0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0),
)


def _array(dtype=np.uint8):
    return (np.arange(4 * 5 * 6).reshape(4, 5, 6) % 7).astype(dtype)


@pytest.mark.parametrize("ext", [".nii", ".nii.gz", ".mha"])
def test_round_trip_keeps_the_grid(tmp_path, ext):
    path = write_volume(tmp_path / f"v{ext}", _array(), GRID)
    volume = read_volume(path)
    np.testing.assert_array_equal(volume.array, _array())
    assert volume.grid.mismatch(GRID) is None


@pytest.mark.parametrize("ext", [".tif", ".tiff"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_tiff_round_trip_keeps_shape_and_spacing(tmp_path, ext, dtype):
    path = write_volume(tmp_path / f"v{ext}", _array(dtype), GRID)
    volume = read_volume(path)
    np.testing.assert_array_equal(volume.array, _array(dtype))
    assert volume.grid.shape == GRID.shape
    np.testing.assert_allclose(volume.grid.spacing, GRID.spacing, rtol=1e-5)


def test_truncated_gzip(tmp_path):
    path = write_volume(tmp_path / "v.nii.gz", _array(), GRID)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(VolumeError, match=r"v\.nii\.gz"):
        read_volume(path)


def test_garbage_gzip(tmp_path):
    path = tmp_path / "g.nii.gz"
    path.write_bytes(gzip.compress(b"not a nifti header at all"))
    with pytest.raises(VolumeError, match=r"g\.nii\.gz"):
        read_volume(path)


@pytest.mark.parametrize("ext", [".nii.gz", ".mha", ".tif"])
def test_non_3d_file(tmp_path, ext):
    path = tmp_path / f"flat{ext}"
    if ext == ".mha":
        import SimpleITK as sitk

        sitk.WriteImage(sitk.GetImageFromArray(np.zeros((5, 6), np.uint8)), str(path))
    elif ext == ".tif":
        import tifffile

        tifffile.imwrite(str(path), np.zeros((5, 6), np.uint8))
    else:
        import nibabel as nib

        nib.save(nib.Nifti1Image(np.zeros((5, 6), np.uint8), np.eye(4)), str(path))
    with pytest.raises(VolumeError, match=rf"flat{ext}.*3D"):
        read_volume(path)


def test_unknown_extension_and_missing_file(tmp_path):
    with pytest.raises(VolumeError, match=r"v\.png: unknown volume format"):
        read_volume(tmp_path / "v.png")
    with pytest.raises(VolumeError, match=r"nope\.nii\.gz: no such file"):
        read_volume(tmp_path / "nope.nii.gz")
    with pytest.raises(VolumeError, match="can only write 3D"):
        write_volume(tmp_path / "x.nii.gz", np.zeros((3, 3)))


def test_reads_the_real_patches():
    files = sorted(REAL_PATCHES.glob("*/*.nii.gz"))
    if len(files) != 12:
        pytest.fail(f"expected 12 real patch files in {REAL_PATCHES}; found {len(files)}")
    for path in files:
        volume = read_volume(path)
        assert volume.array.shape == (96, 96, 96), path.name
        if path.name.endswith("_label.nii.gz"):
            assert volume.array.dtype == np.uint8
            assert set(np.unique(volume.array)) <= {0, 1}
        else:
            assert volume.array.dtype == np.float32
