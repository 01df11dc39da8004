"""Bit-packed masks: the layout worked out by hand; counts against numpy, scipy and scikit-image."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.measure import euler_number

from metrics._bitpacked import cavities, euler_characteristic_packed, pack, popcount


def shell(shape: tuple[int, int, int]) -> np.ndarray:
    """A box's surface, one voxel thick: one cavity when the box is at least 3 wide."""
    m = np.ones(shape, bool)
    m[1:-1, 1:-1, 1:-1] = False
    return m


@pytest.mark.parametrize(("width", "words"), [(1, 1), (61, 1), (62, 2), (125, 2), (126, 3)])
def test_a_row_holds_the_voxels_two_margin_bits_and_a_spare_bit(width, words):
    # ceil((X + 3) / 64) words: 61 + 3 = 64 fits one word, 62 + 3 = 65 needs two.
    packed = pack(np.zeros((2, 3, width), bool))
    assert packed.shape == (4, 5, words)
    assert packed.dtype == np.uint64
    assert popcount(packed) == 0


def test_voxel_zyx_is_bit_x_plus_1_of_word_z_plus_1_y_plus_1():
    m = np.zeros((1, 2, 64), bool)
    m[0, 0, 0] = True  # word (1, 1, 0), bit 1
    m[0, 1, 61] = True  # word (1, 2, 0), bit 62
    m[0, 0, 63] = True  # word (1, 1, 1), bit 0: x + 1 = 64 starts the second word
    packed = pack(m)
    expected = np.zeros((3, 4, 2), np.uint64)
    expected[1, 1, 0] = 1 << 1
    expected[1, 2, 0] = 1 << 62
    expected[1, 1, 1] = 1
    np.testing.assert_array_equal(packed, expected)


@pytest.mark.parametrize("seed", range(4))
def test_popcount_counts_the_set_voxels(seed):
    rng = np.random.default_rng(seed)
    m = rng.random((5, 7, 130)) < 0.3
    assert popcount(pack(m)) == int(m.sum())


@pytest.mark.parametrize(
    ("mask", "chi"),
    [
        # One closed cube: a ball.
        (np.ones((1, 1, 1), bool), 1),
        # Two cubes apart: two balls.
        (np.array([[[1, 0, 1]]], bool), 2),
        # Two cubes touching at a corner: one contractible union.
        (np.array([[[1, 0], [0, 1]], [[0, 0], [0, 0]]], bool), 1),
        # A ring of eight cubes around an empty middle: a torus' Euler characteristic, 0.
        (np.array([[[1, 1, 1], [1, 0, 1], [1, 1, 1]]], bool), 0),
        # A hollow box: a sphere, 2.
        (shell((3, 3, 3)), 2),
    ],
)
def test_euler_characteristic_by_hand(mask, chi):
    assert euler_characteristic_packed(pack(mask)) == chi


@pytest.mark.parametrize("seed", range(6))
def test_euler_characteristic_equals_scikit_images(seed):
    rng = np.random.default_rng(seed)
    m = rng.random((6, 9, 70)) < 0.4 + 0.05 * seed
    assert euler_characteristic_packed(pack(m)) == euler_number(m, connectivity=3)


def scipy_cavities(mask: np.ndarray) -> int:
    """6-connected background components that do not touch the border, by scipy's labelling."""
    _, n = ndi.label(~np.pad(mask, 1), structure=ndi.generate_binary_structure(3, 1))
    return n - 1  # the padded border is one component, reaching every outside voxel


def test_cavities_by_hand():
    assert cavities(pack(np.ones((3, 3, 3), bool)), 3) == 0
    assert cavities(pack(shell((3, 3, 3))), 3) == 1
    # Two voxels of cavity in one component; a box longer than a word along x.
    assert cavities(pack(shell((3, 3, 4))), 4) == 1
    assert cavities(pack(shell((3, 3, 70))), 70) == 1
    # Two hollow boxes side by side share a wall: two cavities.
    two = np.concatenate([shell((3, 3, 3)), shell((3, 3, 3))[:, :, 1:]], axis=2)
    assert two.shape == (3, 3, 5)
    assert cavities(pack(two), 5) == 2
    # A hole in the wall opens the cavity to the outside.
    open_box = shell((3, 3, 3))
    open_box[1, 1, 0] = False
    assert cavities(pack(open_box), 3) == 0


def test_a_cavity_touching_the_outside_only_at_an_edge_stays_a_cavity():
    # Background is 6-connected: a diagonal gap does not let the outside in.
    m = shell((4, 4, 4))
    m[1, 1, 0] = False  # a voxel of the wall, its face on the outside
    m[1, 1, 1] = True  # the cavity voxel behind it filled: the gap meets the cavity at an edge
    assert not m[1, 2, 1]  # the cavity's voxel that the gap meets at an edge
    assert scipy_cavities(m) == 1
    assert cavities(pack(m), 4) == 1


@pytest.mark.parametrize("seed", range(6))
def test_cavities_equal_scipys_labelling(seed):
    rng = np.random.default_rng(seed)
    m = rng.random((7, 8, 67)) < 0.55 + 0.05 * seed
    expected = scipy_cavities(m)
    assert cavities(pack(m), m.shape[2]) == expected
    if seed >= 3:
        assert expected > 0  # dense masks enclose background: the check is not vacuous
