"""The participants' dress rehearsal: run an image exactly as a round would, and explain the result.

``selma3d check IMAGE --split SAMPLE`` uses the same runner, limits and output validation as
``selma3d round`` (the limits come from a round configuration when one is given, otherwise from the
same defaults a round uses). It reports each contract violation with a fix in plain words, the
metrics when the sample has labels, time and peak memory per case, and an estimate of how long the
hidden split will take. It writes a JSON report and a JUnit XML file for CI.

An invoke image (``org.grand-challenge.api-method=invoke``) is checked as grand-challenge runs
it, and the report gives its server's start-up time apart from the per-case times, and the time
grand-challenge bills per case, start-up plus case, since it starts a server for every case
(``reuse="case"`` runs the check that way too). A check is a rehearsal: run again after the
image, the model or the round's settings changed (anything its run folder would refuse to
resume, the reuse mode included), it starts over, and the earlier run folder, report included,
is kept beside the new one (``<folder>.<earlier image id>``).

Its length (about 680 lines) is one command's whole rehearsal, read top to bottom: the advice
in the participant's words (about 120 lines: every status and every kind of invalid output
with what to change), the report's types (about 100), the check's named steps (about 270:
the image and run settings, setting an earlier check aside, the run, each case's outcome, the
scores and the hidden split's time) and the JSON and JUnit writers (about 75).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import statistics
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from common.errors import Selma3dError
from common.files import resolved, write_atomic
from common.outputs import LOCK_NAME, MARKER_NAME, claim_folder, real
from common.profiles import DEFAULT_PROFILE
from common.status import STATUS, STATUSES
from common.terminal import show_characters
from harness.containers.engine import engine_client
from harness.containers.images import ImageInfo, ImagePins, resolve_image
from harness.containers.invoke import relay_image_id
from harness.containers.model import prepare_model, refuse_model_in_split
from harness.containers.records import RECORDS_NAME, log_name, read_case_records, read_run
from harness.containers.run_config import RunConfig
from harness.containers.run_folder import RunIdentity, is_run_folder, run_identity
from harness.containers.runner import run_submission
from harness.predictions.validate import GateOptions
from harness.rounds.config import RunSettings, run_config_for
from harness.scoring.evaluate import evaluate_predictions
from harness.split.manifest import Split
from harness.split.volume import read_header
from metrics import METRIC_COLUMNS, MetricOptions

__all__ = [
    "OUTPUT_HINTS",
    "BilledTime",
    "CaseOutcome",
    "CheckReport",
    "TimeEstimate",
    "advice_for",
    "estimate_time",
    "run_check",
    "write_json_report",
    "write_junit",
]

OUTPUT_HINTS: dict[str, str] = {
    "grand-challenge": "/output/images/isolated-biological-structure/ (one .mha or .tif file)",
    "folder": "/output/, one file named like its input (<name>.nii.gz)",
}
_LOG_TAIL_LINES = 20

# What to do about each status of common.status, in the participant's words. ``{...}``
# fields are filled from the run's limits and the case record.
_ADVICE: dict[str, str] = {
    "ok": "",
    "timeout": (
        "The container was still running after {timeout_s:g} s and was stopped. Make inference "
        "faster (fewer test-time augmentations, less sliding-window overlap, smaller model) or "
        "process the volume in one pass; hidden cases can be larger than the sample."
    ),
    "oom": (
        "The container needed more than the {memory} memory limit and was killed. Predict in "
        "tiles (sliding window), keep arrays in float32 or uint8, and delete intermediate arrays."
    ),
    "failed": (
        "The container exited with code {exit_code}. Read the end of its log below; run the "
        "image on one sample case with `docker run --network none` to reproduce it."
    ),
    "missing_output": (
        "The container finished but wrote no prediction. Write exactly one mask to {output_hint}."
    ),
    "invalid_output": "The prediction was rejected: {reason}. {specific}",
    "infrastructure_error": (
        "The Docker engine failed while running this case; this is not counted against you. "
        "Run the check again."
    ),
}

# Extra advice for invalid outputs, chosen by words in the runner's reason.
_INVALID_HINTS: tuple[tuple[str, str], ...] = (
    (
        "elementdatafile",
        "Write the voxels inside the .mha file (ElementDataFile = LOCAL), as "
        "SimpleITK.WriteImage to a .mha file does; a MetaImage that names another file is "
        "never read.",
    ),
    (
        "shape",
        "Write the mask on the input's grid: same (z, y, x) shape as the image you read; "
        "a transposed array (x, y, z) is the usual cause.",
    ),
    (
        "grid",
        "Copy spacing, origin and direction from the input image to the mask "
        "(SimpleITK: mask.CopyInformation(image)).",
    ),
    ("nan", "Replace NaN or infinite values before writing (np.nan_to_num) and threshold."),
    ("link", "Write a regular file; links are refused."),
    ("several", "Write exactly one image to the output folder."),
    ("size", "Write a compact mask (uint8, compressed); the output is capped in size."),
    (
        "values",
        "Write a binary mask (0/1), a label mask (integers >= 0) or probabilities in [0, 1].",
    ),
    ("unreadable", "Write a valid .mha or .tif file (SimpleITK.WriteImage or tifffile.imwrite)."),
)


@dataclass(frozen=True)
class CaseOutcome:
    """The result of one case of the check."""

    case_id: str
    status: str
    reason: str
    exit_code: int | None
    wall_time_s: float | None
    peak_memory_bytes: int | None
    voxels: int
    metrics: dict[str, float] = field(default_factory=dict)
    advice: str = ""
    log_tail: str = ""
    startup_s: float | None = None


@dataclass(frozen=True)
class TimeEstimate:
    """How long the hidden split will take, from the sample's time per voxel."""

    seconds_per_megavoxel: float
    hidden_cases: int
    hidden_megavoxels: float
    jobs: int
    estimated_s: float

    def describe(self) -> str:
        """A sentence for the terminal."""
        return (
            f"about {_human_time(self.estimated_s)} for {self.hidden_cases} hidden cases "
            f"({self.hidden_megavoxels:.0f} megavoxels) with {self.jobs} job(s), at "
            f"{self.seconds_per_megavoxel:.2f} s per megavoxel measured on the sample"
        )


