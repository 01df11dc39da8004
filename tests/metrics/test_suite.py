import pickle

import numpy as np
import pytest

from metrics import (
    METRICS,
    MetricOptions,
    missing_scores,
    prepare_reference,
    score_prediction,
)


def _pair(seed, shape=(14, 15, 16)):
    rng = np.random.default_rng(seed)
    r = rng.random(shape) < 0.25
    p = r & (rng.random(shape) < 0.8) | (rng.random(shape) < 0.05)
    return r.astype(np.uint8) * 255, p.astype(np.uint8)


SHAPE = (8, 9, 10)


def test_vessel_scores_worked_out_by_hand():
    # R: a straight 1-voxel line, x 1..8 (8 voxels; its own skeleton). P: x 1..4 of it (4) and
    # one voxel far away. |P & R| = 4, so Dice = 2*4 / (5 + 8) = 8/13. S(P) = P (5 voxels), 4
    # on R: Tprec = 4/5; S(R) = R, 4 in P: Tsens = 1/2; clDice = 2*(2/5) / (13/10) = 8/13.
    # b0(P) = 2, b0(R) = 1; no loops.
    r = np.zeros(SHAPE, np.uint8)
    r[4, 4, 1:9] = 1
    p = np.zeros(SHAPE, np.uint8)
    p[4, 4, 1:5] = 1
    p[1, 1, 8] = 1
    scores = score_prediction(prepare_reference(r, track="vessel"), p)
    assert scores == pytest.approx(
        {"dice": 8 / 13, "cldice": 8 / 13, "betti0_error": 1, "betti1_error": 0}, abs=1e-12
    )


def test_spot_scores_worked_out_by_hand():
    # R: cube A (2x2x2 = 8 voxels) and box B (2x3x3 = 18). P: A exactly, a 2x3x1 slab of B
    # (6 voxels, IoU 6/18 = 1/3 >= 0.3, pair Dice 2*6/24 = 1/2) and one false voxel.
    # Dice = 2*14 / (15 + 26) = 28/41; TP = 2, FP = 1, FN = 0: precision 2/3, recall 1,
    # F1 = 2 / (2 + 1/2) = 4/5; PQ = 4/5 * (1 + 1/2) / 2 = 3/5; b0(P) = 3, b0(R) = 2.
    r = np.zeros(SHAPE, np.uint8)
    r[1:3, 1:3, 1:3] = 1
    r[5:7, 5:8, 5:8] = 1
    p = np.zeros(SHAPE, np.uint8)
    p[1:3, 1:3, 1:3] = 1
    p[5:7, 5:8, 5:6] = 1
    p[7, 0, 9] = 1
    scores = score_prediction(prepare_reference(r, track="spot"), p)
    assert scores == pytest.approx(
        {"dice": 28 / 41, "blob_f1": 4 / 5, "blob_precision": 2 / 3, "blob_recall": 1.0,
         "blob_tp": 2, "blob_fp": 1, "blob_fn": 0, "pq": 3 / 5, "betti0_error": 1},
        abs=1e-12,
    )  # fmt: skip


@pytest.mark.parametrize("track", ["vessel", "spot"])
@pytest.mark.parametrize(
    "options",
    [MetricOptions(), MetricOptions(connectivity=6, matching="hungarian", iou_threshold=0.5)],
)
def test_consistency_of_the_suite_with_the_single_metric_functions(track, options):
    # A consistency check, not a correctness one (the tests above and each metric's own tests
    # are): the suite crops to bounding boxes and shares work, the single functions do neither.
    r, p = _pair(3)
    p[:3] = 0  # boxes differ
    prepared = prepare_reference(r, track=track, options=options)
    scores = score_prediction(prepared, p)
    kw = {"connectivity": options.connectivity, "iou_threshold": options.iou_threshold,
          "matching": options.matching}
    for name, value in scores.items():
        extra = kw if name.startswith("blob") or name == "pq" else {}
        assert value == pytest.approx(METRICS[name].fn(r, p, **extra), abs=1e-12), name


