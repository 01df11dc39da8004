import numpy as np
import pytest

from metrics import cldice, skeleton


def _line(n, start, stop):
    m = np.zeros((3, 3, n), np.uint8)
    m[1, 1, start:stop] = 1
    return m


def test_straight_tube_partly_found():
    # A 1-voxel-wide tube is its own skeleton: S(R) = 9 voxels, S(P) = P = 3 voxels in R.
    # Tprec = 3/3 = 1, Tsens = 3/9 = 1/3, clDice = 2 * 1/3 / (4/3) = 0.5
    r = _line(11, 1, 10)
    p = _line(11, 1, 4)
    assert int(skeleton(r).sum()) == 9
    assert cldice(r, p) == pytest.approx(0.5)


def test_tube_with_a_gap():
    # P = R minus its middle voxel: two pieces of 4, both their own skeleton, inside R.
    # Tprec = 8/8 = 1, Tsens = |S(R) & P| / |S(R)| = 8/9, clDice = 2 * 8/9 / (17/9) = 16/17
    r = _line(11, 1, 10)
    p = r.copy()
    p[1, 1, 5] = 0
    assert cldice(r, p) == pytest.approx(16 / 17)


def test_thick_tube_identical_is_one():
    r = np.zeros((7, 7, 15), bool)
    r[2:5, 2:5, 1:14] = True
    assert cldice(r, r) == 1.0


def test_empty_prediction_gets_zero_not_one():
    # The SELMA3D 2024 evaluator's +1e-6 smoothing gave this case clDice = 1.0.
    r = _line(11, 1, 10)
    assert cldice(r, np.zeros_like(r)) == 0.0


@pytest.mark.parametrize("side", [2, 4])
def test_cube_that_thinning_empties_gets_one_central_voxel(side):
    # skimage's 3D thinning removes 2x2x2 and 4x4x4 cubes entirely (issues #3757, #6513).
    m = np.zeros((side + 2,) * 3, bool)
    m[1 : side + 1, 1 : side + 1, 1 : side + 1] = True
    from skimage.morphology import skeletonize

    assert not skeletonize(m).any()
    s = skeleton(m)
    # All 8 (or the 8 central) voxels are equally near the centroid: the first in z, y, x order.
    centre = 1 + (side - 1) // 2
    assert np.argwhere(s).tolist() == [[centre, centre, centre]]
    assert cldice(m, m) == 1.0


def test_small_component_beside_a_skeleton_adds_nothing():
    # As in the official computation (thinning of the whole mask): a rod keeps its skeleton,
    # the 2x2x2 cube beside it thins to nothing and gets no voxel.
    m = np.zeros((6, 6, 12), bool)
    m[3, 3, 1:8] = True
    m[0:2, 0:2, 9:11] = True
    s = skeleton(m)
    assert s[3, 3, 1:8].all()
    assert not s[0:2, 0:2, 9:11].any()
    assert int(s.sum()) == 7


def test_mask_that_thins_to_nothing_gets_one_voxel_per_component():
    # Two separate 2x2x2 cubes and nothing else: the whole thinning is empty (official: 0/0),
    # so each cube gets its first voxel (all 8 equally near its centroid).
    m = np.zeros((4, 4, 8), bool)
    m[1:3, 1:3, 1:3] = True
    m[1:3, 1:3, 5:7] = True
    assert np.argwhere(skeleton(m)).tolist() == [[1, 1, 1], [1, 1, 5]]


def test_fragments_of_the_prediction_follow_the_official_value():
    # R: a rod of 9 voxels (its own skeleton). P: the rod's first 6 voxels plus a 2x2x2 cube
    # away from R. S(P) = the 6 rod voxels (the cube thins to nothing and adds nothing):
    # Tprec = 6/6 = 1, Tsens = 6/9 = 2/3, clDice = 2 * 2/3 / (5/3) = 0.8.
    # (Were the cube given a voxel, Tprec = 6/7 and clDice = 0.75.)
    r = np.zeros((5, 5, 12), np.uint8)
    r[1, 1, 1:10] = 1
    p = np.zeros_like(r)
    p[1, 1, 1:7] = 1
    p[3:5, 3:5, 9:11] = 1
    assert cldice(r, p) == pytest.approx(0.8, abs=1e-12)


def test_no_overlap_of_skeletons_is_zero():
    # Tprec = Tsens = 0 (the official formula gives 0/0 = NaN): clDice 0.
    r = _line(11, 1, 4)
    p = _line(11, 6, 10)
    assert cldice(r, p) == 0.0


def test_shifted_small_cube_hand_worked():
    # R: 2x2x2 cube at x 1..2, P: the same at x 2..3. Fallback skeletons are the first voxel
    # of each: S(R) = (1, 1, 1) (not in P), S(P) = (1, 1, 2) (in R).
    # Tprec = 1, Tsens = 0, clDice = 0.
    r = np.zeros((4, 4, 5), bool)
    r[1:3, 1:3, 1:3] = True
    p = np.zeros_like(r)
    p[1:3, 1:3, 2:4] = True
    assert cldice(r, p) == 0.0


def test_skeleton_coordinates_by_hand():
    from metrics.cldice import skeleton_coordinates

    # A 2x2x2 cube that thinning empties (it gets nothing: the rod keeps a skeleton) and a
    # rod that thinning keeps whole, in raster order.
    m = np.zeros((6, 6, 12), bool)
    m[0:2, 0:2, 0:2] = True
    m[4, 4, 3:11] = True
    z, y, x = skeleton_coordinates(m)
    assert z.tolist() == [4] * 8
    assert y.tolist() == [4] * 8
    assert x.tolist() == [3, 4, 5, 6, 7, 8, 9, 10]
