import math

import numpy as np
import pytest

from metrics import METRIC_COLUMNS, METRICS, TRACK_METRICS, metric_spec


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


@pytest.mark.parametrize("name", list(METRICS))
def test_best_value_on_identical_inputs(name):
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
