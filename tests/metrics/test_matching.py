"""Instances and their one-to-one matching (metrics.matching), on hand-drawn masks."""

import numpy as np
import pytest
from skimage.measure import label

from metrics.matching import (
    BlobMatch,
    MatchedPair,
    instances,
    match_blobs,
    match_instances,
    pair_overlaps,
    pair_overlaps_at_points,
)


def _bars(length, *spans, cross=2):
    m = np.zeros((cross, cross, length), bool)
    for start, stop in spans:
        m[:, :, start:stop] = True
    return m


def test_touching_blobs_connectivity():
    # Two 2x2x2 cubes sharing one corner: one blob at 26, two at 18 and 6.
    m = np.zeros((4, 4, 4), bool)
    m[0:2, 0:2, 0:2] = True
    m[2:4, 2:4, 2:4] = True
    assert instances(m, connectivity=26)[1] == 1
    assert instances(m, connectivity=18)[1] == 2
    assert instances(m, connectivity=6)[1] == 2
    # Sharing one edge: one blob at 26 and 18, two at 6.
    e = np.zeros((4, 4, 2), bool)
    e[0:2, 0:2] = True
    e[2:4, 2:4] = True
    assert [instances(e, connectivity=c)[1] for c in (26, 18, 6)] == [1, 1, 2]


def test_touching_reference_blobs_against_separate_predictions():
    # Reference: two cubes touching at a corner (one blob at 26); prediction: the same cubes.
    m = np.zeros((4, 4, 4), bool)
    m[0:2, 0:2, 0:2] = True
    m[2:4, 2:4, 2:4] = True
    assert match_blobs(m, m, connectivity=26).tp == 1
    assert match_blobs(m, m, connectivity=6).tp == 2


def test_one_blob_split_in_two():
    # R: one 2x2x6 bar (24 voxels); P: its two 2x2x2 ends (8 + 8). Each end: IoU 8/24 = 1/3.
    # One-to-one: tp = 1, fp = 1, fn = 0; F1 = 1 / (1 + 1/2) = 2/3.
    r = _bars(6, (0, 6))
    p = _bars(6, (0, 2), (4, 6))
    m = match_blobs(r, p)
    assert (m.tp, m.fp, m.fn) == (1, 1, 0)
    assert m.precision == 0.5 and m.recall == 1.0
    assert m.f1 == pytest.approx(2 / 3)
    assert m.pairs[0].iou == pytest.approx(1 / 3)
    assert m.pairs[0].dice == pytest.approx(0.5)  # 2 * 8 / (24 + 8)


@pytest.mark.parametrize(
    ("start", "iou", "tp"),
    [
        (19, 0.31, 1),  # overlap 50-19 = 31 of union 50 + 81 - 31 = 100 (x4 for the 2x2 section)
        (20, 0.30, 1),  # 30 / 100: exactly the threshold counts
        (21, 0.29, 0),  # 29 / 100
    ],
)
def test_shifted_blob_around_the_threshold(start, iou, tp):
    r = _bars(100, (0, 50))
    p = _bars(100, (start, 100))
    m = match_blobs(r, p, iou_threshold=0.3)
    assert m.tp == tp
    assert (m.fp, m.fn) == (1 - tp, 1 - tp)
    if tp:
        assert m.pairs[0].iou == pytest.approx(iou)


def test_greedy_and_hungarian_differ():
    # R: A = x 0..9, B = x 12..16. P: Y = x 0..2, X = x 4..15.
    # IoU(A, X) = 6/16 = 0.375, IoU(A, Y) = 3/10 = 0.3, IoU(B, X) = 4/13 = 0.308.
    # Greedy takes A-X first and then nothing fits: tp = 1. Hungarian: A-Y and B-X, tp = 2.
    r = _bars(20, (0, 10), (12, 17), cross=1)
    p = _bars(20, (0, 3), (4, 16), cross=1)
    greedy = match_blobs(r, p, matching="greedy")
    hungarian = match_blobs(r, p, matching="hungarian")
    assert (greedy.tp, greedy.fp, greedy.fn) == (1, 1, 1)
    assert greedy.f1 == 0.5
    assert (hungarian.tp, hungarian.fp, hungarian.fn) == (2, 0, 0)
    assert sorted(round(q.iou, 4) for q in hungarian.pairs) == [0.3, 0.3077]


def test_matched_pairs_carry_label_values():
    r = np.array([[[1, 1, 0, 2, 2, 0, 0]]])
    p = np.array([[[7, 0, 0, 0, 3, 3, 9]]])
    m = match_instances(r, p)
    assert [(q.reference_label, q.prediction_label) for q in m.pairs] == [(1, 7), (2, 3)]
    assert (m.tp, m.fp, m.fn) == (2, 1, 0)


def test_blob_match_checks_its_arithmetic():
    with pytest.raises(RuntimeError, match="inconsistent matching"):
        BlobMatch(tp=1, fp=0, fn=0, n_reference=2, n_prediction=1,
                  pairs=(MatchedPair(1, 1, 1.0, 1.0),), precision=1.0, recall=1.0, f1=1.0)


@pytest.mark.parametrize(("ours", "skimage_conn"), [(6, 1), (18, 2), (26, 3)])
def test_instance_counts_match_scikit_image(ours, skimage_conn):
    rng = np.random.default_rng(ours)
    m = rng.random((12, 13, 14)) < 0.3
    assert instances(m, connectivity=ours)[1] == label(m, connectivity=skimage_conn).max()


def test_pair_overlaps_at_points_by_hand():
    # Reference instance 1 meets prediction blobs 5, 7, 5 again (interleaved) and background;
    # instance 2 meets 5 twice; instance 3 meets nothing.
    ref = np.array([1, 1, 1, 1, 2, 2, 3], np.uint16)
    pred = np.array([5, 7, 5, 0, 5, 5, 0], np.uint32)
    r, p, n = pair_overlaps_at_points(ref, pred)
    assert r.tolist() == [1, 1, 2] and p.tolist() == [5, 7, 5] and n.tolist() == [2, 1, 2]
    empty = pair_overlaps_at_points(ref, np.zeros(7, np.uint32))
    assert all(a.size == 0 for a in empty)
    with pytest.raises(ValueError, match="non-decreasing"):
        pair_overlaps_at_points(ref[::-1].copy(), pred)
    with pytest.raises(ValueError, match="of one length"):
        pair_overlaps_at_points(ref, pred[:3])


def test_pair_overlaps_at_points_agrees_with_the_box_scan():
    rng = np.random.default_rng(3)
    ref = label(rng.random((20, 20, 20)) > 0.7, connectivity=1)
    pred = label(rng.random((20, 20, 20)) > 0.6, connectivity=1)
    flat = np.flatnonzero(ref)
    order = np.argsort(ref.ravel()[flat], kind="stable")
    at = flat[order]
    got = pair_overlaps_at_points(ref.ravel()[at], pred.ravel()[at])
    want = pair_overlaps(ref, pred)
    assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
    assert got[0].size > 50  # many pairs, so the check means something
