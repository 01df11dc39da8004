import numpy as np
import pytest
from skimage.filters import threshold_otsu

from baselines import threshold
from tests.baselines.conftest import ball


def test_bright_cube_is_found_and_speck_removed():
    img = np.full((16, 16, 16), 10.0)
    img[4:9, 4:9, 4:9] = 100.0  # 125 voxels
    img[14, 14, 14] = 100.0
    mask = threshold.segment(img, min_size=2)
    assert mask.dtype == np.uint8
    assert mask.sum() == 125 and mask[4:9, 4:9, 4:9].all()


def test_matches_an_independent_otsu_on_a_noisy_ball():
    rng = np.random.default_rng(3)
    shape = (24, 24, 24)
    truth = ball(shape, (12, 12, 12), 6)
    img = np.where(truth, 200.0, 50.0) + rng.normal(0, 10, shape)
    lo, hi = np.percentile(img, [1, 99.9])
    norm = np.clip((img - lo) / (hi - lo), 0, 1)
    expected = norm > threshold_otsu(norm)
    np.testing.assert_array_equal(threshold.segment(img, min_size=0).astype(bool), expected)


def test_constant_image_gives_empty_mask():
    assert threshold.segment(np.ones((8, 8, 8))).sum() == 0


def test_flip_invariance():
    rng = np.random.default_rng(4)
    img = rng.gamma(2.0, size=(20, 20, 20))
    np.testing.assert_array_equal(
        threshold.segment(img[::-1, :, ::-1]), threshold.segment(img)[::-1, :, ::-1]
    )


def test_negative_min_size_rejected():
    with pytest.raises(ValueError, match="min_size"):
        threshold.segment(np.zeros((4, 4, 4)), min_size=-1)