@dataclass(frozen=True)
class BilledTime:
    """An invoke image's time per case as grand-challenge bills it: start-up plus the case.

    grand-challenge runs one job per container, so every case pays its server's start-up (the
    model's loading) again. Medians over the ``ok`` cases of the check.

    Attributes
    ----------
    startup_s, case_s : float
        Median start-up of the servers that served them, median ``POST /invoke`` time.
    per_case_s : float
        Median of start-up plus case, per case.
    reuse : {"batch", "case"}
        How the check ran: ``case`` measured a start-up for every case, ``batch`` reused one
        server (its start-up is counted for each case it served).
    """

    startup_s: float
    case_s: float
    per_case_s: float
    reuse: str

    def describe(self) -> str:
        """A sentence for the terminal."""
        how = (
            "each case had its own server here too"
            if self.reuse == "case"
            else "this check reused a server across cases; --reuse case runs it that way"
        )
        return (
            f"grand-challenge time per case (a fresh server per case): start-up "
            f"{self.startup_s:.1f} s + case {self.case_s:.1f} s = {self.per_case_s:.1f} s "
            f"(medians; {how})"
        )


@dataclass(frozen=True)
class CheckReport:
    """Everything ``selma3d check`` found."""

    image: str
    image_digest: str
    split_hash: str
    contract: str
    limits: dict[str, Any]
    cases: list[CaseOutcome]
    estimate: TimeEstimate | None
    profile: str = DEFAULT_PROFILE
    api_method: str = "exec"
    model: dict[str, Any] | None = None
    servers: list[dict[str, Any]] = field(default_factory=list)
    previous: str | None = None
    determinism: dict[str, Any] | None = None
    reuse: str = "batch"
    billed: BilledTime | None = None

    @property
    def passed(self) -> bool:
        """True when every case produced a valid prediction within the limits."""
        return bool(self.cases) and all(c.status == "ok" for c in self.cases)


