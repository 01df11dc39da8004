"""Segmentation metrics for 3D light-sheet masks: one metric per module, pure functions.

Every metric takes ``(reference, prediction)`` masks of the same shape, binarized with
``> 0``, with options keyword-only. ``prepare_reference`` / ``score_prediction`` compute a
track's whole set per case, reusing the reference-side work across predictions.

Modules
-------
dice, cldice, blob_f1, pq, betti
    The metrics.
matching
    Blob instances (connected components) and their one-to-one matching by IoU.
empty
    The table of values for empty masks.
registry
    ``TRACKS``, ``METRICS`` (name -> MetricSpec), ``METRIC_COLUMNS``, ``TRACK_METRICS``.
suite
    ``MetricOptions``, ``prepare_reference``, ``score_prediction``, ``missing_scores``.
"""

from __future__ import annotations

from metrics.betti import betti0_error, betti1_error, betti_numbers, euler_characteristic
from metrics.blob_f1 import blob_f1
from metrics.cldice import cldice, skeleton
from metrics.dice import dice
from metrics.empty import EMPTY_TABLE, SKELETON_RULE, empty_table_markdown
from metrics.matching import BlobMatch, MatchedPair, instances, match_blobs, match_instances
from metrics.pq import panoptic_quality, panoptic_quality_from_match
from metrics.registry import (
    METRIC_COLUMNS,
    METRICS,
    TRACK_METRICS,
    TRACKS,
    MetricSpec,
    metric_spec,
)
from metrics.suite import (
    MetricOptions,
    PreparedReference,
    missing_scores,
    prepare_reference,
    score_prediction,
)

__all__ = [
    "EMPTY_TABLE",
    "METRICS",
    "METRIC_COLUMNS",
    "SKELETON_RULE",
    "TRACKS",
    "TRACK_METRICS",
    "BlobMatch",
    "MatchedPair",
    "MetricOptions",
    "MetricSpec",
    "PreparedReference",
    "betti0_error",
    "betti1_error",
    "betti_numbers",
    "blob_f1",
    "cldice",
    "dice",
    "empty_table_markdown",
    "euler_characteristic",
    "instances",
    "match_blobs",
    "match_instances",
    "metric_spec",
    "missing_scores",
    "panoptic_quality",
    "panoptic_quality_from_match",
    "prepare_reference",
    "score_prediction",
    "skeleton",
]
