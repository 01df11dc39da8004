"""On a generated split where the answer is clear, each baseline beats the one below it on Dice.

The split is new to every method (seed 11; the parameters and weights saw seeds 1 and 3), the
U-Net uses the shipped weights, and the structure is given as a round would send it.

The split is of the vessel track (blood vessels and microglia, two cases each): there Otsu
misses thin microglia processes entirely, tubeness filters find them, and the U-Net also keeps
their width. On the spot track the order is not clear: the classical LoG detector beats the
U-Net on c-Fos patches (docs/baselines.md has the full table), so it is not asserted here.
"""

from __future__ import annotations

import numpy as np
import pytest

from baselines import classical, threshold, unet
from harness.split.synth import synthesize_split
from harness.split.volume import read_volume
from metrics import dice

pytestmark = pytest.mark.deep

# Minimum lead of each method over the one below, in mean Dice over the split's cases.
# Measured with the shipped artefacts: threshold 0.390, classical 0.729, U-Net 0.774.
MARGIN_CLASSICAL_OVER_THRESHOLD = 0.2
MARGIN_UNET_OVER_CLASSICAL = 0.04


@pytest.fixture(scope="module")
def scores(tmp_path_factory):
    split = synthesize_split(
        tmp_path_factory.mktemp("rank") / "split",
        cases=4,
        size=(64, 64, 64),
        seed=11,
        tracks=("vessel",),
    )
    model = unet.load_model()[0]
    out = {"threshold": [], "classical": [], "unet": []}
    for case in split.cases:
        image = read_volume(case.image).array
        ref = read_volume(case.label).array > 0
        out["threshold"].append(dice(ref, threshold.segment(image)))
        out["classical"].append(dice(ref, classical.segment(image, structure=case.structure)))
        out["unet"].append(dice(ref, unet.segment(image, structure=case.structure, model=model)))
    return {k: float(np.mean(v)) for k, v in out.items()}


def test_classical_beats_threshold(scores):
    assert scores["classical"] >= scores["threshold"] + MARGIN_CLASSICAL_OVER_THRESHOLD, scores


def test_unet_beats_classical(scores):
    assert scores["unet"] >= scores["classical"] + MARGIN_UNET_OVER_CLASSICAL, scores
