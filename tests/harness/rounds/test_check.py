"""``selma3d check --config ROUND.yaml`` scores as the round would: its metric options too."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from harness.split.manifest import write_manifest
from harness.split.volume import write_volume

REPO = Path(__file__).resolve().parents[3]
MISBEHAVING = REPO / "tests" / "integration" / "misbehaving"


def hand_drawn_split(root: Path) -> Path:
    """One spot case, 7^3, drawn by hand.

    Reference: blob A, four voxels in a row (z=1, y=1, x=1..4), and blob B, one voxel at
    (5, 5, 5). The image is the prediction the ``probabilities`` test image makes of it
    (foreground exactly where the image is above its median, 0): blob A' = two of A's voxels
    (x=1..2), IoU(A, A') = 2 / 4 = 0.5 and Dice 2 * 2 / (4 + 2) = 2/3; and B' = B, IoU and
    Dice 1.
    """
    root.mkdir(parents=True)
    label = np.zeros((7, 7, 7), np.uint8)
    label[1, 1, 1:5] = 1
    label[5, 5, 5] = 1
    image = np.zeros((7, 7, 7), np.float32)
    image[1, 1, 1:3] = 1.0
    image[5, 5, 5] = 1.0
    write_volume(root / "c1.nii.gz", image)
    write_volume(root / "c1_label.nii.gz", label)
    row = {
        "case_id": "c1",
        "track": "spot",
        "structure": "amyloid_plaque",
        "image": str(root / "c1.nii.gz"),
        "label": str(root / "c1_label.nii.gz"),
    }
    write_manifest(root, [row])
    return root


def round_file(path: Path, split: Path, metrics: dict[str, object] | None) -> Path:
    config = {
        "name": "rehearsed",
        "output": str(path.parent / "round"),
        "phases": {"final": {"split": str(split)}},
        "phase": "final",
        "limits": {"timeout_s": 120, "memory": "512m", "cpus": 1},
        "teams": [{"name": "a", "image": "selma3d-test/probabilities:latest"}],
    }
    if metrics is not None:
        config["metrics"] = metrics
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.docker
def test_check_scores_with_the_rounds_metric_options(tmp_path):
    from harness.containers.images import build_folder

    quiet = {"log": lambda message: None}
    build_folder(MISBEHAVING / "_base", "selma3d-test/misbehaving-base:latest", **quiet)
    image = build_folder(
        MISBEHAVING / "probabilities", "selma3d-test/probabilities:latest", **quiet
    )
    split = hand_drawn_split(tmp_path / "split")

    def check(name: str, metrics: dict[str, object] | None) -> dict[str, float]:
        config = round_file(tmp_path / f"{name}.yaml", split, metrics)
        out = tmp_path / name
        argv = ["check", image.ref, "--split", str(split), "--config", str(config)]
        done = subprocess.run(
            [sys.executable, "-m", "harness", *argv, "--out", str(out)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        (case,) = json.loads((out / "check.json").read_text())["cases"]
        return case["metrics"]

    # By hand, at the default IoU threshold 0.3 both pairs match: TP 2, FP 0, FN 0, so
    # F1 = 2*2 / (2*2 + 0) = 1 and PQ = F1 times the matches' mean Dice (2/3 + 1) / 2 = 5/6.
    default = check("default", None)
    assert (default["blob_tp"], default["blob_fp"], default["blob_fn"]) == (2, 0, 0)
    assert default["blob_f1"] == pytest.approx(1.0)
    assert default["pq"] == pytest.approx(5 / 6)
    # The round asks for IoU >= 0.6: A' no longer matches A. TP 1 (B), FP 1 (A'), FN 1 (A):
    # F1 = 2*1 / (2*1 + 1 + 1) = 0.5 and PQ = 0.5 times B's Dice 1 = 0.5.
    strict = check("strict", {"iou_threshold": 0.6})
    assert (strict["blob_tp"], strict["blob_fp"], strict["blob_fn"]) == (1, 1, 1)
    assert strict["blob_f1"] == pytest.approx(0.5)
    assert strict["pq"] == pytest.approx(0.5)
