from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REAL_PATCHES


def ball(shape, centre, radius):
    zz, yy, xx = np.indices(shape)
    c = np.asarray(centre)
    return (zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2 <= radius**2


def tube(shape, radius, *, axis=2, at=None):
    """A straight bright cylinder along ``axis`` through ``at`` (default the centre)."""
    zz, yy, xx = np.indices(shape)
    grids = [zz, yy, xx]
    others = [g for i, g in enumerate(grids) if i != axis]
    centre = at or [s // 2 for i, s in enumerate(shape) if i != axis]
    return (others[0] - centre[0]) ** 2 + (others[1] - centre[1]) ** 2 <= radius**2


@pytest.fixture(scope="session")
def real_patches() -> Path:
    if not (REAL_PATCHES / "val").is_dir():
        pytest.fail(
            f"real patches not found at {REAL_PATCHES}: the tests expect "
            "../shared/data/lsm-patches beside the checkout (see the brief)."
        )
    return REAL_PATCHES