def advice_for(
    status: str, *, reason: str, limits: dict[str, Any], exit_code: int | None, output_hint: str
) -> str:
    """Explain a case status to a participant, with what to change.

    Parameters
    ----------
    status : str
        The runner's status, one of ``common.status.STATUSES``.
    reason : str, keyword-only
        The runner's short reason.
    limits : dict, keyword-only
        ``timeout_s`` and ``memory`` of the run.
    exit_code : int or None, keyword-only
        The container's exit code.
    output_hint : str, keyword-only
        Where the contract expects the prediction.

    Examples
    --------
    >>> advice_for("oom", reason="", limits={"memory": "2g", "timeout_s": 60}, exit_code=137,
    ...            output_hint="/output")[:60]
    'The container needed more than the 2g memory limit and was k'
    """
    if status not in STATUS:
        raise ValueError(f"unknown status {status!r}; expected one of {', '.join(STATUSES)}")
    if status == "failed" and exit_code is None:
        # An invoke server that never became healthy, or answered POST /invoke with another
        # code than 201: no exit code to speak of, the reason says what happened. Its log tail
        # is printed below the advice, so the advice keeps the reason's words before it.
        said = reason.split("; log tail:", 1)[0].strip()
        first = said.splitlines()[0] if said else "see its log"
        return (
            f"The invoke server failed: {first}. "
            "Read the end of its log below; it must answer GET /health with 200 once its model "
            "is loaded, and POST /invoke with 201 once the output is written."
        )
    specific = ""
    if status == "invalid_output":
        lowered = reason.lower()
        specific = " ".join(hint for word, hint in _INVALID_HINTS if word in lowered)
    return (
        _ADVICE[status]
        .format(
            timeout_s=float(limits.get("timeout_s", math.nan)),
            memory=limits.get("memory", "?"),
            exit_code=exit_code,
            output_hint=output_hint,
            reason=reason,
            specific=specific,
        )
        .strip()
    )


def estimate_time(
    wall_times_s: list[float],
    voxels: list[int],
    *,
    hidden_cases: int,
    hidden_voxels_per_case: int,
    jobs: int,
) -> TimeEstimate:
    """Estimate the hidden split's run time from the sample's time per voxel.

    The estimate is ``median(t_i / v_i) * hidden_cases * hidden_voxels_per_case / jobs``: the
    median rate resists one slow cold start, and a per-voxel rate (rather than per case) carries
    over to hidden cases of another size.

    Examples
    --------
    >>> e = estimate_time([2.0, 2.0], [10**6, 10**6], hidden_cases=10,
    ...                   hidden_voxels_per_case=2 * 10**6, jobs=2)
    >>> e.estimated_s
    20.0
    """
    if len(wall_times_s) != len(voxels) or not wall_times_s:
        raise ValueError(
            f"need one voxel count per wall time, at least one; got {len(wall_times_s)} times "
            f"and {len(voxels)} counts"
        )
    if jobs < 1 or hidden_cases < 0 or hidden_voxels_per_case < 0:
        raise ValueError(
            f"jobs must be >= 1 and hidden sizes >= 0; got jobs={jobs}, "
            f"hidden_cases={hidden_cases}, hidden_voxels_per_case={hidden_voxels_per_case}"
        )
    rate = statistics.median(t / v for t, v in zip(wall_times_s, voxels, strict=True))
    total_voxels = hidden_cases * hidden_voxels_per_case
    return TimeEstimate(
        seconds_per_megavoxel=rate * 1e6,
        hidden_cases=hidden_cases,
        hidden_megavoxels=total_voxels / 1e6,
        jobs=jobs,
        estimated_s=rate * total_voxels / jobs,
    )


