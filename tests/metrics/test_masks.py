import numpy as np
import pytest

from metrics._masks import count_at, count_overlap, values_at


def test_count_overlap_by_hand():
    # 40 planes: more than one buffer's worth, and a last short step.
    a = np.zeros((40, 3, 4), bool)
    b = np.zeros_like(a)
    a[0, 0, 0] = a[17, 1, 2] = a[39, 2, 3] = a[39, 0, 0] = True
    b[0, 0, 0] = b[17, 1, 2] = b[39, 2, 3] = b[38, 0, 0] = True
    assert count_overlap(a, b) == 3
    assert count_overlap(a[:0], b[:0]) == 0


def test_count_overlap_matches_numpy_on_views():
    rng = np.random.default_rng(0)
    a = rng.random((35, 20, 21)) < 0.5
    b = rng.random((35, 20, 21)) < 0.5
    assert count_overlap(a[3:, 2:, ::2], b[:-3, :-2, ::2]) == np.count_nonzero(
        a[3:, 2:, ::2] & b[:-3, :-2, ::2]
    )


def test_count_overlap_needs_one_shape():
    with pytest.raises(ValueError, match="one shape"):
        count_overlap(np.zeros((2, 2, 2), bool), np.zeros((2, 2, 3), bool))


def test_count_at_by_hand():
    mask = np.zeros((3, 4, 5), bool)
    mask[0, 0, 0] = mask[2, 3, 4] = mask[1, 2, 3] = True
    points = (np.array([0, 2, 1, 1, -1]), np.array([0, 3, 2, 2, 0]), np.array([0, 4, 3, 4, 0]))
    # Hits: (0,0,0), (2,3,4), (1,2,3); (1,2,4) is background; (-1,0,0) is outside.
    assert count_at(points, mask) == 3
    # Moved by (0, 0, 1): (0,0,1) no, (2,3,5) outside, (1,2,4) no, (1,2,5) outside, (-1,0,1) out.
    assert count_at(points, mask, offset=(0, 0, 1)) == 0
    # Moved by (1, 0, 0): only (1,0,0)... no; (3,3,4) outside; (2,2,3) no; (0,0,0) yes.
    assert count_at(points, mask, offset=(1, 0, 0)) == 1


def test_values_at_by_hand():
    labels = np.zeros((2, 3, 4), np.uint16)
    labels[0, 1, 2] = 7
    labels[1, 2, 3] = 9
    points = (np.array([0, 1, 1, 0]), np.array([1, 2, 0, 0]), np.array([2, 3, 0, 0]))
    values = values_at(points, labels)
    assert values.dtype == np.uint16 and values.tolist() == [7, 9, 0, 0]
    # Shifted by one plane, the second point leaves the array (0) and the first meets 0.
    assert values_at(points, labels, offset=(1, 0, 0)).tolist() == [0, 0, 0, 0]
    assert values_at(points, labels, offset=(0, 0, -1)).tolist() == [0, 0, 0, 0]
    assert values_at(points, labels, offset=(0, 0, 1)).tolist() == [0, 0, 0, 0]
    assert values_at((points[0], points[1], points[2] - 1), labels, offset=(0, 0, 1)).tolist() == [
        7,
        9,
        0,
        0,
    ]
