"""Blob F1 (metrics.blob_f1) on hand-drawn masks, values worked out by hand."""

import numpy as np
import pytest

from metrics import blob_f1


def _bars(length, *spans, cross=2):
    m = np.zeros((cross, cross, length), bool)
    for start, stop in spans:
        m[:, :, start:stop] = True
    return m


def test_three_blobs_two_found_two_false():
    # R: bars x 0..3, 6..9, 12..15; P: x 0..3 and 6..9 exactly, plus x 18..19 and 22..23.
    # TP = 2, FP = 2, FN = 1: F1 = 2 / (2 + (2 + 1) / 2) = 4/7.
    r = _bars(25, (0, 4), (6, 10), (12, 16))
    p = _bars(25, (0, 4), (6, 10), (18, 20), (22, 24))
    assert blob_f1(r, p) == pytest.approx(4 / 7)
    assert blob_f1(p, r) == pytest.approx(4 / 7)  # symmetric: FP and FN swap


def test_one_blob_split_in_two():
    # R: one 2x2x6 bar; P: its two 2x2x2 ends, each with IoU 8/24 = 1/3 >= 0.3.
    # One-to-one: TP = 1, FP = 1, FN = 0; F1 = 1 / (1 + 1/2) = 2/3.
    assert blob_f1(_bars(6, (0, 6)), _bars(6, (0, 2), (4, 6))) == pytest.approx(2 / 3)


def test_the_iou_threshold_decides_a_match():
    # R: x 0..49, P: x 20..99 (2x2 section): IoU = 30 / 100 = 0.3; matched at 0.3, not at 0.31.
    r, p = _bars(100, (0, 50)), _bars(100, (20, 100))
    assert blob_f1(r, p, iou_threshold=0.3) == 1.0
    assert blob_f1(r, p, iou_threshold=0.31) == 0.0


def test_greedy_and_hungarian_give_different_f1():
    # As in test_matching: greedy TP = 1, FP = FN = 1 -> 0.5; Hungarian TP = 2 -> 1.0.
    r = _bars(20, (0, 10), (12, 17), cross=1)
    p = _bars(20, (0, 3), (4, 16), cross=1)
    assert blob_f1(r, p, matching="greedy") == 0.5
    assert blob_f1(r, p, matching="hungarian") == 1.0


def test_invalid_options_name_the_argument():
    m = np.ones((2, 2, 2))
    with pytest.raises(ValueError, match="connectivity must be one of"):
        blob_f1(m, m, connectivity=8)
    with pytest.raises(ValueError, match="iou_threshold must be a number in"):
        blob_f1(m, m, iou_threshold=0)
    with pytest.raises(ValueError, match="matching must be one of"):
        blob_f1(m, m, matching="optimal")
