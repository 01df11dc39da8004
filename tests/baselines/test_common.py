import numpy as np
import pytest

from baselines._common import (
    canonical_structure,
    choose_track,
    infer_track,
    normalise,
    remove_small_objects,
    track_of_structure,
    tubularity,
)
from tests.baselines.conftest import ball, tube


def test_normalise_maps_percentiles_to_unit_interval():
    img = np.arange(1000, dtype=np.float64).reshape(10, 10, 10)
    out = normalise(img, low=0, high=100)
    assert out.dtype == np.float32
    assert out.min() == 0.0 and out.max() == 1.0
    # linear in between: value 499.5 of 0..999 is the middle
    assert out[4, 9, 9] == pytest.approx(499 / 999)


def test_normalise_is_invariant_to_affine_intensity_changes():
    rng = np.random.default_rng(0)
    img = rng.normal(size=(12, 12, 12))
    np.testing.assert_allclose(normalise(img), normalise(3.0 * img + 100.0), atol=1e-5)


def test_normalise_constant_patch_is_zero():
    assert not normalise(np.full((4, 4, 4), 7.0)).any()


@pytest.mark.parametrize("bad", [np.zeros((4, 4)), np.full((2, 2, 2), np.nan)])
def test_normalise_rejects_bad_input(bad):
    with pytest.raises(ValueError, match="image"):
        normalise(bad)


def test_remove_small_objects_by_hand():
    mask = np.zeros((10, 10, 10), bool)
    mask[1:4, 1:4, 1:4] = True  # 27 voxels
    mask[8, 8, 8] = True  # 1 voxel
    mask[6, 1, 1:3] = True  # 2 voxels
    out = remove_small_objects(mask, min_size=2)
    assert out.sum() == 29 and not out[8, 8, 8]
    assert remove_small_objects(mask, min_size=28).sum() == 0
    assert remove_small_objects(mask, min_size=0).sum() == 30


def test_structure_names():
    assert canonical_structure("Vessels") == "blood_vessel"
    assert canonical_structure("amyloid-beta plaques") == "amyloid_plaque"
    assert canonical_structure("c-Fos") == "cfos"
    assert track_of_structure("microglia") == "vessel"
    assert track_of_structure("cell nucleus") == "spot"
    assert track_of_structure("dendrites") is None


def test_tubularity_tube_versus_balls():
    shape = (40, 40, 40)
    rng = np.random.default_rng(1)
    tubes = (tube(shape, 2, axis=2) | tube(shape, 2, axis=1, at=[10, 30])).astype(float)
    balls = np.zeros(shape)
    for c in [(8, 8, 8), (8, 30, 20), (30, 10, 28), (28, 30, 10), (20, 20, 20)]:
        balls[ball(shape, c, 3)] = 1.0
    noise = rng.normal(0, 0.05, shape)
    assert tubularity(tubes + noise) > 2.0 > tubularity(balls + noise)
    assert infer_track(tubes + noise).track == "vessel"
    assert infer_track(balls + noise).track == "spot"


def test_choose_track_priority_and_reasons():
    img = np.zeros((16, 16, 16))
    img[4:8, 4:8, 4:8] = 1.0
    assert choose_track(img, track="vessel", structure="cfos").track == "vessel"
    chosen = choose_track(img, structure="Blood vessels")
    assert (chosen.track, chosen.structure) == ("vessel", "blood_vessel")
    unknown = choose_track(img, structure="dendrites")
    assert unknown.structure == "dendrites" and "unknown structure" in unknown.reason
    assert "inferred" in choose_track(img).reason
    with pytest.raises(ValueError, match="track"):
        choose_track(img, track="tubes")
