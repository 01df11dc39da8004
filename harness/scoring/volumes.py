"""The volumes a leaderboard report draws, read from a split and its prediction files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import ResultsError
from harness.split.manifest import Split
from harness.split.volume import read_volume

__all__ = ["SplitVolumes"]


@dataclass(frozen=True)
class SplitVolumes:
    """A :class:`leaderboard.cases.VolumeLoader` over a split's volumes and prediction files.

    Parameters
    ----------
    split : Split
    base_dir : Path or None
        Folder a results table's relative ``prediction`` paths resolve against (the table's own
        folder); None accepts only absolute paths.
    """

    split: Split
    base_dir: Path | None

    def image(self, case_id: str) -> np.ndarray:
        """The case's first image channel."""
        return read_volume(self.split.case(case_id).image).array

    def reference(self, case_id: str) -> np.ndarray | None:
        """The case's label, or None for an unlabeled case."""
        label = self.split.case(case_id).label
        return None if label is None else read_volume(label).array

    def prediction(self, case_id: str, path: str) -> np.ndarray:
        """The prediction file a results row names for ``case_id``."""
        file = Path(path)
        if not file.is_absolute():
            if self.base_dir is None:
                raise ResultsError(
                    path,
                    [f"case {case_id!r}: a relative prediction path needs the results' folder"],
                )
            file = self.base_dir / file
        return read_volume(file).array
