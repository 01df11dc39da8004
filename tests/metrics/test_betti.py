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
