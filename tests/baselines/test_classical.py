import json

import cc3d
import numpy as np
import pytest

from baselines import classical
from baselines._common import TrackChoice
from baselines.classical import SpotParams, VesselParams
from tests.baselines.conftest import ball, tube


def _noisy(mask, seed=0, contrast=1.0, noise=0.05):
    rng = np.random.default_rng(seed)
    return contrast * mask.astype(float) + rng.normal(0, noise, mask.shape)


def test_vessel_method_follows_a_tube_and_ignores_noise():
    shape = (32, 32, 32)
    truth = tube(shape, 2, axis=2)
    mask = classical.segment_vessel(
        _noisy(truth), params=VesselParams(sigmas=(1.0, 2.0), high=0.3, low=0.15)
    )
    # the tube's axis is found end to end (away from the border), nothing far from it
    assert mask[16, 16, 3:29].all()
    far = ~tube(shape, 5, axis=2)
    assert mask[far].sum() == 0


def test_spot_method_counts_separate_balls():
    shape = (32, 32, 32)
    centres = [(8, 8, 8), (8, 24, 20), (24, 8, 24), (22, 22, 10)]
    truth = np.zeros(shape, bool)
    for c in centres:
        truth |= ball(shape, c, 3)
    mask = classical.segment_spot(
        _noisy(truth, seed=1), params=SpotParams(sigmas=(1.5, 2.5), detect=0.3)
    )
    labels = cc3d.connected_components(mask, connectivity=26)
    assert labels.max() == 4
    for c in centres:
        assert mask[c]


def test_split_touching_separates_two_overlapping_balls():
    shape = (24, 24, 32)
    truth = ball(shape, (12, 12, 11), 4) | ball(shape, (12, 12, 19), 4)
    img = _noisy(truth, seed=2, noise=0.01)
    # a dimmer neck between the two: what a nuclear stain shows where nuclei touch
    img[:, :, 15] *= 0.6
    joined = classical.segment_spot(img, params=SpotParams(sigmas=(2.0,), detect=0.3, offset=0.1))
    split = classical.segment_spot(
        img, params=SpotParams(sigmas=(2.0,), detect=0.3, offset=0.1, split_touching=True)
    )
    assert cc3d.connected_components(joined, connectivity=26).max() == 1
    assert cc3d.connected_components(split, connectivity=26).max() == 2
    # the cut is thin: at most one voxel layer of the joined mask is removed
    assert joined.sum() - split.sum() <= 9 * 9


def test_segment_uses_the_structure_to_choose_the_method():
    shape = (32, 32, 32)
    img = _noisy(tube(shape, 2, axis=2))
    # The structure picks its track's method with that structure's own tuned parameters.
    for structure, method in (
        ("blood_vessel", classical.segment_vessel),
        ("cell_nucleus", classical.segment_spot),
    ):
        tuned = classical.params_for(classical.choose_track(img, structure=structure))
        np.testing.assert_array_equal(
            classical.segment(img, structure=structure), method(img, params=tuned)
        )


def test_params_table_lookup(tmp_path):
    doc = {
        "tracks": {
            "vessel": {"sigmas": [1.0], "high": 0.4, "low": 0.2, "min_size": 5},
            "spot": {"sigmas": [2.0], "detect": 0.5},
        },
        "structures": {"cfos": {"track": "spot", "params": {"sigmas": [1.0], "detect": 0.7}}},
    }
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    table = classical.load_params(path)
    assert classical.params_for(TrackChoice("spot", "cfos", ""), table=table).detect == 0.7
    assert classical.params_for(TrackChoice("spot", "cell_nucleus", ""), table=table).detect == 0.5
    # a structure tuned on the other track does not leak into this one
    assert classical.params_for(TrackChoice("vessel", "cfos", ""), table=table).high == 0.4


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ({"tracks": {"vessel": {"sigmas": [1.0]}}}, "'spot'"),
        ({"tracks": {"vessel": {"speed": 1}, "spot": {}}}, "unknown fields"),
        ({"tracks": {"vessel": {"high": 0.1, "low": 0.5}, "spot": {}}}, "low <= high"),
    ],
)
def test_params_table_errors_name_the_file(tmp_path, doc, match):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=match) as err:
        classical.load_params(path)
    assert str(path) in str(err.value)


def test_shipped_params_cover_both_tracks_and_record_provenance():
    doc = json.loads(classical.PARAMS_PATH.read_text())
    assert set(doc["tracks"]) == {"vessel", "spot"}
    assert "command" in doc["provenance"] and doc["provenance"]["data"]
    classical.load_params()
