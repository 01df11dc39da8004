"""Speed and memory of the per-case metric suite, against references measured in the same run.

Usage::

    .venv/bin/python benchmarks/metrics_speed.py [--size 256] [--skip-512] [--seed 0] [--repeats 7]

What it measures, on generated cases (vessel-like: tubes along random polylines; spot-like:
ellipsoid blobs; predictions are perturbed references), one core for every process:

1. spot-like suite (Dice, blob F1 + counts, PQ, Betti-0 error) vs panoptica 2.1.7's evaluator
   in the SELMA3D 2026 set-up (connected components, NaiveThresholdMatching(IoU, 0.3), instance
   Dice and IoU, global Dice); F1 and PQ must equal panoptica's ``rq`` and ``pq_dsc``.
   Target: ours at least 4x faster.
2. vessel-like suite (Dice, clDice, Betti-0/1 errors) vs its floor, the two skeletonizations
   (``skimage.morphology.skeletonize`` of reference and prediction), run in turn ``--repeats``
   times; the median of the per-round ratios and the ratio of the best times are checked
   (thinning alone varies by up to 25% between calls here, which the best times feel most).
   The suite's own two ``skeletonize`` calls are timed inside each run as well, and the
   median of suite / those calls is checked too: the same ratio, free of run-to-run drift.
   Target: at most 1.1x.
   panoptica's time for the same global Dice + clDice is printed for context.
3. reference reuse: evaluating 5 prediction sets of one split (a vessel and a spot case, as
   ``.nii.gz`` files) in one ``evaluate_predictions`` call, vs 5 separate calls, each loading
   the split as a separate ``selma3d evaluate`` would; ``--reuse-rounds`` rounds in turn, the
   median of the per-round ratios is checked. Target: at most 0.6x. The in-memory figure (one
   prepared reference + 5 scores vs 5 x (prepare + score)) is printed too.
4. peak memory (max RSS of a fresh process holding both masks) at 256³ and 512³.
   Target: under 2 GB at 512³.

Every process here (ours, the memory probes and panoptica's) runs with the allocator setting
that ``selma3d`` itself uses, ``harness.scoring.allocator.keep_freed_memory`` (freed memory kept for
reuse instead of being returned to the system and faulted in again); ``--system-malloc``
measures with glibc's defaults instead.

panoptica pins its own numpy and cc3d, so it lives in ``benchmarks/.venv-panoptica`` (created
with pip on first use, ignored by git) and runs in a subprocess; masks go through ``.npy`` files
in a temporary folder. This file is also that subprocess's entry point (``--panoptica-worker``)
and the memory probe's (``--memory-worker``), so it imports only the standard library and numpy
at module level.

Its length (about 650 lines) is four measurements and the generated cases they share. It stays
one file because it is also its subprocesses' program (panoptica's worker, run in panoptica's venv
where only the standard library and numpy are importable, and the memory probe): split, every
module the workers load would have to keep that import rule.
"""

from __future__ import annotations

import os

# One core everywhere: no library may start a thread pool behind the timings' back.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-panoptica"
PANOPTICA = "panoptica==2.1.7"
N_SETS = 5


def pin_one_core() -> None:
    # The lowest allowed core, so the suite and panoptica get the same one.
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


# ----------------------------------------------------------------------------- generation


