import numpy as np
import pytest
from skimage.measure import euler_number, label

from metrics import betti0_error, betti1_error, betti_numbers, euler_characteristic


def test_straight_tube_is_one_component_no_loop():
    m = np.zeros((5, 5, 11), bool)
    m[1:4, 1:4, 1:10] = True
    assert betti_numbers(m) == (1, 0, 0)


def test_ring_has_one_loop():
    # A 3x3 square annulus in one plane: 8 voxels around a hole. chi = 0, b0 = 1, b2 = 0, b1 = 1.
    m = np.zeros((3, 5, 5), bool)
    m[1, 1:4, 1:4] = True
    m[1, 2, 2] = False
    assert euler_characteristic(m) == 0
    assert betti_numbers(m) == (1, 1, 0)


def test_ring_closed_through_a_corner_counts_with_26_connectivity():
    # Two L-shaped halves touching only at diagonal corners still close a loop for a
    # 26-connected foreground.
    m = np.zeros((3, 6, 6), bool)
    m[1, 1, 1:4] = True  # top edge
    m[1, 1:4, 1] = True  # left edge
    m[1, 4, 2:5] = True  # bottom edge, diagonal to (1, 3, 1)
    m[1, 2:5, 4] = True  # right edge, diagonal to (1, 1, 3)
    assert betti_numbers(m)[0] == 1
    assert betti_numbers(m)[1] == 1


def test_hollow_shell_has_one_cavity():
    # A 5x5x5 cube with a 3x3x3 hole: one component, one cavity, chi = 2.
    m = np.zeros((7, 7, 7), bool)
    m[1:6, 1:6, 1:6] = True
    m[2:5, 2:5, 2:5] = False
    assert euler_characteristic(m) == 2
    assert betti_numbers(m) == (1, 0, 1)


def test_thick_torus():
    # A square frame 3 voxels thick: one tunnel.
    m = np.zeros((5, 9, 9), bool)
    m[1:4, 1:8, 1:8] = True
    m[1:4, 3:6, 3:6] = False
    assert betti_numbers(m) == (1, 1, 0)


def test_empty_mask():
    assert betti_numbers(np.zeros((3, 3, 3))) == (0, 0, 0)


def test_betti_errors_hand_worked():
    # Tube with a gap: 2 pieces against 1; ring against a filled disc: 1 loop against 0.
    tube = np.zeros((3, 3, 9), bool)
    tube[1, 1, 1:8] = True
    gap = tube.copy()
    gap[1, 1, 4] = False
    assert betti0_error(tube, gap) == 1
    ring = np.zeros((3, 5, 5), bool)
    ring[1, 1:4, 1:4] = True
    ring[1, 2, 2] = False
    disc = ring.copy()
    disc[1, 2, 2] = True
    assert betti1_error(ring, disc) == 1
    assert betti0_error(ring, disc) == 0


@pytest.mark.parametrize("seed", range(8))
def test_against_scikit_image(seed):
    # Independent library: skimage's Euler number (Ohser's LUT) and labelling.
    rng = np.random.default_rng(seed)
    m = rng.random((9, 10, 11)) < 0.45
    assert euler_characteristic(m) == euler_number(m, connectivity=3)
    b0, _, b2 = betti_numbers(m)
    assert b0 == label(m, connectivity=3).max()
    padded = np.pad(~m, 1, constant_values=True)
    assert b2 == label(padded, connectivity=1).max() - 1


def _scipy_b0_b2(m):
    # Independent: scipy's labelling, 26-connected foreground and 6-connected background of
    # the padded mask.
    from scipy import ndimage

    b0 = ndimage.label(m, np.ones((3, 3, 3)))[1]
    b2 = ndimage.label(~np.pad(m, 1))[1] - 1
    return b0, b2


