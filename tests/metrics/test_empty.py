"""Empty masks: every metric against the README's table, values spelled out by hand."""

from pathlib import Path

import numpy as np
import pytest

from metrics import EMPTY_TABLE, METRICS, empty_table_markdown, prepare_reference, score_prediction
from metrics.empty import EMPTY_CASES

SHAPE = (3, 7, 9)


def _ring_and_voxel():
    # A ring (one loop) and a separate voxel: 2 instances, b0 = 2, b1 = 1.
    m = np.zeros(SHAPE, np.uint8)
    m[1, 1:4, 1:4] = 1
    m[1, 2, 2] = 0
    m[1, 5, 7] = 1
    return m


def _three_voxels():
    # Three isolated voxels: 3 instances, b0 = 3, b1 = 0.
    m = np.zeros(SHAPE, np.uint8)
    m[0, 0, 0] = m[0, 0, 4] = m[2, 6, 8] = 1
    return m


EMPTY = np.zeros(SHAPE, np.uint8)
# (reference, prediction) per column of the table. The prediction of "reference_empty" is the
# ring and voxel (n_prediction = b0(P) = 2, b1(P) = 1); the reference of "prediction_empty" is
# the three voxels (n_reference = b0(R) = 3, b1(R) = 0), so P's and R's quantities differ.
MASKS = {
    "both_empty": (EMPTY, EMPTY),
    "reference_empty": (EMPTY, _ring_and_voxel()),
    "prediction_empty": (_three_voxels(), EMPTY),
}

# The README's table with its named quantities replaced by their values for MASKS:
#   ratios 1, 0, 0; blob_tp 0, 0, 0; blob_fp 0, = n_prediction, 0; blob_fn 0, 0, = n_reference;
#   Betti errors 0, = b(P), = b(R).
EXPECTED = {
    "dice": (1.0, 0.0, 0.0),
    "cldice": (1.0, 0.0, 0.0),
    "blob_f1": (1.0, 0.0, 0.0),
    "blob_precision": (1.0, 0.0, 0.0),
    "blob_recall": (1.0, 0.0, 0.0),
    "blob_tp": (0, 0, 0),
    "blob_fp": (0, 2, 0),
    "blob_fn": (0, 0, 3),
    "pq": (1.0, 0.0, 0.0),
    "betti0_error": (0, 2, 3),
    "betti1_error": (0, 1, 0),
}
NAMED = {"n_prediction": 2, "b0(P)": 2, "b1(P)": 1, "n_reference": 3, "b0(R)": 3, "b1(R)": 0}
CELLS = [(name, case) for name in EXPECTED for case in EMPTY_CASES]


@pytest.mark.parametrize(("name", "case"), CELLS)
def test_metric_functions_give_the_table(name, case):
    expected = EXPECTED[name][EMPTY_CASES.index(case)]
    reference, prediction = MASKS[case]
    assert METRICS[name].fn(reference, prediction) == expected


@pytest.mark.parametrize(("name", "case"), CELLS)
def test_the_suite_gives_the_table(name, case):
    expected = EXPECTED[name][EMPTY_CASES.index(case)]
    reference, prediction = MASKS[case]
    for track in METRICS[name].tracks:
        prepared = prepare_reference(reference, track=track)
        assert score_prediction(prepared, prediction)[name] == expected


def test_the_declared_table_states_the_same_values():
    assert tuple(EMPTY_TABLE) == tuple(METRICS) == tuple(EXPECTED)
    for name, row in EMPTY_TABLE.items():
        stated = [NAMED[v] if isinstance(v, str) else v for v in (row[c] for c in EMPTY_CASES)]
        assert tuple(stated) == EXPECTED[name], name


@pytest.mark.parametrize("page", ["docs/metrics.md", "README.md"])
def test_docs_show_the_table_once(page):
    text = (Path(__file__).resolve().parents[2] / page).read_text(encoding="utf-8")
    assert text.count(empty_table_markdown()) == 1
    assert text.count("| metric | both empty | reference empty | prediction empty |") == 1