def _tube(mask: np.ndarray, a: np.ndarray, b: np.ndarray, radius: float) -> None:
    """Set every voxel within ``radius`` of the segment ``a``-``b``."""
    shape = np.asarray(mask.shape)
    lo = np.clip(np.floor(np.minimum(a, b) - radius - 1).astype(int), 0, shape)
    hi = np.clip(np.ceil(np.maximum(a, b) + radius + 2).astype(int), 0, shape)
    if np.any(hi <= lo):
        return
    z, y, x = np.ogrid[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    d = b - a
    length2 = float(d @ d) or 1.0
    t = np.clip(((z - a[0]) * d[0] + (y - a[1]) * d[1] + (x - a[2]) * d[2]) / length2, 0, 1)
    dist2 = (z - a[0] - t * d[0]) ** 2 + (y - a[1] - t * d[1]) ** 2 + (x - a[2] - t * d[2]) ** 2
    mask[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] |= dist2 <= radius**2


def _ellipsoid(mask: np.ndarray, c: np.ndarray, radii: np.ndarray) -> None:
    shape = np.asarray(mask.shape)
    lo = np.clip(np.floor(c - radii).astype(int), 0, shape)
    hi = np.clip(np.ceil(c + radii + 1).astype(int), 0, shape)
    if np.any(hi <= lo):
        return
    z, y, x = np.ogrid[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    inside = ((z - c[0]) / radii[0]) ** 2 + ((y - c[1]) / radii[1]) ** 2
    inside = inside + ((x - c[2]) / radii[2]) ** 2 <= 1.0
    mask[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] |= inside


def vessel_geometry(size: int, rng: np.random.Generator) -> list[tuple[np.ndarray, float]]:
    """Random smooth polylines (points, radius).

    About 6% of the volume once drawn, like the real vessel patches in
    ``../shared/data/lsm-patches`` (5.9% and 9.9% foreground).
    """
    lines = []
    for _ in range(round(80 * (size / 256) ** 2)):
        point = rng.uniform(0, size, 3)
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        points = [point]
        for _ in range(8):
            direction = direction + rng.normal(scale=0.5, size=3)
            direction /= np.linalg.norm(direction)
            point = np.clip(point + direction * rng.uniform(0.1, 0.2) * size, 0, size - 1)
            points.append(point)
        lines.append((np.asarray(points), float(rng.uniform(2.0, 5.0))))
    return lines


def draw_vessels(size: int, lines: list[tuple[np.ndarray, float]]) -> np.ndarray:
    mask = np.zeros((size, size, size), bool)
    for points, radius in lines:
        for a, b in itertools.pairwise(points):
            _tube(mask, a, b, radius)
    return mask.view(np.uint8)


def perturb_vessels(
    size: int, lines: list[tuple[np.ndarray, float]], rng: np.random.Generator
) -> np.ndarray:
    """Jittered centerlines and radii, some segments missing (gaps), a few spurious blobs."""
    mask = np.zeros((size, size, size), bool)
    for points, radius in lines:
        moved = points + rng.normal(scale=0.8, size=points.shape)
        r = max(1.0, radius + rng.uniform(-0.8, 0.8))
        skip = rng.integers(len(points) - 1) if rng.random() < 0.3 else -1
        for i, (a, b) in enumerate(itertools.pairwise(moved)):
            if i != skip:
                _tube(mask, a, b, r)
    for _ in range(int(10 * (size / 256) ** 3)):
        _ellipsoid(mask, rng.uniform(0, size, 3), rng.uniform(2, 4, 3))
    return mask.view(np.uint8)


def spot_geometry(size: int, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    n = int(1500 * (size / 256) ** 3)
    return [(rng.uniform(0, size, 3), rng.uniform(2.0, 6.0, 3)) for _ in range(n)]


def draw_spots(size: int, blobs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    mask = np.zeros((size, size, size), bool)
    for c, radii in blobs:
        _ellipsoid(mask, c, radii)
    return mask.view(np.uint8)


def perturb_spots(
    size: int, blobs: list[tuple[np.ndarray, np.ndarray]], rng: np.random.Generator
) -> np.ndarray:
    """Blobs shifted and rescaled, 10% missed, 10% false positives added."""
    mask = np.zeros((size, size, size), bool)
    for c, radii in blobs:
        if rng.random() < 0.1:
            continue
        _ellipsoid(mask, c + rng.normal(scale=1.0, size=3), radii * rng.uniform(0.8, 1.2, 3))
    for _ in range(len(blobs) // 10):
        _ellipsoid(mask, rng.uniform(0, size, 3), rng.uniform(2.0, 6.0, 3))
    return mask.view(np.uint8)


def make_case(track: str, size: int, seed: int, n_predictions: int):
    rng = np.random.default_rng(seed)
    if track == "vessel":
        lines = vessel_geometry(size, rng)
        return draw_vessels(size, lines), [
            perturb_vessels(size, lines, rng) for _ in range(n_predictions)
        ]
    blobs = spot_geometry(size, rng)
    return draw_spots(size, blobs), [perturb_spots(size, blobs, rng) for _ in range(n_predictions)]


# ----------------------------------------------------------------------------- panoptica


def ensure_panoptica() -> Path:
    python = VENV / "bin" / "python"
    if python.exists():
        return python
    print(f"creating {VENV} with {PANOPTICA} (first run only)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    # A venv folder that git never sees, whatever the repository's .gitignore says.
    (VENV / ".gitignore").write_text("*\n")
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", PANOPTICA], check=True)
    return python


# glibc's environment form of ``keep_freed_memory``, for panoptica's process, which cannot
# import the harness.
KEEP_FREED_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(2**31 - 1)}
SYSTEM_MALLOC = False


def run_panoptica(track: str, reference: np.ndarray, prediction: np.ndarray) -> dict:
    python = ensure_panoptica()
    with tempfile.TemporaryDirectory() as tmp:
        ref_path, pred_path = Path(tmp) / "reference.npy", Path(tmp) / "prediction.npy"
        np.save(ref_path, reference)
        np.save(pred_path, prediction)
        out = subprocess.run(
            [str(python), __file__, "--panoptica-worker", track, str(ref_path), str(pred_path)],
            check=True,
            capture_output=True,
            text=True,
            env=os.environ if SYSTEM_MALLOC else {**os.environ, **KEEP_FREED_ENV},
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def panoptica_worker(track: str, ref_path: str, pred_path: str) -> None:
    # Only panoptica's venv has panoptica: this function runs there, as the worker.
    from panoptica import (
        ConnectedComponentsInstanceApproximator,
        InputType,
        Metric,
        NaiveThresholdMatching,
        Panoptica_Evaluator,
        disable_citation_reminder,
    )

    pin_one_core()
    disable_citation_reminder()
    reference, prediction = np.load(ref_path), np.load(pred_path)
    evaluator = Panoptica_Evaluator(
        expected_input=InputType.SEMANTIC,
        instance_approximator=ConnectedComponentsInstanceApproximator(),
        instance_matcher=NaiveThresholdMatching(matching_metric=Metric.IOU, matching_threshold=0.3),
        instance_metrics=[Metric.DSC, Metric.IOU],
        global_metrics=[Metric.DSC, Metric.clDSC] if track == "vessel" else [Metric.DSC],
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        # Its clDice divides 0/0 for masks whose skeleton thinning empties; reported, not hidden.
        warnings.simplefilter("ignore", RuntimeWarning)
        result = evaluator.evaluate(prediction, reference, verbose=False)["ungrouped"]
    seconds = time.perf_counter() - start
    values = {
        k: (float(v) if isinstance(v, float | np.floating) else int(v))
        for k, v in result.to_dict().items()
        if isinstance(v, int | float | np.integer | np.floating)
    }
    print(json.dumps({"seconds": seconds, **values}))


# ----------------------------------------------------------------------------- our suite


def time_suite(track: str, reference: np.ndarray, prediction: np.ndarray, repeats: int):
    # Not at the top: panoptica's venv runs this file too and has none of selma3d's packages.
    from metrics import prepare_reference, score_prediction

    best, scores = np.inf, {}
    for _ in range(repeats):
        start = time.perf_counter()
        scores = score_prediction(prepare_reference(reference, track=track), prediction)
        best = min(best, time.perf_counter() - start)
    return best, scores


def time_vessel_against_floor(reference: np.ndarray, prediction: np.ndarray, repeats: int):
    """The vessel suite and its floor (two ``skeletonize`` calls), run in turn ``repeats`` times.

    Alternating the two keeps slow drifts of the machine's speed (which reach 25% within a
    minute on shared virtual machines) out of the ratio. The suite's own two ``skeletonize``
    calls are also timed inside each suite run, which gives the same ratio without comparing
    two runs at all. Returns the best time of each, the per-round ratios (against the separate
    floor, and against the skeletonizations inside the suite) and the suite's scores.
    """
    # Not at the top: panoptica's venv runs this file too and has none of selma3d's packages.
    from skimage.morphology import skeletonize

    from metrics import prepare_reference, score_prediction

    cldice_module = sys.modules["metrics.cldice"]
    inside: list[float] = []

    def timed_skeletonize(mask: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        out = skeletonize(mask)
        inside.append(time.perf_counter() - start)
        return out

    # Warm-up: first touches of memory cost more than the work itself on some machines.
    scores = score_prediction(prepare_reference(reference, track="vessel"), prediction)
    suite, floor, own = [], [], []
    cldice_module.skeletonize = timed_skeletonize
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            skeletonize(reference > 0)
            skeletonize(prediction > 0)
            floor.append(time.perf_counter() - start)
            inside.clear()
            start = time.perf_counter()
            scores = score_prediction(prepare_reference(reference, track="vessel"), prediction)
            suite.append(time.perf_counter() - start)
            if len(inside) != 2:
                raise RuntimeError(f"the vessel suite skeletonized {len(inside)} times, not 2")
            own.append(sum(inside))
    finally:
        cldice_module.skeletonize = skeletonize
    ratios = np.asarray(suite) / np.asarray(floor)
    own_ratios = np.asarray(suite) / np.asarray(own)
    return min(suite), min(floor), ratios, own_ratios, scores


def time_reuse(track: str, reference: np.ndarray, predictions: list[np.ndarray]):
    """In memory: one prepared reference and N scores vs N (prepare + score)."""
    # Not at the top: panoptica's venv runs this file too and has none of selma3d's packages.
    from metrics import prepare_reference, score_prediction

    start = time.perf_counter()
    independent = [
        score_prediction(prepare_reference(reference, track=track), p) for p in predictions
    ]
    t_independent = time.perf_counter() - start
    start = time.perf_counter()
    prepared = prepare_reference(reference, track=track)
    shared = [score_prediction(prepared, p) for p in predictions]
    t_shared = time.perf_counter() - start
    if shared != independent:
        raise RuntimeError(f"{track}: reusing the reference changed the scores")
    return t_shared, t_independent


def time_split_evaluation(
    cases: dict[str, tuple[np.ndarray, list[np.ndarray]]], rounds: int
) -> list[tuple[float, float]]:
    """End to end, as the issue states it: evaluating N prediction sets of one split at once
    (``evaluate_predictions(split, {team: folder, ...})``) vs N separate evaluations; files are
    ``.nii.gz`` as the runner writes them. ``rounds`` rounds, the two ways in turn (which goes
    first alternates); returns (together, separate) seconds per round."""
    # Not at the top: panoptica's venv runs this file too and has none of selma3d's packages.
    import pandas as pd

    from harness.scoring.evaluate import evaluate_predictions
    from harness.split.manifest import load_split, write_manifest
    from harness.split.volume import write_volume

    times = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "split"
        root.mkdir()
        rows, teams = [], {}
        for track, (reference, predictions) in cases.items():
            case_id = f"{track}_000"
            # The image gives the grid the reference is checked against (its header only).
            write_volume(root / f"{case_id}.nii.gz", np.zeros(reference.shape, np.uint8))
            write_volume(root / f"{case_id}_label.nii.gz", reference)
            rows.append(
                {
                    "case_id": case_id,
                    "track": track,
                    "structure": track,
                    "image": f"{case_id}.nii.gz",
                    "label": f"{case_id}_label.nii.gz",
                }
            )
            for i, prediction in enumerate(predictions):
                folder = Path(tmp) / f"team{i}"
                folder.mkdir(exist_ok=True)
                write_volume(folder / f"{case_id}.nii.gz", prediction)
                teams[f"team{i}"] = folder
        write_manifest(root, rows)

        def separately() -> tuple[float, pd.DataFrame]:
            start = time.perf_counter()
            # Each evaluation loads the split itself, as a separate `selma3d evaluate` does.
            frames = [
                evaluate_predictions(
                    load_split(root, check_volumes=False), {team: folder}, progress=False
                )
                for team, folder in teams.items()
            ]
            return time.perf_counter() - start, pd.concat(frames, ignore_index=True)

        def together() -> tuple[float, pd.DataFrame]:
            start = time.perf_counter()
            frame = evaluate_predictions(
                load_split(root, check_volumes=False), teams, progress=False
            )
            return time.perf_counter() - start, frame

        for i in range(rounds):
            if i % 2 == 0:
                t_separate, separate = separately()
                t_together, joint = together()
            else:
                t_together, joint = together()
                t_separate, separate = separately()
            pd.testing.assert_frame_equal(joint, separate, check_like=False)
            times.append((t_together, t_separate))
    return times


def memory_worker(track: str, ref_path: str, pred_path: str) -> None:
    # Not at the top: panoptica's venv runs this file too and has none of selma3d's packages.
    from metrics import prepare_reference, score_prediction

    reference, prediction = np.load(ref_path), np.load(pred_path)
    start = time.perf_counter()
    score_prediction(prepare_reference(reference, track=track), prediction)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"peak_bytes": peak, "seconds": seconds}))


def measure_memory(track: str, size: int, seed: int) -> dict:
    reference, predictions = make_case(track, size, seed, 1)
    with tempfile.TemporaryDirectory() as tmp:
        ref_path, pred_path = Path(tmp) / "reference.npy", Path(tmp) / "prediction.npy"
        np.save(ref_path, reference)
        np.save(pred_path, predictions[0])
        del reference, predictions
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--memory-worker",
                track,
                str(ref_path),
                str(pred_path),
                *(["--system-malloc"] if SYSTEM_MALLOC else []),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- main


def vessel_against_floor(console, rows: list, reference, prediction, repeats: int):
    """Print and add to ``rows`` the vessel suite against its floor; return its time, scores."""
    t_ours_v, t_floor, rounds, own_rounds, ours_v = time_vessel_against_floor(
        reference, prediction, repeats=repeats
    )
    ratio_v = t_ours_v / t_floor
    console.print(
        "vessel: suite / floor per round "
        + " ".join(f"{r:.3f}" for r in rounds)
        + f"; median {np.median(rounds):.3f}"
    )
    own_ratio = float(np.median(own_rounds))
    console.print(
        "vessel: suite / its own two skeletonizations (timed inside it) per round "
        + " ".join(f"{r:.3f}" for r in own_rounds)
        + f"; median {own_ratio:.3f}"
    )
    median_v = float(np.median(rounds))
    rows.append(
        (
            f"vessel suite vs 2 skeletonizations (in turn, median of {repeats} rounds)",
            "",
            f"{median_v:.3f}x",
            f"<= 1.1x: {'PASS' if median_v <= 1.1 else 'FAIL'}",
        )
    )
    rows.append(
        (
            f"vessel suite vs 2 skeletonizations (best of {repeats}, in turn)",
            f"{t_ours_v:.2f} s vs {t_floor:.2f} s",
            f"{ratio_v:.3f}x",
            f"<= 1.1x: {'PASS' if ratio_v <= 1.1 else 'FAIL'}",
        )
    )
    rows.append(
        (
            "vessel suite vs its own 2 skeletonizations (inside it, median)",
            "",
            f"{own_ratio:.3f}x",
            f"<= 1.1x: {'PASS' if own_ratio <= 1.1 else 'FAIL'}",
        )
    )
    return t_ours_v, ours_v


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-512", action="store_true", help="skip the 512³ memory probe")
    parser.add_argument(
        "--repeats", type=int, default=7, help="rounds of the vessel suite and its floor"
    )
    parser.add_argument(
        "--reuse-rounds", type=int, default=5, help="rounds of the split reuse comparison"
    )
    parser.add_argument(
        "--vessel-only", action="store_true", help="only the vessel suite against its floor"
    )
    parser.add_argument(
        "--system-malloc",
        action="store_true",
        help="glibc's default allocator settings instead of those selma3d uses",
    )
    parser.add_argument("--panoptica-worker", nargs=3, metavar=("TRACK", "REF", "PRED"))
    parser.add_argument("--memory-worker", nargs=3, metavar=("TRACK", "REF", "PRED"))
    args = parser.parse_args()
    global SYSTEM_MALLOC
    SYSTEM_MALLOC = args.system_malloc
    if not args.system_malloc and not args.panoptica_worker:
        # Not at the top: panoptica's venv runs this file too and has none of selma3d's packages.
        from harness.scoring.allocator import keep_freed_memory

        if not keep_freed_memory():
            raise SystemExit("keep_freed_memory needs glibc; run with --system-malloc")
    if args.panoptica_worker:
        panoptica_worker(*args.panoptica_worker)
        return
    if args.memory_worker:
        pin_one_core()
        memory_worker(*args.memory_worker)
        return

    # Not at the top: panoptica's venv runs this file too and has none of selma3d's packages.
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(
        "allocator: "
        + ("glibc defaults (--system-malloc)" if SYSTEM_MALLOC else "selma3d's (keep_freed_memory)")
    )
    pin_one_core()
    if args.vessel_only:
        rows: list[tuple[str, str, str, str]] = []
        reference, predictions = make_case("vessel", args.size, args.seed, 1)
        vessel_against_floor(console, rows, reference, predictions[0], args.repeats)
        for row in rows:
            console.print(" | ".join(row))
        return
    ensure_panoptica()
    size = args.size
    rows: list[tuple[str, str, str, str]] = []
    with console.status(f"generating {size}³ cases") as status:
        vessel_ref, vessel_preds = make_case("vessel", size, args.seed, N_SETS)
        spot_ref, spot_preds = make_case("spot", size, args.seed + 1, N_SETS)
        console.print(
            f"vessel case: {vessel_ref.mean():.2%} foreground; spot case: {spot_ref.mean():.2%} "
            f"foreground"
        )

        status.update("spot: our suite vs panoptica")
        t_ours, ours = time_suite("spot", spot_ref, spot_preds[0], repeats=3)
        pan = run_panoptica("spot", spot_ref, spot_preds[0])
        same = (
            abs(ours["blob_f1"] - pan["rq"]) < 1e-12
            and abs(ours["pq"] - pan["pq_dsc"]) < 1e-12
            and (ours["blob_tp"], ours["blob_fp"], ours["blob_fn"])
            == (pan["tp"], pan["fp"], pan["fn"])
        )
        console.print(
            f"spot: ours F1={ours['blob_f1']:.6f} PQ={ours['pq']:.6f} tp/fp/fn="
            f"{ours['blob_tp']}/{ours['blob_fp']}/{ours['blob_fn']}; panoptica RQ={pan['rq']:.6f} "
            f"PQ_dsc={pan['pq_dsc']:.6f} tp/fp/fn={pan['tp']}/{pan['fp']}/{pan['fn']}"
        )
        ratio = pan["seconds"] / t_ours
        rows.append(
            (
                "spot suite vs panoptica 2.1.7",
                f"{t_ours:.2f} s vs {pan['seconds']:.2f} s",
                f"{ratio:.1f}x faster",
                f">= 4x, same F1/PQ: {'PASS' if ratio >= 4 and same else 'FAIL'}"
                f" (identical: {same})",
            )
        )

        status.update("vessel: our suite vs its two skeletonizations")
        t_ours_v, ours_v = vessel_against_floor(
            console, rows, vessel_ref, vessel_preds[0], args.repeats
        )
        pan_v = run_panoptica("vessel", vessel_ref, vessel_preds[0])
        console.print(
            f"vessel: ours Dice={ours_v['dice']:.6f} clDice={ours_v['cldice']:.6f}; panoptica "
            f"Dice={pan_v['global_bin_dsc']:.6f} clDice={pan_v['global_bin_cldsc']:.6f} in "
            f"{pan_v['seconds']:.2f} s (instances and matching included)"
        )
        rows.append(
            (
                "vessel suite vs panoptica (context)",
                f"{t_ours_v:.2f} s vs {pan_v['seconds']:.2f} s",
                f"{pan_v['seconds'] / t_ours_v:.1f}x faster",
                "",
            )
        )

        status.update(f"reference reuse: {N_SETS} prediction sets")
        for track, ref, preds in (
            ("vessel", vessel_ref, vessel_preds),
            ("spot", spot_ref, spot_preds),
        ):
            t_shared, t_indep = time_reuse(track, ref, preds)
            rows.append(
                (
                    f"{track}: {N_SETS} sets in memory, shared vs independent",
                    f"{t_shared:.2f} s vs {t_indep:.2f} s",
                    f"{t_shared / t_indep:.3f}x",
                    "",
                )
            )
        status.update(f"split reuse: {args.reuse_rounds} rounds, in turn")
        rounds = time_split_evaluation(
            {"vessel": (vessel_ref, vessel_preds), "spot": (spot_ref, spot_preds)},
            args.reuse_rounds,
        )
        ratios = [together / separate for together, separate in rounds]
        reuse = float(np.median(ratios))
        rows.append(
            (
                f"split (both cases): {N_SETS} teams at once vs {N_SETS} evaluations, median of "
                f"{len(rounds)} rounds in turn ({' '.join(f'{r:.3f}' for r in ratios)})",
                " ".join(f"{a:.1f}/{b:.1f}" for a, b in rounds) + " s",
                f"{reuse:.3f}x",
                f"<= 0.6x: {'PASS' if reuse <= 0.6 else 'FAIL'}",
            )
        )
        del vessel_ref, vessel_preds, spot_ref, spot_preds

        sizes = [size] + ([] if args.skip_512 else [512])
        for n in sizes:
            for track in ("spot", "vessel"):
                status.update(f"peak memory: {track} {n}³ (fresh process)")
                mem = measure_memory(track, n, args.seed)
                gb = mem["peak_bytes"] / 1e9
                target = f"< 2 GB: {'PASS' if gb < 2 else 'FAIL'}" if n == 512 else ""
                rows.append(
                    (
                        f"peak memory, {track} {n}³",
                        f"{gb:.2f} GB",
                        f"suite {mem['seconds']:.1f} s",
                        target,
                    )
                )

    table = Table(title=f"metrics suite, one core, generated {size}³ cases")
    for column in ("measurement", "times", "ratio", "target"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)


if __name__ == "__main__":
    main()