def run_check(
    image: str | Path,
    split: Split,
    out_dir: str | Path,
    *,
    settings: RunSettings | None = None,
    hidden_cases: int | None = None,
    hidden_voxels_per_case: int | None = None,
    profile: str = DEFAULT_PROFILE,
    model: str | Path | None = None,
    progress: bool = True,
) -> CheckReport:
    """Run an image on a sample split exactly as a round would, and explain the outcome.

    Parameters
    ----------
    image : str or Path
        Image reference, ``docker save`` tarball, or folder with a Dockerfile.
    split : Split
        The public sample; metrics are added when it has labels.
    out_dir : str or Path
        The runner's folder; rerunning the same image there resumes.
    settings : RunSettings, keyword-only
        How the round runs and scores: its contract, limits, gate, metric options and
        determinism check (a :class:`~harness.rounds.config.RoundConfig` is one); by default
        a round's defaults. The runner's configuration is built from it as the round builds
        its own (:func:`~harness.rounds.config.run_config_for`), except that every case runs
        (no canary), and the scores use its metric options and gate, as the round's do.
    hidden_cases, hidden_voxels_per_case : int, keyword-only, optional
        Size of the hidden split for the time estimate; default: as many cases as the sample,
        of the sample's mean size.
    profile : str, keyword-only
        The edition's rules the metrics follow (``common.profiles``).
    model : str or Path, keyword-only, optional
        Model weights (a tarball or a folder) mounted read-only at ``/opt/ml/model``.
    progress : bool, keyword-only
        Show the runner's progress bar.

    Returns
    -------
    CheckReport
        ``report.passed`` is True only if every case produced a valid prediction within limits.
    """
    if hidden_cases is not None and hidden_cases < 0:
        raise Selma3dError(f"--hidden-cases: must be 0 or more, got {hidden_cases}")
    out_dir = real(out_dir)
    # Held for the whole check: its earlier run set aside, the run, the scores.
    with claim_folder(out_dir, kind="run", legacy=is_run_folder):
        return _check_claimed(
            image,
            split,
            out_dir,
            settings=settings,
            hidden_cases=hidden_cases,
            hidden_voxels_per_case=hidden_voxels_per_case,
            profile=profile,
            model=model,
            progress=progress,
        )


def _check_claimed(
    image: str | Path,
    split: Split,
    out_dir: Path,
    *,
    settings: RunSettings | None,
    hidden_cases: int | None,
    hidden_voxels_per_case: int | None,
    profile: str,
    model: str | Path | None,
    progress: bool,
) -> CheckReport:
    """:func:`run_check` once its folder is claimed."""
    if model is not None:
        refuse_model_in_split(model, split)
    settings = settings if settings is not None else RunSettings()
    with engine_client() as client:
        # Every image the check uses is pinned to its id once, here: the submission (a build's
        # bases, a loaded tarball's tag) and the invoke relay's.
        pins = ImagePins(client, during="the check")
        info = resolve_image(
            image, client=client, pins=pins, build_timeout_s=settings.build_timeout_s
        )
        config = _run_config(settings, client, pins, info, model=model, progress=progress)
        model_info = prepare_model(model) if model is not None else None
        record = None if model_info is None else model_info.as_record()
        previous = _set_aside_earlier(out_dir, run_identity(info, split, config, record))
        summary = run_submission(info, split, out_dir, config=config, client=client)
        pins.verify(when="after the containers ran")
    run_json = read_run(resolved(out_dir))
    scores = _scores(split, out_dir, profile, config.gate, settings.metrics)
    outcomes = _outcomes(split, out_dir, scores, config)
    api_method = str(run_json.get("api_method") or "exec")
    timed = [o for o in outcomes if o.status == "ok" and o.wall_time_s]
    return CheckReport(
        image=info.ref,
        image_digest=info.digest,
        split_hash=split.content_hash,
        contract=config.contract,
        limits=config.limits.model_dump(),
        cases=outcomes,
        estimate=_estimate(
            outcomes,
            timed,
            config,
            hidden_cases=hidden_cases,
            hidden_voxels_per_case=hidden_voxels_per_case,
        ),
        profile=profile,
        api_method=api_method,
        model=run_json.get("model"),
        servers=summary.servers,
        previous=None if previous is None else str(previous),
        determinism=run_json.get("determinism"),
        reuse=config.reuse,
        billed=_billed_time(timed, config.reuse) if api_method == "invoke" else None,
    )


