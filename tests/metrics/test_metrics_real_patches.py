
import numpy as np
import pytest
from scipy import ndimage as ndi

from harness.split.volume import read_volume
from metrics import METRICS, prepare_reference, score_prediction
from tests.conftest import REAL_PATCHES


def _labels():
    found = sorted(REAL_PATCHES.glob("*/*_label.nii.gz"))
    if len(found) != 6:
        pytest.fail(
            f"expected the 6 real patch labels in {REAL_PATCHES} (the shared data beside the "
            f"checkout); found {len(found)}"
        )
    return found


@pytest.fixture(scope="module")
def patches():
    return [(p, read_volume(p).array) for p in _labels()]


def _track(path):
    return "vessel" if path.name.startswith("vessels_") else "spot"


def test_perfect_and_eroded_predictions(patches):
    for path, label in patches:
        track = _track(path)
        prepared = prepare_reference(label, track=track)
        perfect = score_prediction(prepared, label)
        for name, value in perfect.items():
            if name != "blob_tp":
                assert value == METRICS[name].best, (path.name, name, value)
        assert perfect.get("blob_tp", 0) == prepared.n_instances
        eroded = ndi.binary_erosion(label > 0).astype(np.uint8)
        worse = score_prediction(prepared, eroded)
        assert worse["dice"] < 1.0, path.name
        assert 0.0 <= worse["dice"] <= 1.0
