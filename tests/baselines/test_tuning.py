"""The classical baseline's parameter search, on cases whose answer is clear.

Each case is a bright shape in noise: some grid setting segments it exactly, so the search must
find a setting that does (checked with the classical method itself and numpy, not the scores).
"""

from __future__ import annotations

import numpy as np
import pytest

from baselines import classical
from baselines.tuning import LabeledCase, tune
from tests.baselines.conftest import ball, tube

SHAPE = (20, 20, 20)


def bright(label: np.ndarray, seed: int) -> np.ndarray:
    """Noise around 100 (sd 5) with the label's voxels 80 brighter."""
    image = np.random.default_rng(seed).normal(100, 5, SHAPE).astype(np.float32)
    image[label] += 80
    return image


@pytest.fixture(scope="module")
def cases() -> list[LabeledCase]:
    vessel = tube(SHAPE, 2, at=(9.5, 9.5))
    spots = (
        ball(SHAPE, (5, 5, 5), 2.5) | ball(SHAPE, (14, 14, 14), 2.5) | ball(SHAPE, (5, 14, 10), 2.5)
    )
    return [
        LabeledCase("v1", "vessel", "blood_vessel", bright(vessel, 0), vessel),
        LabeledCase("s1", "spot", "nucleus", bright(spots, 1), spots),
    ]


@pytest.fixture(scope="module")
def searched(cases):
    lines: list[str] = []
    return tune(cases, progress=lines.append), lines


def test_every_setting_of_both_grids_is_scored(searched):
    result, lines = searched
    # Vessel: 3 scale sets x 4 high thresholds x 2 low ratios x 1 minimum size = 24.
    # Spot: 2 scale sets x 4 detection levels x 4 offsets x 1 local scale x 2 x 1 = 64.
    assert result.evaluated == 24 + 64
    assert lines == [
        "v1 (blood_vessel): best 1.000 of 24 settings",
        "s1 (nucleus): best 1.000 of 64 settings",
    ]


def test_the_chosen_settings_segment_each_clear_case_exactly(searched, cases):
    result, _ = searched
    for case in cases:
        params, score = result.tracks[case.track]
        assert score == 1.0
        mask = classical.segment(case.image, track=case.track, params=params)
        np.testing.assert_array_equal(mask.astype(bool), case.label)


def test_structures_are_kept_under_their_canonical_names(searched):
    result, _ = searched
    assert sorted(result.structures) == ["blood_vessel", "cell_nucleus"]
    track, params, score = result.structures["cell_nucleus"]
    assert (track, params, score) == ("spot", *result.tracks["spot"])


def test_a_case_of_an_unknown_track_is_refused(cases):
    odd = LabeledCase("x1", "vesel", "blood_vessel", cases[0].image, cases[0].label)
    with pytest.raises(
        ValueError, match=r"^case 'x1': track must be 'vessel' or 'spot'; got 'vesel'\.$"
    ):
        tune([*cases, odd])


def test_the_search_needs_both_tracks(cases):
    with pytest.raises(
        ValueError, match=r"^the search needs labeled cases of every track; none for \['spot'\]\.$"
    ):
        tune(cases[:1])