def _run_config(
    settings: RunSettings,
    client: Any,
    pins: ImagePins,
    info: ImageInfo,
    *,
    model: str | Path | None,
    progress: bool,
) -> RunConfig:
    """The runner's settings of a check: the round's, every case run, the relay pinned."""
    relay = relay_image_id(client, pins) if info.invoke else None
    # A rehearsal runs every case, so the participant sees every problem at once.
    return replace(
        run_config_for(settings, canary=False, model=model),
        progress=progress,
        relay_image=relay,
    )


def _outcomes(
    split: Split, out_dir: Path, scores: dict[str, dict[str, float]], config: RunConfig
) -> list[CaseOutcome]:
    """Each case's record as the participant reads it: status, advice, metrics, log tail."""
    records = read_case_records(out_dir / RECORDS_NAME)
    limits = config.limits.model_dump()
    outcomes = []
    for case in split.cases:
        rec = records.get(case.case_id)
        if rec is None:
            raise Selma3dError(f"{out_dir}: the runner left no record for case {case.case_id!r}.")
        status = str(rec["status"])
        outcomes.append(
            CaseOutcome(
                case_id=case.case_id,
                status=status,
                reason=str(rec.get("reason") or ""),
                exit_code=rec.get("exit_code"),
                wall_time_s=rec.get("wall_time_s"),
                peak_memory_bytes=rec.get("peak_memory_bytes"),
                voxels=read_header(case.image).voxels,
                metrics=scores.get(case.case_id, {}),
                advice=advice_for(
                    status,
                    reason=str(rec.get("reason") or ""),
                    limits=limits,
                    exit_code=rec.get("exit_code"),
                    output_hint=OUTPUT_HINTS[config.contract],
                ),
                log_tail=_log_tail(out_dir / log_name(case.case_id)) if status != "ok" else "",
                startup_s=rec.get("startup_s"),
            )
        )
    return outcomes


def _estimate(
    outcomes: list[CaseOutcome],
    timed: list[CaseOutcome],
    config: RunConfig,
    *,
    hidden_cases: int | None,
    hidden_voxels_per_case: int | None,
) -> TimeEstimate | None:
    """The hidden split's time from the ``ok`` cases' (none without one)."""
    if not timed:
        return None
    # With a server per case, each case costs its start-up too.
    per_case = [
        float(o.wall_time_s) + (float(o.startup_s or 0.0) if config.reuse == "case" else 0.0)  # type: ignore[arg-type]
        for o in timed
    ]
    return estimate_time(
        per_case,
        [o.voxels for o in timed],
        hidden_cases=hidden_cases if hidden_cases is not None else len(outcomes),
        hidden_voxels_per_case=(
            hidden_voxels_per_case
            if hidden_voxels_per_case is not None
            else int(statistics.mean(o.voxels for o in outcomes))
        ),
        jobs=config.limits.jobs,
    )


def _billed_time(timed: list[CaseOutcome], reuse: str) -> BilledTime | None:
    """Start-up plus case per ``ok`` case, as grand-challenge bills an invoke image's cases."""
    pairs = [
        (float(o.startup_s), float(o.wall_time_s))  # type: ignore[arg-type]
        for o in timed
        if o.startup_s is not None
    ]
    if not pairs:
        return None
    return BilledTime(
        startup_s=round(statistics.median(s for s, _ in pairs), 3),
        case_s=round(statistics.median(c for _, c in pairs), 3),
        per_case_s=round(statistics.median(s + c for s, c in pairs), 3),
        reuse=reuse,
    )


