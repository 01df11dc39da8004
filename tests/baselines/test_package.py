"""Packaging promises: container-side modules stay free of the harness; shipped artefacts are small
and documented."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
WEIGHTS = REPO / "baselines" / "weights"


def test_container_modules_import_neither_harness_nor_metrics():
    code = (
        "import sys, baselines.threshold, baselines.classical, baselines.contract, baselines.unet\n"
        "top = {m.split('.')[0] for m in sys.modules}\n"
        "bad = sorted(top & {'harness', 'metrics', 'leaderboard'})\n"
        "print(','.join(bad))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert proc.stdout.strip() == ""


def test_the_container_side_copy_of_the_tracks_is_the_registry_s():
    from baselines._common import TRACKS as copied
    from metrics.registry import TRACKS

    assert copied == TRACKS


@pytest.mark.parametrize("name", ["unet", "unet-scratch"])
def test_shipped_weights_are_small_and_have_provenance(name):
    weights = WEIGHTS / f"{name}.pt"
    assert weights.is_file(), (
        f"{weights} missing: run `selma3d dev baselines train` (docs/baselines.md)"
    )
    assert weights.stat().st_size < 5_000_000
    doc = json.loads((WEIGHTS / f"{name}.json").read_text())
    for key in (
        "command",
        "seed",
        "data",
        "seconds",
        "date",
        "versions",
        "weights_digest",
        "config",
    ):
        assert key in doc, key
    assert doc["command"].startswith("selma3d baselines train")
    assert ("--no-pretrain" in doc["command"]) == (name == "unet-scratch")


@pytest.mark.deep
def test_shipped_weights_match_their_recorded_digest():
    from baselines import unet

    for name in ("unet", "unet-scratch"):
        model, _ = unet.load_model(WEIGHTS / f"{name}.pt")
        doc = json.loads((WEIGHTS / f"{name}.json").read_text())
        assert unet.weights_digest(model) == doc["weights_digest"], name


@pytest.mark.deep
def test_unet_segment_returns_a_binary_mask_of_the_image_shape():
    import torch

    from baselines import unet

    torch.manual_seed(0)
    model = unet.build_model(channels=(4, 8)).eval()
    image = np.random.default_rng(0).gamma(2.0, size=(20, 24, 28)).astype(np.float32)
    prob = unet.predict_probability(model, image, track="spot", roi=16)
    assert prob.shape == image.shape and prob.dtype == np.float32
    assert 0.0 <= prob.min() and prob.max() <= 1.0
    mask = unet.segment(image, track="vessel", model=model, min_size=0)
    assert mask.shape == image.shape and mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
    with pytest.raises(ValueError, match="track"):
        unet.predict_probability(model, image, track="tubes")
