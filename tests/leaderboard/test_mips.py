"""Projections of the report (leaderboard.mips) on tiny hand-drawn arrays, values worked by hand."""

import numpy as np
import pytest

from leaderboard.mips import (
    FN_RGB,
    FP_RGB,
    TP_RGB,
    error_projection,
    image_projection,
    pool_max,
    pool_sum,
)


def test_pool_max_pads_with_the_minimum_not_zero():
    # 1 x 5 with size 2: factor ceil(5 / 2) = 3, padded to 3 x 6 with the minimum -9.
    # Blocks: columns 0..2 -> max(-5, -4, -3) = -3; columns 3..5 -> max(-2, -9, pad) = -2.
    # Zero padding would wrongly give 0 for both.
    plane = np.array([[-5, -4, -3, -2, -9]])
    assert pool_max(plane, size=2).tolist() == [[-3, -2]]


def test_pool_max_blocks_by_hand():
    # 3 x 5, size 2: factor 3, one row of blocks: max of columns 0..2 is 13, of 3..4 is 15.
    plane = np.arange(1, 16).reshape(3, 5)
    assert pool_max(plane, size=2).tolist() == [[13, 15]]


def test_pool_sum_blocks_by_hand():
    # 2 x 3, size 2: factor 2, padded with 0 to 2 x 4: 1 + 2 + 4 + 5 = 12 and 3 + 6 = 9.
    assert pool_sum(np.array([[1, 2, 3], [4, 5, 6]]), size=2).tolist() == [[12, 9]]


def test_pooling_leaves_small_planes_alone_and_wants_2d():
    plane = np.arange(6).reshape(2, 3)
    assert pool_max(plane, size=3) is plane and pool_sum(plane, size=8) is plane
    with pytest.raises(ValueError, match="pool_max: expected a 2D array"):
        pool_max(np.zeros((2, 2, 2)), size=1)


def test_image_projection_by_hand():
    # Max over z: [[0, 10], [20, 30]]. Percentiles (linear, 4 values): 1st = 0 + 0.03 * 10 =
    # 0.3, 99.5th = 20 + 0.985 * 10 = 29.85; grey = clip((v - 0.3) / 29.55, 0, 1).
    image = np.array([[[0, 10], [5, 30]], [[0, 2], [20, 1]]], np.float32)
    rgb = image_projection(image, size=8)
    expected = [[0.0, 9.7 / 29.55], [19.7 / 29.55, 1.0]]
    assert rgb.shape == (2, 2, 3)
    for channel in range(3):
        assert rgb[..., channel] == pytest.approx(np.array(expected), abs=1e-6)


def test_a_flat_image_projects_to_black():
    assert not image_projection(np.full((3, 2, 2), 7.0), size=8).any()


def test_error_projection_mixes_the_colours_by_count():
    # Column x = 0: reference at z 0, 1; prediction at z 1, 2 -> one TP, one FP, one FN on the
    # ray: (TP + FP + FN) / 3. Column x = 1: nothing -> black.
    ref = np.zeros((3, 1, 2), bool)
    pred = np.zeros((3, 1, 2), bool)
    ref[0:2, 0, 0] = True
    pred[1:3, 0, 0] = True
    rgb = error_projection(ref, pred, size=8)
    mixed = (np.array(TP_RGB) + np.array(FP_RGB) + np.array(FN_RGB)) / 3
    assert rgb[0, 0] == pytest.approx(mixed)  # (2/3, 1.75/3, 2/3)
    assert rgb[0, 0] == pytest.approx([2 / 3, 1.75 / 3, 2 / 3])
    assert rgb[0, 1].tolist() == [0.0, 0.0, 0.0]


def test_error_projection_counts_over_the_pooled_block():
    # One row of two pixels pooled into one (size 1): TP at x 0, FP at x 1 -> (TP + FP) / 2.
    ref = np.array([[[1, 0]]])
    pred = np.array([[[1, 1]]])
    assert error_projection(ref, pred, size=1).tolist() == [[[1.0, 0.5, 1.0]]]


def test_error_projection_without_a_prediction_draws_the_reference_white():
    ref = np.zeros((2, 1, 3), np.uint8)
    ref[1, 0, 2] = 255
    assert error_projection(ref, None, size=8)[0].tolist() == [[0, 0, 0], [0, 0, 0], [1, 1, 1]]
    with pytest.raises(ValueError, match=r"prediction shape \(2, 1, 2\) differs"):
        error_projection(ref, np.zeros((2, 1, 2)), size=8)
