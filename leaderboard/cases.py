"""What the leaderboard needs of a split and its volumes, stated as protocols.

The leaderboard never reads volumes itself: its caller hands it the split's cases (to check a
results table against) and, for the report's projection gallery, a loader of volumes. The
harness's :class:`harness.split.manifest.Split` is a :class:`SplitInfo`, and
:class:`harness.scoring.volumes.SplitVolumes` a :class:`VolumeLoader`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

__all__ = ["CaseInfo", "SplitInfo", "VolumeLoader"]


class CaseInfo(Protocol):
    """One case of a split, as a results table names it."""

    @property
    def case_id(self) -> str:
        """The case's id."""

    @property
    def track(self) -> str:
        """``"vessel"`` or ``"spot"``."""

    @property
    def structure(self) -> str:
        """The biological structure, e.g. ``"blood_vessel"``."""


class SplitInfo(Protocol):
    """A split's cases and content hash (no volumes)."""

    @property
    def manifest(self) -> Path:
        """The manifest file, named in messages."""

    @property
    def content_hash(self) -> str:
        """The hash a results table's ``split_hash`` column must equal."""

    @property
    def cases(self) -> Sequence[CaseInfo]:
        """The cases, sorted by id."""


class VolumeLoader(Protocol):
    """Reads the volumes the report draws, each as a 3D array of shape (Z, Y, X)."""

    def image(self, case_id: str) -> np.ndarray:
        """The case's (first) image channel."""

    def reference(self, case_id: str) -> np.ndarray | None:
        """The case's reference mask, or None for an unlabeled case."""

    def prediction(self, case_id: str, path: str) -> np.ndarray:
        """The prediction a results row names (its ``prediction`` column) for ``case_id``."""