def _set_aside_earlier(out_dir: Path, identity: RunIdentity) -> Path | None:
    """Move an earlier check of another run out of ``out_dir``; return where to.

    A run the run folder would resume (the same image, model, split, contract and gate:
    :meth:`RunIdentity.differences`) resumes the earlier check. Anything else is a new
    rehearsal: the earlier folder becomes ``<out_dir>.<its image id, 12 hex digits>`` (``.2``,
    ``.3`` ... when taken), so its report stays readable beside the new one.
    """
    earlier = read_run(out_dir) if out_dir.is_dir() else {}
    problems, _ = identity.differences(earlier)
    if not problems:
        return None
    before = str((earlier.get("image") or {}).get("digest") or "")
    base = out_dir.with_name(f"{out_dir.name}.{before.removeprefix('sha256:')[:12] or 'earlier'}")
    target, n = base, 1
    while target.exists():
        n += 1
        target = base.with_name(f"{base.name}.{n}")
    # The folder stays claimed by this check: what the earlier one wrote moves out of it.
    target.mkdir()
    for name in sorted(os.listdir(out_dir)):
        if name == MARKER_NAME:
            shutil.copyfile(out_dir / name, target / name)
        elif name != LOCK_NAME:
            os.rename(out_dir / name, target / name)
    return target


def _scores(
    split: Split, out_dir: Path, profile: str, gate: GateOptions, options: MetricOptions
) -> dict[str, dict[str, float]]:
    """Metrics per case when the sample has labels, only the columns that apply.

    Scored as the round scores: with its gate and its metric options.
    """
    if not split.labeled:
        return {}
    table = evaluate_predictions(
        split,
        {"submission": out_dir},
        jobs=1,
        gate=gate,
        options=options,
        progress=False,
        profile=profile,
    )
    scores = {}
    for _, row in table.iterrows():
        # Columns that do not apply to the case's track are missing (NaN or pandas' NA).
        values = {c: float(row[c]) for c in METRIC_COLUMNS if not pd.isna(row[c])}
        scores[str(row["case_id"])] = values
    return scores


def _log_tail(path: Path) -> str:
    if not path.is_file():
        return ""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(lines[-_LOG_TAIL_LINES:])


def write_json_report(report: CheckReport, path: str | Path) -> Path:
    """Write the report as JSON (atomically)."""
    path = Path(path)
    payload = {
        "passed": report.passed,
        "image": report.image,
        "image_digest": report.image_digest,
        "split_hash": report.split_hash,
        "profile": report.profile,
        "contract": report.contract,
        "limits": report.limits,
        "cases": [asdict(c) for c in report.cases],
        "estimate": asdict(report.estimate) if report.estimate else None,
        "api_method": report.api_method,
        "model": report.model,
        "servers": report.servers,
        "previous": report.previous,
        "determinism": report.determinism,
        "reuse": report.reuse,
        "billed": asdict(report.billed) if report.billed else None,
    }
    write_atomic(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return path


def write_junit(report: CheckReport, path: str | Path) -> Path:
    """Write the report as JUnit XML: one test case per split case, failures with their advice."""
    path = Path(path)
    failures = sum(c.status != "ok" for c in report.cases)
    total_time = sum(c.wall_time_s or 0.0 for c in report.cases)
    suite = ET.Element(
        "testsuite",
        name="selma3d-check",
        tests=str(len(report.cases)),
        failures=str(failures),
        errors="0",
        time=f"{total_time:.3f}",
    )
    props = ET.SubElement(suite, "properties")
    for key, value in (
        ("image", report.image),
        ("image_digest", report.image_digest),
        ("model_sha256", str((report.model or {}).get("sha256") or "none")),
        ("api_method", report.api_method),
        ("split_hash", report.split_hash),
        ("contract", report.contract),
    ):
        ET.SubElement(props, "property", name=key, value=value)
    for case in report.cases:
        element = ET.SubElement(
            suite,
            "testcase",
            classname="selma3d.check",
            name=case.case_id,
            time=f"{case.wall_time_s or 0.0:.3f}",
        )
        if case.status != "ok":
            failure = ET.SubElement(
                element, "failure", type=case.status, message=_xml_text(case.reason)
            )
            failure.text = _xml_text(
                "\n".join(part for part in (case.advice, case.log_tail) if part)
            )
    ET.indent(suite)
    write_atomic(path, ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n")
    return path


# What XML 1.0 cannot hold: C0 controls but tab, newline and carriage return (a coloured log's
# escape sequences among them), surrogates, U+FFFE and U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str) -> str:
    r"""``text`` as XML can hold it: each character XML 1.0 refuses shown as ``\xNN``."""
    return show_characters(text, _NOT_XML)


def _human_time(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