@pytest.mark.parametrize("track", ["vessel", "spot"])
def test_boxes_shifted_along_every_axis(track):
    # The cross terms meet each mask in the other's box: shifts in z, y and x, both signs.
    rng = np.random.default_rng(11)
    r = np.zeros((16, 17, 18), np.uint8)
    p = np.zeros_like(r)
    r[2:11, 5:15, 1:10] = rng.random((9, 10, 9)) < 0.4
    p[4:14, 1:12, 6:17] = rng.random((10, 11, 11)) < 0.4
    p[4:11, 5:12, 6:10] |= r[4:11, 5:12, 6:10]  # some overlap
    scores = score_prediction(prepare_reference(r, track=track), p)
    for name, value in scores.items():
        assert value == pytest.approx(METRICS[name].fn(r, p), abs=1e-12), name


def test_disjoint_boxes_and_reuse():
    r = np.zeros((10, 10, 10), np.uint8)
    r[:3, :3, :3] = 1
    p = np.zeros_like(r)
    p[6:, 6:, 6:] = 1
    prepared = prepare_reference(r, track="spot")
    first = score_prediction(prepared, p)
    assert first["dice"] == 0.0 and first["blob_tp"] == 0
    assert score_prediction(prepared, r)["blob_f1"] == 1.0
    assert score_prediction(prepared, p) == first


def test_prepared_reference_pickles():
    r, p = _pair(5)
    prepared = prepare_reference(r, track="vessel")
    again = pickle.loads(pickle.dumps(prepared))
    assert score_prediction(again, p) == score_prediction(prepared, p)


def test_missing_scores_are_the_worst_values():
    # Two blobs, one with a loop: b0 = 2, b1 = 1.
    r = np.zeros((3, 7, 9), np.uint8)
    r[1, 1:4, 1:4] = 1
    r[1, 2, 2] = 0
    r[1, 5, 7] = 1
    assert missing_scores(prepare_reference(r, track="vessel")) == {
        "dice": 0.0, "cldice": 0.0, "betti0_error": 2, "betti1_error": 1,
    }  # fmt: skip
    assert missing_scores(prepare_reference(r, track="spot")) == {
        "dice": 0.0, "blob_f1": 0.0, "blob_precision": 0.0, "blob_recall": 0.0, "blob_tp": 0,
        "blob_fp": 0, "blob_fn": 2, "pq": 0.0, "betti0_error": 2,
    }  # fmt: skip


def test_bad_input_is_named():
    prepared = prepare_reference(np.zeros((4, 4, 4)), track="spot")
    with pytest.raises(ValueError, match=r"reference's shape \(4, 4, 4\). Got \(4, 4, 5\)"):
        score_prediction(prepared, np.zeros((4, 4, 5)))
    with pytest.raises(ValueError, match="track must be one of"):
        prepare_reference(np.zeros((4, 4, 4)), track="cells")


@pytest.mark.parametrize("track", ["vessel", "spot"])
def test_masks_whose_box_is_one_voxel_thin(track):
    # A prediction of dots along one line: its box is (1, 1, 7), a shape on which cc3d 4.1.1
    # fails at 26-connectivity. Reference: the same dots and one more.
    r = np.zeros((5, 5, 9), np.uint8)
    r[2, 2, [1, 3, 5, 7]] = 1
    p = r.copy()
    p[2, 2, 7] = 0
    scores = score_prediction(prepare_reference(r, track=track), p)
    assert scores["dice"] == pytest.approx(2 * 3 / 7)
    assert scores["betti0_error"] == 1
    if track == "spot":
        assert (scores["blob_tp"], scores["blob_fp"], scores["blob_fn"]) == (3, 0, 1)


@pytest.mark.parametrize("track", ["vessel", "spot"])
def test_prepared_reference_does_not_share_the_callers_array(track):
    r, p = _pair(7)
    for reference in (r > 0, r):
        prepared = prepare_reference(reference, track=track)
        before = score_prediction(prepared, p)
        reference[...] = 0  # the caller reuses its buffer
        assert score_prediction(prepared, p) == before
