from pathlib import Path

import numpy as np
import pytest

from metrics import EMPTY_TABLE, METRICS, empty_table_markdown, prepare_reference, score_prediction
from metrics.empty import EMPTY_CASES

SHAPE = (3, 7, 9)


def _two_objects():
    # A ring (one loop) and a separate voxel: 2 instances, b0 = 2, b1 = 1.
    m = np.zeros(SHAPE, np.uint8)
    m[1, 1:4, 1:4] = 1
    m[1, 2, 2] = 0
    m[1, 5, 7] = 1
    return m


# Values of the named quantities for _two_objects(), worked out by hand above.
NAMED = {"n_prediction": 2, "n_reference": 2, "b0(P)": 2, "b0(R)": 2, "b1(P)": 1, "b1(R)": 1}


def _masks(case):
    empty = np.zeros(SHAPE, np.uint8)
    return {
        "both_empty": (empty, empty),
        "reference_empty": (empty, _two_objects()),
        "prediction_empty": (_two_objects(), empty),
    }[case]


CELLS = [(name, case) for name in EMPTY_TABLE for case in EMPTY_CASES]


@pytest.mark.parametrize(("name", "case"), CELLS)
def test_cell(name, case):
    expected = EMPTY_TABLE[name][case]
    expected = NAMED[expected] if isinstance(expected, str) else expected
    reference, prediction = _masks(case)
    assert METRICS[name].fn(reference, prediction) == expected
    for track in METRICS[name].tracks:
        prepared = prepare_reference(reference, track=track)
        assert score_prediction(prepared, prediction)[name] == expected


def test_table_covers_every_metric():
    assert tuple(EMPTY_TABLE) == tuple(METRICS)


def test_docs_show_the_table():
    docs = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
    assert empty_table_markdown() in docs.read_text(encoding="utf-8")
