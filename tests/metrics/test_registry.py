import math

import numpy as np
import pytest

from metrics import METRIC_COLUMNS, METRICS, TRACK_METRICS, TRACKS, MetricSpec, metric_spec


def _identical_case():
    m = np.zeros((6, 8, 10), np.uint8)
    m[1:4, 1:6, 1:4] = 1  # a box
    m[1, 1:4, 6:9] = 1  # a ring
    m[1, 2, 7] = 0
    return m


def test_columns_and_tracks_are_the_interface():
    assert METRIC_COLUMNS == (
        "dice", "cldice", "blob_f1", "blob_precision", "blob_recall", "blob_tp", "blob_fp",
        "blob_fn", "pq", "betti0_error", "betti1_error",
    )  # fmt: skip
    assert TRACK_METRICS["vessel"] == ("dice", "cldice", "betti0_error", "betti1_error")
    assert TRACK_METRICS["spot"] == (
        "dice", "blob_f1", "blob_precision", "blob_recall", "blob_tp", "blob_fp", "blob_fn",
        "pq", "betti0_error",
    )  # fmt: skip


# Identical masks holding two blobs (a box and a ring), worked out by hand.
IDENTICAL = {"dice": 1.0, "cldice": 1.0, "blob_f1": 1.0, "blob_precision": 1.0,
             "blob_recall": 1.0, "blob_tp": 2, "blob_fp": 0, "blob_fn": 0, "pq": 1.0,
             "betti0_error": 0, "betti1_error": 0}  # fmt: skip


@pytest.mark.parametrize("name", list(METRICS))
def test_identical_masks_by_hand(name):
    m = _identical_case()
    assert METRICS[name].fn(m, m) == IDENTICAL[name]


def test_worst_values_are_the_ones_a_missing_prediction_gets():
    worst = {name: spec.worst for name, spec in METRICS.items()}
    assert worst == {"dice": 0.0, "cldice": 0.0, "blob_f1": 0.0, "blob_precision": 0.0,
                     "blob_recall": 0.0, "blob_tp": 0.0, "blob_fp": 0.0,
                     "blob_fn": "n_reference", "pq": 0.0, "betti0_error": "b0(R)",
                     "betti1_error": "b1(R)"}  # fmt: skip


def test_tracks_are_stated_once():
    assert TRACKS == ("vessel", "spot") == tuple(TRACK_METRICS)
    with pytest.raises(ValueError, match="tracks must be among"):
        MetricSpec(name="x", fn=len, higher_is_better=True, bounds=(0.0, 1.0),
                   tracks=("tubes",), ranked_by_default=False, worst=0.0)
    with pytest.raises(ValueError, match="depends on the reference must be one of"):
        MetricSpec(name="x", fn=len, higher_is_better=True, bounds=(0.0, 1.0),
                   tracks=TRACKS, ranked_by_default=False, worst="b2(R)")


@pytest.mark.parametrize("name", list(METRICS))
def test_consistency_of_registered_bounds_with_the_functions(name):
    # The registry's best value is what identical masks score (a consistency check of the
    # registry against the functions; the values themselves are checked by hand above).
    spec = METRICS[name]
    m = _identical_case()
    value = spec.fn(m, m)
    if name == "blob_tp":
        assert value == 2  # unbounded above: the best attainable is every instance matched
    else:
        assert value == spec.best
    low, high = spec.bounds
    assert low <= value <= high


def test_directions():
    higher = {n for n, s in METRICS.items() if s.higher_is_better}
    assert higher == {"dice", "cldice", "blob_f1", "blob_precision", "blob_recall", "blob_tp",
                      "pq"}
    assert metric_spec("betti1_error").bounds == (0.0, math.inf)
    with pytest.raises(KeyError, match="unknown metric 'hd95'"):
        metric_spec("hd95")
