import numpy as np
import pytest

from metrics import panoptic_quality


def test_one_blob_half_found():
    # R: 4 voxels, P: its first 2. IoU 1/2 >= 0.3: tp = 1, F1 = 1; Dice 2*2/6 = 2/3. PQ = 2/3.
    r = np.zeros((1, 1, 6), bool)
    r[0, 0, :4] = True
    p = np.zeros((1, 1, 6), bool)
    p[0, 0, :2] = True
    assert panoptic_quality(r, p) == pytest.approx(2 / 3)


def test_split_blob():
    # R: one 2x2x6 bar; P: its two 2x2x2 ends. tp = 1, fp = 1: F1 = 2/3; the matched end has
    # Dice 2*8/(24+8) = 1/2. PQ = 2/3 * 1/2 = 1/3.
    r = np.zeros((2, 2, 6), bool)
    r[:] = True
    p = r.copy()
    p[:, :, 2:4] = False
    assert panoptic_quality(r, p) == pytest.approx(1 / 3)


def test_no_match_and_both_empty():
    r = np.zeros((1, 1, 8), bool)
    r[0, 0, :2] = True
    p = np.zeros((1, 1, 8), bool)
    p[0, 0, 5:] = True
    assert panoptic_quality(r, p) == 0.0
    assert panoptic_quality(np.zeros((2, 2, 2)), np.zeros((2, 2, 2))) == 1.0
