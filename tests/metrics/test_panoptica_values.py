import importlib.util
from pathlib import Path

import pytest

from metrics import cldice, dice, match_blobs, panoptic_quality

_spec = importlib.util.spec_from_file_location(
    "panoptica_recorded", Path(__file__).with_name("panoptica_recorded.py")
)
_recorded = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_recorded)
RECORDED, cases = _recorded.RECORDED, _recorded.cases


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_same_values_as_panoptica(name):
    reference, prediction = cases()[name]
    want = RECORDED[name]
    m = match_blobs(reference, prediction, iou_threshold=0.3)
    assert (m.tp, m.fp, m.fn) == (want["tp"], want["fp"], want["fn"])
    assert m.f1 == pytest.approx(want["rq"], abs=1e-12)
    assert panoptic_quality(reference, prediction) == pytest.approx(want["pq_dsc"], abs=1e-12)
    assert dice(reference, prediction) == pytest.approx(want["global_bin_dsc"], abs=1e-12)
    # No component of these masks thins to nothing, so the skeleton rule does not apply.
    assert cldice(reference, prediction) == pytest.approx(want["global_bin_cldsc"], abs=1e-12)