@pytest.mark.parametrize(
    "shape",
    [(1, 1, 9), (3, 3, 1), (1, 7, 5), (6, 5, 63), (4, 5, 64), (5, 4, 65), (3, 4, 126), (9, 9, 9)],
)
@pytest.mark.parametrize("density", [0.3, 0.6, 0.85])
def test_random_masks_against_scipy(shape, density):
    # Widths around 64 cross the packed word boundaries; singleton axes hit the cc3d 4.1.1
    # failure that metrics._masks.components works around.
    rng = np.random.default_rng([*shape, int(density * 100)])
    for _ in range(5):
        m = rng.random(shape) < density
        b0, b1, b2 = betti_numbers(m)
        assert (b0, b2) == _scipy_b0_b2(m)
        assert b0 - b1 + b2 == euler_number(m, connectivity=3)


def test_corners_of_a_flat_square_are_four_components():
    # cc3d 4.1.1 raises "maximum length exception" for this mask at 26-connectivity.
    m = np.zeros((3, 3, 1), bool)
    m[0, 0] = m[0, 2] = m[2, 0] = m[2, 2] = True
    assert betti_numbers(m) == (4, 0, 0)


def test_cavity_open_only_through_an_edge_stays_a_cavity():
    # A 5x5x5 shell around a 3x3x3 hole with one edge voxel of the shell removed: the removed
    # voxel meets the hole only along an edge, which does not join a 6-connected background.
    m = np.zeros((7, 7, 7), bool)
    m[1:6, 1:6, 1:6] = True
    m[2:5, 2:5, 2:5] = False
    m[1, 1, 3] = False
    assert betti_numbers(m)[2] == 1
    m[1, 2, 3] = False  # now a face opens the hole
    assert betti_numbers(m)[2] == 0


def test_many_cavities():
    # 3 x 2 x 2 hollow cubes (3x3x3 with an empty centre), apart: 12 components, 12 cavities.
    m = np.zeros((9, 9, 13), bool)
    for z in (1, 5):
        for y in (1, 5):
            for x in (1, 5, 9):
                m[z : z + 3, y : y + 3, x : x + 3] = True
                m[z + 1, y + 1, x + 1] = False
    assert betti_numbers(m) == (12, 0, 12)


def _nested_rings(n):
    # Square rings in the plane, each with a door in the middle of its top or bottom side (in
    # turn): the background between rings reaches the outside only by going half-way round
    # every ring, along x, which a sweep advances by one voxel.
    plane = np.zeros((n, n), bool)
    for k, lo in enumerate(range(1, n // 2, 2)):
        hi = n - 1 - lo
        if hi - lo < 2:
            break
        plane[lo, lo : hi + 1] = plane[hi, lo : hi + 1] = True
        plane[lo : hi + 1, lo] = plane[lo : hi + 1, hi] = True
        plane[lo if k % 2 else hi, n // 2] = False
    return plane


def test_nested_rings_need_many_sweeps(monkeypatch):
    from metrics import _bitpacked as _bits

    # Full lids above and below: the corridors between the rings open to the outside only
    # through the outer ring's door.
    m = np.ones((3, 31, 31), bool)
    m[1] = _nested_rings(31)
    sweeps = []
    real_sweep = _bits._sweep
    monkeypatch.setattr(_bits, "_sweep", lambda *a: sweeps.append(1) or real_sweep(*a))
    assert _scipy_b0_b2(m) == (1, 0)
    assert betti_numbers(m)[::2] == (1, 0)
    # Without the early switch to grouping, sweeps run until nothing more is reached.
    monkeypatch.setattr(_bits, "_FEW_LEFT", 0)
    monkeypatch.setattr(_bits, "_MAX_SWEEPS", 1000)
    sweeps.clear()
    assert betti_numbers(m)[::2] == (1, 0)
    assert len(sweeps) > 8
    # Closing the outer door makes the corridors one cavity.
    closed = m.copy()
    closed[1, 29, 15] = True
    assert _scipy_b0_b2(closed) == (1, 1)
    assert betti_numbers(closed)[::2] == (1, 1)
