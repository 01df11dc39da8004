"""How a submission is run: the settings of one runner call, validated when made.

:class:`RunConfig` holds the contract, the :class:`~harness.containers.limits.Limits`, the
prediction gate's rule and the run's switches (canary, retries, model, determinism); ``run.json``
records it (:meth:`RunConfig.as_record`). The round and ``check`` make theirs from the round file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from harness.containers.contracts import CONTRACTS, Contract, make_contract
from harness.containers.limits import Limits
from harness.errors import ConfigError
from harness.predictions.validate import BinarizeRule, GateOptions

__all__ = ["REUSE_MODES", "Reuse", "RunConfig"]

Reuse = Literal["batch", "case"]
"""How long an invoke server lives: ``batch`` serves every case of a job slot from one server
(the fast default), ``case`` starts a fresh server for each case, as grand-challenge runs one job
per container today (the model loads for every case)."""
REUSE_MODES: tuple[str, ...] = ("batch", "case")


@dataclass(frozen=True)
class RunConfig:
    """How to run a submission. Validated on creation (:class:`~harness.errors.ConfigError`).

    Attributes
    ----------
    contract : {"grand-challenge", "folder"}
    limits : Limits
        What each container run is granted (:class:`~harness.containers.limits.Limits`).
    retry_failed : bool
        Rerun cases whose newest status is not ``ok``.
    canary : bool
        Run the first pending case alone first and stop if it is not ``ok``.
    allow_root : bool
        Accept an image whose user is root (refused by default).
    expose_structure : bool
        Tell the container the structure name (see :mod:`harness.containers.contracts`).
    input_format : {"mha", "tif"}
        Format of the grand-challenge input image.
    input_slug, output_slug : str
        grand-challenge socket slugs.
    threshold : float or None
        The binarization rule: None for the official ``value > 0``, a number ``t`` for
        ``value >= t`` (see :class:`harness.predictions.validate.BinarizeRule`).
    geometry : {"voxel", "strict"}
        How a prediction's spacing, origin and direction are judged (see
        :class:`harness.predictions.validate.GateOptions`).
    log_bytes : int
        Bytes of container output kept per case (the tail).
    work_dir : str or None
        Where per-run staging folders are made; default ``<out>/.work``.
    progress : bool
        Show a progress bar.
    model : str or None
        A model tarball or folder, mounted read-only at ``/opt/ml/model``
        (:mod:`harness.containers.model`).
    determinism : bool
        After the run, run its first ``ok`` case once more and compare the two masks; the
        outcome is ``run.json``'s ``determinism`` (flagged, never failed).
    reuse : {"batch", "case"}
        How long an invoke server lives (:data:`Reuse`); exec images run as before.
    """

    contract: str = "grand-challenge"
    limits: Limits = field(default_factory=Limits)
    retry_failed: bool = False
    canary: bool = False
    allow_root: bool = False
    expose_structure: bool = False
    input_format: str = "mha"
    input_slug: str = "light-sheet-3d-microscopy"
    output_slug: str = "isolated-biological-structure"
    threshold: float | None = None
    geometry: str = "voxel"
    log_bytes: int = 1 << 20
    work_dir: str | None = None
    progress: bool = True
    model: str | None = None
    determinism: bool = False
    reuse: Reuse = "batch"

    def __post_init__(self) -> None:
        problems = []
        if self.contract not in CONTRACTS:
            problems.append(f"contract must be one of {CONTRACTS}, got {self.contract!r}")
        if not isinstance(self.limits, Limits):
            problems.append(f"limits must be a Limits, got {type(self.limits).__name__}")
        if self.log_bytes < 1:
            problems.append(f"log_bytes must be >= 1, got {self.log_bytes}")
        if self.threshold is not None and not math.isfinite(self.threshold):
            problems.append(f"threshold must be a finite number or None, got {self.threshold}")
        if self.geometry not in ("voxel", "strict"):
            problems.append(f"geometry must be 'voxel' or 'strict', got {self.geometry!r}")
        if self.reuse not in REUSE_MODES:
            problems.append(f"reuse must be one of {REUSE_MODES}, got {self.reuse!r}")
        if self.input_format not in ("mha", "tif"):
            problems.append(f"input_format must be 'mha' or 'tif', got {self.input_format!r}")
        if problems:
            raise ConfigError("RunConfig: " + "; ".join(problems))

    @property
    def gate(self) -> GateOptions:
        """The prediction gate's options: the same model ``evaluate`` and ``check`` use."""
        return GateOptions(
            binarize=BinarizeRule(threshold=self.threshold),
            geometry=self.geometry,  # type: ignore[arg-type]
        )

    def make_contract(self) -> Contract:
        """The contract object these settings describe."""
        return make_contract(
            self.contract,
            expose_structure=self.expose_structure,
            input_format=self.input_format,
            input_slug=self.input_slug,
            output_slug=self.output_slug,
        )

    def as_record(self) -> dict[str, Any]:
        """The settings as ``run.json`` records them: one flat mapping."""
        lim = self.limits
        settings = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "limits"}
        # run.json keeps the keys it had before the limits became a model of their own.
        return {
            **settings,
            "timeout_s": lim.timeout_s,
            "memory": lim.memory,
            "cpus": lim.cpus,
            "gpus": lim.gpus,
            "jobs": lim.jobs,
            "pids_limit": lim.pids,
            "retries": lim.retries,
            "tmp_size": lim.tmp_size,
            "max_output_bytes": lim.max_output_bytes,
            "max_output_files": lim.max_output_files,
            "startup_timeout_s": lim.startup_timeout_s,
        }
