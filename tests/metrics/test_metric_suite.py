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


@pytest.mark.parametrize("track", ["vessel", "spot"])
@pytest.mark.parametrize(
    "options",
    [MetricOptions(), MetricOptions(connectivity=6, matching="hungarian", iou_threshold=0.5)],
)
def test_suite_equals_single_metric_functions(track, options):
    # The suite crops to bounding boxes and shares work; the single functions do neither.
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
