"""The volumes a leaderboard report draws, read from a split and its prediction files.

Predictions pass the same gate as in scoring
(:func:`harness.predictions.validate.validate_prediction`) and references the same check
(:func:`harness.split.checks.read_reference`): a results table cannot make the report follow a
link or read a header bomb.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import ResultsError
from harness.predictions.validate import OFFICIAL_GATE, GateOptions, validate_prediction
from harness.split.checks import image_grid, read_reference
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
    gate : GateOptions
        The prediction gate's options (the round's); the official defaults otherwise.
    """

    split: Split
    base_dir: Path | None
    gate: GateOptions = OFFICIAL_GATE

    def image(self, case_id: str) -> np.ndarray:
        """The case's first image channel."""
        return read_volume(self.split.case(case_id).image).array

    def reference(self, case_id: str) -> np.ndarray | None:
        """The case's label, checked against its image, or None for an unlabeled case."""
        case = self.split.case(case_id)
        if case.label is None:
            return None
        return read_reference(case.label, case.image, where=f"case {case_id!r}")[0]

    def prediction(self, case_id: str, path: str) -> np.ndarray:
        """The prediction file a results row names for ``case_id``, as its 0/1 mask.

        Raises
        ------
        ResultsError
            Naming the file and the case when the file does not pass the gate.
        """
        file = Path(path)
        if not file.is_absolute():
            if self.base_dir is None:
                raise ResultsError(
                    path,
                    [f"case {case_id!r}: a relative prediction path needs the results' folder"],
                )
            file = self.base_dir / file
        grid = image_grid(self.split.case(case_id).image)
        check = validate_prediction(file, grid, options=self.gate)
        if check.mask is None:
            raise ResultsError(
                path, [f"case {case_id!r}: the prediction does not pass the gate: {check.reason}"]
            )
        return check.mask
