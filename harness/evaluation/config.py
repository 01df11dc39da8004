"""``evaluation:`` of a round file: which evaluation container scores each submission, and how.

::

    evaluation:
      image: evaluation/            # an image reference, a `docker save` tarball or a folder
      ground_truth: ground-truth.tar.gz   # the tarball uploaded to grand-challenge, or a folder
      limits: {timeout_s: 3600, memory: 8g}   # grand-challenge's defaults: 60 min, 8 GB, no GPU
      compare:                      # only for an evaluator in no form selma3d knows
        aggregates.DiceVessel.mean: {metric: dice, track: vessel, statistic: mean}
      leaderboard:                  # the phase's leaderboard settings, by grand-challenge's names
        score_jsonpath: aggregates.con_dice_mean
        score_default_sort: desc
        extra_results_columns:
          - {title: clDice, path: aggregates.con_cldice_mean, order: desc}
        scoring_method_choice: avg  # abs (absolute), avg (mean position), med (median position)
        result_display_choice: bst  # all, rec (most recent), bst (best per participant)
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from common.files import resolved
from harness.containers.limits import Limits
from harness.evaluation.forms import CompareTarget, compare_paths_problems

__all__ = [
    "DEFAULT_EVALUATION_LIMITS",
    "EvaluationConfig",
    "ExtraResultsColumn",
    "LeaderboardSettings",
    "ground_truth_problems",
]

DEFAULT_EVALUATION_LIMITS = Limits(timeout_s=3600.0, memory="8g", cpus=2.0)
"""grand-challenge's defaults for an evaluation: 60 minutes, 8 GB of memory, no GPU."""

_TARBALLS = (".tar", ".tar.gz", ".tgz")
# The kernel's own filesystems: their entries come and go while a folder is walked (a task's
# open files) and their files read as empty, so nothing on them can be a ground truth.
_KERNEL_FOLDERS = ("/proc", "/sys", "/dev")


class ExtraResultsColumn(BaseModel):
    """One of a phase's ``extra_results_columns`` (grand-challenge's JSON schema for them).

    Attributes
    ----------
    title : str
        The column's heading.
    path : str
        Where its value is in ``metrics.json`` (dotted keys: ``aggregates.dice.mean``).
    order : {"asc", "desc"}
        ``desc``: higher is better.
    error_path : str
        Where the value shown after ``±`` is; empty for none.
    exclude_from_ranking : bool
        Shown, but not ranked (nor required: a result lacking it still ranks).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    path: str
    order: Literal["asc", "desc"]
    error_path: str = ""
    exclude_from_ranking: bool = False


class LeaderboardSettings(BaseModel):
    """A phase's leaderboard settings, by the names of grand-challenge's ``Phase`` model.

    Defaults are grand-challenge's. The values are those grand-challenge stores (the phase
    form shows their labels: ``abs`` "Use the absolute value of the score column", ``avg``
    "... the mean of the relative ranks ...", ``med`` "... the median ..."; ``all`` "Display
    all results", ``rec`` "Only display each users most recent result", ``bst`` "Only display
    each users best result").

    Attributes
    ----------
    score_jsonpath : str
        The score's path in ``metrics.json``. Required here: grand-challenge allows it blank,
        and then no result has a valid score and the board is empty.
    score_error_jsonpath : str
    score_title : str
    score_default_sort : {"asc", "desc"}
    score_decimal_places : int
    extra_results_columns : tuple of ExtraResultsColumn
    scoring_method_choice : {"abs", "avg", "med"}
    result_display_choice : {"all", "rec", "bst"}
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    score_jsonpath: str = Field(min_length=1, max_length=255)
    score_error_jsonpath: str = Field("", max_length=255)
    score_title: str = Field("Score", min_length=1, max_length=64)
    score_default_sort: Literal["asc", "desc"] = "desc"
    score_decimal_places: int = Field(4, ge=0, le=32767)
    extra_results_columns: tuple[ExtraResultsColumn, ...] = ()
    scoring_method_choice: Literal["abs", "avg", "med"] = "abs"
    result_display_choice: Literal["all", "rec", "bst"] = "all"

    @model_validator(mode="after")
    def _distinct_headings(self) -> LeaderboardSettings:
        # grand-challenge allows two columns one title; a table cannot have two such columns.
        seen = {"rank", "team", "submission", "rank_score"}
        for title in (self.score_title, *(c.title for c in self.extra_results_columns)):
            if title in seen:
                raise ValueError(
                    f"column title {title!r} is used twice (or is one of rank, team, "
                    "submission, rank_score) in grand-challenge.csv; give each column its own "
                    "title"
                )
            seen.add(title)
        return self


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
    leaderboard : LeaderboardSettings or None
        The phase's leaderboard settings: a round computes grand-challenge's leaderboard from
        each submission's ``metrics.json`` (:mod:`harness.evaluation.gc_leaderboard`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: str = Field(min_length=1)
    ground_truth: Path
    limits: Limits = DEFAULT_EVALUATION_LIMITS
    leaderboard: LeaderboardSettings | None = None
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
            image = str(resolved(base / image))
        gt = self.ground_truth if self.ground_truth.is_absolute() else (base / self.ground_truth)
        problems = [f"evaluation.ground_truth: {p}" for p in ground_truth_problems(gt)]
        return self.model_copy(update={"image": image, "ground_truth": resolved(gt)}), problems


def ground_truth_problems(path: Path) -> list[str]:
    """Why ``path`` cannot be a ground truth (a folder or a tarball); empty when it can.

    A path on the kernel's ``/proc``, ``/sys`` or ``/dev`` filesystem is refused unread. A
    folder is walked (no link followed): every entry must be a folder, a regular file or a
    link, and readable (a FIFO would block its reader).
    """
    kernel = _kernel_folder(path)
    if kernel is not None:
        return [
            f"{path} is on the kernel's {kernel} filesystem, not a ground truth; expected a "
            "folder or a .tar, .tar.gz or .tgz tarball"
        ]
    if path.is_dir():
        return _folder_problems(path)
    if path.is_file() and path.name.lower().endswith(_TARBALLS):
        return []
    if not path.exists():
        return [f"{path} does not exist; expected a folder or a .tar, .tar.gz or .tgz tarball"]
    return [f"{path} is neither a folder nor a .tar, .tar.gz or .tgz tarball"]


def _kernel_folder(path: Path) -> str | None:
    """The kernel folder (``/proc``, ``/sys``, ``/dev``) whose filesystem holds ``path``, if any.

    Compared by device, so a link or a bind mount leading there is caught too; a folder that
    is no mount of its own (its device is the root's) is not taken for one.
    """
    try:
        device = path.stat().st_dev
        root = os.stat("/").st_dev
    except OSError:
        return None  # a missing or unreadable path: the checks that follow name it
    for folder in _KERNEL_FOLDERS:
        try:
            mounted = os.stat(folder).st_dev
        except OSError:
            continue  # not on this system
        if mounted == device and mounted != root:
            return folder
    return None


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
