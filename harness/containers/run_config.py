"""How a submission is run: the settings of one runner call, validated when made.

:class:`RunConfig` holds the contract, the :class:`~harness.containers.limits.Limits`, the
prediction gate's rule and the run's switches (canary, retries, model, determinism); ``run.json``
records it (:meth:`RunConfig.as_record`). The round and ``check`` make theirs from the round file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from common.errors import ConfigError
from harness.containers.contracts import CONTRACTS, Contract, make_contract
from harness.containers.limits import Limits
from harness.predictions.validate import OFFICIAL_GATE, GateOptions

__all__ = ["REUSE_MODES", "Reuse", "RunConfig"]

Reuse = Literal["batch", "case"]
"""How long an invoke server lives: ``batch`` serves every case of a job slot from one server
(the fast default), ``case`` starts a fresh server for each case, as grand-challenge runs one job
per container today (the model loads for every case)."""
REUSE_MODES: tuple[str, ...] = ("batch", "case")


@dataclass(frozen=True)
class RunConfig:
    """How to run a submission. Validated on creation (:class:`~common.errors.ConfigError`).

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
    gate : GateOptions
        The prediction gate's binarization rule and geometry mode
        (:class:`harness.predictions.validate.GateOptions`, the model ``evaluate``, ``check``
        and a round's ``binarize:``/``geometry:`` use); the official one by default.
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
    relay_image : str or None
        The id of the image the invoke relay runs on
        (:data:`~harness.containers.invoke.HELPER_IMAGE`, pinned once by the command that made
        these settings); None: the runner pins it when it starts.
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
    gate: GateOptions = OFFICIAL_GATE
    log_bytes: int = 1 << 20
    work_dir: str | None = None
    progress: bool = True
    model: str | None = None
    determinism: bool = False
    reuse: Reuse = "batch"
    relay_image: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.contract not in CONTRACTS:
            problems.append(f"contract must be one of {CONTRACTS}, got {self.contract!r}")
        if not isinstance(self.limits, Limits):
            problems.append(f"limits must be a Limits, got {type(self.limits).__name__}")
        if self.log_bytes < 1:
            problems.append(f"log_bytes must be >= 1, got {self.log_bytes}")
        if not isinstance(self.gate, GateOptions):
            problems.append(f"gate must be a GateOptions, got {type(self.gate).__name__}")
        if self.reuse not in REUSE_MODES:
            problems.append(f"reuse must be one of {REUSE_MODES}, got {self.reuse!r}")
        if self.input_format not in ("mha", "tif"):
            problems.append(f"input_format must be 'mha' or 'tif', got {self.input_format!r}")
        if problems:
            raise ConfigError("RunConfig: " + "; ".join(problems))

    def for_part(self) -> RunConfig:
        """These settings for a run of a few cases on behalf of a larger run.

        A cluster task or a determinism rerun: one job slot, no canary, no progress bar, no
        determinism check or retry of its own, staging under its own run folder.
        """
        return replace(
            self,
            limits=type(self.limits).model_validate({**self.limits.model_dump(), "jobs": 1}),
            canary=False,
            progress=False,
            work_dir=None,
            determinism=False,
            retry_failed=False,
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
        nested = ("limits", "gate")
        settings = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in nested}
        # run.json keeps the keys it had before the limits and the gate became models of their own.
        return {
            **settings,
            "threshold": self.gate.binarize.threshold,
            "geometry": self.gate.geometry,
            "timeout_s": lim.timeout_s,
            "memory": lim.memory,
            "cpus": lim.cpus,
            "gpus": lim.gpus,
            "jobs": lim.jobs,
            "pids_limit": lim.pids,
            "nofile": lim.nofile,
            "retries": lim.retries,
            "tmp_size": lim.tmp_size,
            "max_output_bytes": lim.max_output_bytes,
            "max_output_files": lim.max_output_files,
            "startup_timeout_s": lim.startup_timeout_s,
        }
