"""Two runs of a case compared voxel by voxel: run.json's ``determinism``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.assets import asset_dir
from harness.containers.determinism import compare_runs

TEMPLATE = asset_dir("submissions") / "template"
MISBEHAVING = Path(__file__).resolve().parents[2] / "integration" / "misbehaving"


def test_two_runs_of_a_case_are_compared_voxel_by_voxel():
    first = np.zeros((2, 3, 4), np.uint8)
    first[0, 0, :2] = 1
    second = first.copy()
    second[0, 0, 0] = 0  # one voxel lost
    second[1, 2, 3] = 1  # one voxel gained: 2 of 2*3*4 = 24 differ
    assert compare_runs("c1", first, second) == {
        "case_id": "c1",
        "status": "ok",
        "identical": False,
        "differing_voxels": 2,
        "reason": "2 of 24 voxels differ between two runs of the same case",
    }
    same = compare_runs("c1", first, first.astype(bool))
    assert (same["identical"], same["differing_voxels"], same["reason"]) == (True, 0, "")
    # A second run that failed compares nothing and flags nothing.
    failed = compare_runs("c1", first, None, status="timeout", reason="ran over 30 s")
    assert failed == {
        "case_id": "c1",
        "status": "timeout",
        "identical": None,
        "reason": "the second run ended timeout: ran over 30 s; nothing was compared",
    }
    with pytest.raises(ValueError, match=r"shape \(2, 3, 4\).*\(2, 3, 5\)"):
        compare_runs("c1", first, np.zeros((2, 3, 5), np.uint8))
