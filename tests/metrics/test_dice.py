import numpy as np
import pytest

from metrics import dice


def test_dice_hand_worked():
    # R = x 0..1 (2 voxels), P = x 1..3 (3 voxels), overlap 1: 2 * 1 / (2 + 3) = 0.4
    r = np.zeros((1, 1, 4), np.uint8)
    r[0, 0, :2] = 1
    p = np.zeros((1, 1, 4), np.uint8)
    p[0, 0, 1:] = 1
    assert dice(r, p) == pytest.approx(0.4)


def test_dice_binarizes_any_positive_value():
    # Released masks hold 0/1, 0/255 and 0/95/255: all positive values are foreground.
    r = np.array([[[0, 95, 255, 0]]], np.uint8)
    p = np.array([[[0, 1, 1, 0]]], np.uint8)
    assert dice(r, p) == 1.0


def test_dice_identical_and_disjoint():
    r = np.zeros((3, 3, 3), bool)
    r[0] = True
    p = np.zeros((3, 3, 3), bool)
    p[2] = True
    assert dice(r, r) == 1.0
    assert dice(r, p) == 0.0


def test_dice_rejects_shape_mismatch_and_non_3d():
    with pytest.raises(ValueError, match=r"same shape.*\(2, 2, 2\).*\(2, 2, 3\)"):
        dice(np.zeros((2, 2, 2)), np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="prediction must be a 3D array"):
        dice(np.zeros((2, 2, 2)), np.zeros((2, 2)))
