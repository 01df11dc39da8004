"""``evaluation:`` of a round file: which evaluation container scores each submission, and how.

::

    evaluation:
      image: evaluation/            # an image reference, a `docker save` tarball or a folder
      ground_truth: ground-truth.tar.gz   # the tarball uploaded to grand-challenge, or a folder
      limits: {timeout_s: 3600, memory: 8g}   # grand-challenge's defaults: 60 min, 8 GB, no GPU
      compare:                      # only for an evaluator in no form selma3d knows
        aggregates.DiceVessel.mean: {metric: dice, track: vessel, statistic: mean}
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness.containers.limits import Limits
from harness.evaluation.forms import CompareTarget, compare_paths_problems

__all__ = ["DEFAULT_EVALUATION_LIMITS", "EvaluationConfig", "ground_truth_problems"]

DEFAULT_EVALUATION_LIMITS = Limits(timeout_s=3600.0, memory="8g", cpus=2.0)
"""grand-challenge's defaults for an evaluation: 60 minutes, 8 GB of memory, no GPU."""

_TARBALLS = (".tar", ".tar.gz", ".tgz")


class EvaluationConfig(BaseModel):
    """The evaluation container of a round (or of ``selma3d evaluate --container``).

    Attributes
    ----------
    image : str
        An image reference on this engine, a ``docker save`` tarball or a folder with a
        Dockerfile (built offline); paths resolve against the round file.
    ground_truth : Path
        A tarball (``.tar``, ``.tar.gz``, ``.tgz``: extracted as grand-challenge extracts it) or
        a folder, mounted read-only at ``/opt/ml/input/data/ground_truth``.
    limits : Limits
        The container's limits (the isolation is every container's).
    compare : dict of str to CompareTarget, optional
        For an evaluator whose ``metrics.json`` is in no form selma3d knows
        (:mod:`harness.evaluation.forms`): each path (``aggregates.dice.mean``) and the value
        of selma3d's it holds. When given, only these paths are compared.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: str = Field(min_length=1)
    ground_truth: Path
    limits: Limits = DEFAULT_EVALUATION_LIMITS
    compare: dict[str, CompareTarget] | None = None

    @field_validator("compare")
    @classmethod
    def _paths(cls, value: dict[str, CompareTarget] | None) -> dict[str, CompareTarget] | None:
        if value is not None:
            if not value:
                raise ValueError("an empty mapping compares nothing; leave 'compare' out")
            problems = compare_paths_problems(value)
            if problems:
                raise ValueError("; ".join(problems))
        return value

    def resolved(self, base: Path) -> tuple[EvaluationConfig, list[str]]:
        """The same settings with relative paths taken from ``base``, and what is wrong with them.

        ``image`` becomes a path when ``base / image`` exists (a tarball or a folder beside the
        round file), and stays an image reference otherwise. Each problem names its field.
        """
        image = self.image
        if not Path(image).is_absolute() and (base / image).exists():
            image = str((base / image).resolve())
        gt = self.ground_truth if self.ground_truth.is_absolute() else (base / self.ground_truth)
        problems = [f"evaluation.ground_truth: {p}" for p in ground_truth_problems(gt)]
        return self.model_copy(update={"image": image, "ground_truth": gt.resolve()}), problems


def ground_truth_problems(path: Path) -> list[str]:
    """Why ``path`` cannot be a ground truth (a folder or a tarball); empty when it can.

    A folder is walked (no link followed): every entry must be a folder, a regular file or a
    link, and readable (a FIFO would block its reader, ``/proc`` files cannot all be read).
    """
    if path.is_dir():
        return _folder_problems(path)
    if path.is_file() and path.name.lower().endswith(_TARBALLS):
        return []
    if not path.exists():
        return [f"{path} does not exist; expected a folder or a .tar, .tar.gz or .tgz tarball"]
    return [f"{path} is neither a folder nor a .tar, .tar.gz or .tgz tarball"]


def _folder_problems(root: Path, *, shown: int = 5) -> list[str]:
    """The first ``shown`` special or unreadable entries of a ground-truth folder."""
    problems: list[str] = []

    def unreadable(exc: OSError) -> None:
        problems.append(f"{exc.filename} cannot be read ({exc.strerror or exc})")

    for folder, dirs, files in os.walk(root, onerror=unreadable):
        for name in [*dirs, *files]:
            entry = os.path.join(folder, name)
            try:
                mode = os.lstat(entry).st_mode
            except OSError as exc:
                problems.append(f"{entry} cannot be read ({exc.strerror or exc})")
                continue
            if stat.S_ISLNK(mode):
                continue
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                problems.append(f"{entry} is a special file; expected folders and regular files")
            elif not os.access(entry, os.R_OK | (os.X_OK if stat.S_ISDIR(mode) else 0)):
                problems.append(f"{entry} cannot be read (permission denied)")
        if len(problems) >= shown:
            break
    return list(dict.fromkeys(problems))[:shown]
