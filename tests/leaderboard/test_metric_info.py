"""The leaderboard's view of the metrics registry: directions, bounds, worst values, definitions."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest

import metrics
from leaderboard import metric_info

# name: (higher is better, bounds, whole numbers, constant worst value): directions and worst
# values as docs/metrics.md states them, bounds and whole numbers from each metric's definition.
BY_HAND = {
    "dice": (True, (0.0, 1.0), False, 0.0),
    "cldice": (True, (0.0, 1.0), False, 0.0),
    "blob_tp": (True, (0.0, math.inf), True, 0.0),
    "blob_fp": (False, (0.0, math.inf), True, 0.0),
    # Their worst is a quantity of the reference (its blobs, its Betti numbers): no constant.
    "blob_fn": (False, (0.0, math.inf), True, None),
    "betti0_error": (False, (0.0, math.inf), True, None),
    "betti1_error": (False, (0.0, math.inf), True, None),
}


@pytest.mark.parametrize("name", sorted(BY_HAND))
def test_each_metric_as_the_leaderboard_reads_it(name):
    better, bounds, integer, worst = BY_HAND[name]
    assert metric_info.higher_is_better(name) is better
    assert metric_info.bounds(name) == bounds
    assert metric_info.is_integer(name) is integer
    assert metric_info.constant_worst(name) == worst


def test_the_default_ranked_metrics_of_each_track():
    assert metric_info.default_ranked_metrics() == {
        "spot": ("dice", "blob_f1"),
        "vessel": ("dice", "cldice"),
    }


def test_a_metric_not_in_the_registry_is_named_with_the_known_ones():
    with pytest.raises(KeyError, match=r"metric 'hd95' is not in metrics.METRICS; known: \["):
        metric_info.higher_is_better("hd95")


def test_the_registry_may_state_a_default_ranking_as_a_flag_or_as_tracks(monkeypatch):
    def spec(ranked, tracks=("vessel", "spot"), worst=0.0):
        return SimpleNamespace(ranked_by_default=ranked, tracks=tracks, worst=worst)

    registry = {
        "everywhere": spec(True),
        "only_spot": spec("spot"),
        "listed": spec(["vessel"]),
        "unset": spec(None),
        "never": spec(False),
        "flag_worst": spec(False, worst=True),
        "nan_worst": spec(False, worst=math.nan),
        "int_worst": spec(False, worst=3),
    }
    order = ["never", "listed", "only_spot", "unset", "everywhere"]
    monkeypatch.setattr(metrics, "METRICS", registry)
    monkeypatch.setattr(metrics, "TRACK_METRICS", {"vessel": order, "spot": order[::-1]})
    # Each track keeps its own metric order.
    assert metric_info.default_ranked_metrics() == {
        "spot": ("everywhere", "only_spot"),
        "vessel": ("listed", "everywhere"),
    }
    # A flag or a non-finite value is no worst value; a whole number is one.
    assert metric_info.constant_worst("flag_worst") is None
    assert metric_info.constant_worst("nan_worst") is None
    assert metric_info.constant_worst("int_worst") == 3.0


def test_the_definitions_are_plain_json_and_the_same_on_every_call():
    first = metric_info.metric_definitions()
    assert list(first) == sorted(metrics.METRICS)
    # allow_nan=False: an infinite bound is written as text, never as a bare Infinity.
    text = json.dumps(first, allow_nan=False, sort_keys=True)
    assert json.dumps(metric_info.metric_definitions(), allow_nan=False, sort_keys=True) == text
    assert first["blob_tp"]["bounds"] == [0.0, "inf"]
    assert first["dice"]["higher_is_better"] is True
    assert list(metric_info.metric_definitions(("pq", "dice"))) == ["dice", "pq"]
