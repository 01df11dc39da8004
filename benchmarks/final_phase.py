"""A final phase at SELMA3D 2026's shape, scaled to this machine: scoring while containers run.

SELMA3D 2026's final phase is 96 patches of 200^3 per team in four categories (22 dense
isolated, 24 sparse isolated, 22 dense contiguous, 28 sparse contiguous). This benchmark makes
``--cases`` (12) generated 200^3 patches in those proportions (largest remainders), named with
the 2026 structures (dense isolated: cell_nuclei, sparse isolated: cfos_neuron, dense
contiguous: blood_vessel, sparse contiguous: axonalmarker, drawn as microglia-like branches), and
``--teams`` (4) team images whose container sleeps ``--sleep`` seconds (8) per case, then writes
a real mask (the image thresholded at a per-team fraction of its Otsu level: tubes on the
contiguous cases, blobs on the isolated ones). The round runs with the ``selma3d-2026`` profile
on a local cluster of ``--slots`` (2) container slots, twice in one run: scoring each case as
soon as every team's run of it is recorded (the round's default), then scoring every case after
the last container (``run_round(..., overlap_scoring=False)``). Both must give the same
results.csv (timings aside).

Printed: the round's wall time (the container and scoring stages, and the whole round with the
local cluster's start and the leaderboard), the containers' lower bound (the recorded
container-seconds / slots), their ratio, scoring's CPU time, the overlap, and the peak memory of
one scoring task (every team's prediction of one case, in a fresh process) on a 200^3 and a
300^3 dense contiguous case. Targets: stage wall <= 1.10x the lower bound when scoring's CPU
time is below the containers' time; scoring peak on 300^3 < 1.5 GB.

Run: ``.venv/bin/python benchmarks/final_phase.py [--cases 12] [--teams 4] [--sleep 8]``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from rich.console import Console

# (category, track, structure written in the manifest, structure the generator draws, share)
CATEGORIES = (
    ("dense_isolated", "spot", "cell_nuclei", "cell_nucleus", 22),
    ("sparse_isolated", "spot", "cfos_neuron", "cfos", 24),
    ("dense_contiguous", "vessel", "blood_vessel", "blood_vessel", 22),
    ("sparse_contiguous", "vessel", "axonalmarker", "microglia", 28),
)
DOCKERFILE = """\
FROM selma3d/python:3.11
RUN useradd --uid 1000 --no-create-home --home-dir /tmp app
COPY predict.py /opt/predict.py
USER app
ENTRYPOINT ["python3", "/opt/predict.py"]
"""
PREDICT = """\
import time
from pathlib import Path

import SimpleITK as sitk

time.sleep(__SLEEP__)
src = next(Path("/input/images/light-sheet-3d-microscopy").iterdir())
image = sitk.ReadImage(str(src))
otsu = sitk.OtsuThresholdImageFilter()
otsu.Execute(image)
mask = sitk.Cast(image > otsu.GetThreshold() * __FACTOR__, sitk.sitkUInt8)
out = Path("/output/images/isolated-biological-structure") / (src.stem + ".mha")
out.parent.mkdir(parents=True, exist_ok=True)
sitk.WriteImage(mask, str(out), True)
"""
TIMING = ["wall_time_s", "peak_memory_bytes", "prediction"]


def shares(total: int) -> list[int]:
    """``total`` cases over the four categories in the 2026 proportions (largest remainders).

    >>> shares(12), shares(96)
    ([3, 3, 3, 3], [22, 24, 22, 28])
    """
    weights = [c[-1] for c in CATEGORIES]
    exact = [total * w / sum(weights) for w in weights]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: (counts[i] - exact[i], i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def make_split(root: Path, cases: int, size: int, seed: int) -> Path:
    """Generated patches of ``size``^3 in the 2026 categories, with their manifest."""
    from harness.split.manifest import write_manifest
    from harness.split.synth import CasePlan, synthesize_case
    from harness.split.volume import write_volume

    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    rows = []
    for (category, track, structure, drawn, _), count in zip(
        CATEGORIES, shares(cases), strict=True
    ):
        for k in range(count):
            case_id = f"{category}_{k:03d}"
            plan = CasePlan(case_id=case_id, track=track, structure=drawn, index=k, empty=False)
            image, label, grid, _ = synthesize_case(plan, size=(size,) * 3, seed=seed)
            write_volume(root / "images" / f"{case_id}.nii.gz", image, grid)
            write_volume(root / "labels" / f"{case_id}.nii.gz", label.astype(np.uint8), grid)
            rows.append(
                {
                    "case_id": case_id,
                    "track": track,
                    "structure": structure,
                    "image": f"images/{case_id}.nii.gz",
                    "label": f"labels/{case_id}.nii.gz",
                    "phase": "final",
                }
            )
    write_manifest(root, rows)
    return root


def team_images(tmp: Path, teams: int, sleep: float) -> dict[str, str]:
    """One image per team: the same sleep, its own threshold (so the teams' scores differ)."""
    from harness.containers.images import build_folder

    refs = {}
    for t in range(teams):
        folder = tmp / f"team{t}"
        folder.mkdir()
        (folder / "Dockerfile").write_text(DOCKERFILE)
        factor = 0.8 + 0.15 * t
        (folder / "predict.py").write_text(
            PREDICT.replace("__SLEEP__", repr(sleep)).replace("__FACTOR__", repr(factor))
        )
        info = build_folder(folder, f"selma3d-bench/final-phase-{t}:latest", log=lambda m: None)
        refs[f"team{t}"] = info.ref
    return refs


def run(tmp: Path, name: str, split: Path, refs: dict[str, str], slots: int, overlap: bool):
    from harness.rounds.config import load_round_config
    from harness.rounds.round import run_round

    config = {
        "name": "final-phase",
        "output": str(tmp / name),
        "phases": {"final": {"split": str(split)}},
        "phase": "final",
        "profile": "selma3d-2026",
        "limits": {"timeout_s": 600, "memory": "1g", "cpus": 1, "jobs": slots},
        "canary": False,
        "teams": [{"name": team, "image": ref} for team, ref in refs.items()],
    }
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    start = time.perf_counter()
    result = run_round(
        load_round_config(path), console=Console(stderr=True, quiet=True), overlap_scoring=overlap
    )
    return result, time.perf_counter() - start


def _peak(case_id: str, split_root: str, folders: dict[str, str]) -> tuple[int, int, float]:
    """In a fresh process: its resident size before one scoring task, its peak, the task's time."""
    from harness.predictions.validate import OFFICIAL_GATE
    from harness.rounds.cluster import score_case_task
    from harness.split.manifest import load_split
    from metrics import MetricOptions

    split = load_split(Path(split_root))
    case = next(c for c in split.cases if c.case_id == case_id)
    # Everything the task imports, imported: the peak then counts the task's own arrays.
    before = _rss_now()
    start = time.perf_counter()
    score_case_task(
        case,
        split.root,
        split.content_hash,
        {k: Path(v) for k, v in folders.items()},
        MetricOptions(),
        OFFICIAL_GATE,
        "selma3d-2026",
    )
    seconds = time.perf_counter() - start
    return before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, seconds


def _rss_now() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_memory(case_id: str, split_root: Path, folders: dict[str, Path]) -> tuple[int, int, float]:
    """Peak resident memory of one scoring task, measured in a process of its own."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(
            _peak, case_id, str(split_root), {k: str(v) for k, v in folders.items()}
        ).result()


def large_case(tmp: Path, size: int, teams: int, seed: int) -> tuple[Path, dict[str, Path], str]:
    """A ``size``^3 dense contiguous case and each team's thresholded prediction of it."""
    from harness.split.manifest import write_manifest
    from harness.split.synth import CasePlan, synthesize_case
    from harness.split.volume import write_volume

    root = tmp / f"large-{size}"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    case_id = "dense_contiguous_000"
    plan = CasePlan(case_id=case_id, track="vessel", structure="blood_vessel", index=0, empty=False)
    image, label, grid, _ = synthesize_case(plan, size=(size,) * 3, seed=seed)
    write_volume(root / "images" / f"{case_id}.nii.gz", image, grid)
    write_volume(root / "labels" / f"{case_id}.nii.gz", label.astype(np.uint8), grid)
    write_manifest(
        root,
        [
            {
                "case_id": case_id,
                "track": "vessel",
                "structure": "blood_vessel",
                "image": f"images/{case_id}.nii.gz",
                "label": f"labels/{case_id}.nii.gz",
                "phase": "final",
            }
        ],
    )
    from skimage.filters import threshold_otsu

    level = threshold_otsu(image)
    folders = {}
    for t in range(teams):
        folder = tmp / f"pred-{size}" / f"team{t}"
        folder.mkdir(parents=True)
        mask = (image > level * (0.8 + 0.15 * t)).astype(np.uint8)
        write_volume(folder / f"{case_id}.nii.gz", mask, grid)
        folders[f"team{t}"] = folder
    return root, folders, case_id


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=12)
    parser.add_argument("--teams", type=int, default=4)
    parser.add_argument("--sleep", type=float, default=8.0)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--seed", type=int, default=26)
    args = parser.parse_args()
    if args.cases < 12 or args.teams < 4:
        parser.error("the 2026 shape needs at least 12 cases and 4 teams")

    with tempfile.TemporaryDirectory(prefix="final-phase-") as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        split = make_split(tmp / "split", args.cases, args.size, args.seed)
        made = time.perf_counter() - t0
        refs = team_images(tmp, args.teams, args.sleep)
        rounds = {}
        for name, overlap in (("overlapped", True), ("sequential", False)):
            rounds[name] = run(tmp, name, split, refs, args.slots, overlap)
        tables = {
            name: pd.read_csv(result.out_dir / "results.csv").drop(columns=TIMING)
            for name, (result, _) in rounds.items()
        }
        pd.testing.assert_frame_equal(tables["overlapped"], tables["sequential"])

        result, _ = rounds["overlapped"]
        dense = next(c.case_id for c in result.split.cases if c.case_id.startswith("dense_cont"))
        folders = {s.team: s.run_dir for s in result.submissions}
        peak_200 = peak_memory(dense, split, folders)
        large_root, large_folders, large_id = large_case(tmp, 300, args.teams, args.seed)
        peak_300 = peak_memory(large_id, large_root, large_folders)
        records = pd.read_csv(result.out_dir / "results.csv")

    cpu = os.cpu_count()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    container_s = float(records["wall_time_s"].sum())
    bound = container_s / args.slots
    print(
        f"final phase: {args.cases} cases of {args.size}^3 "
        f"({'/'.join(map(str, shares(args.cases)))} dense/sparse isolated, dense/sparse "
        f"contiguous), {args.teams} teams, "
        f"{args.sleep:g} s per case, {args.slots} container slot(s), profile selma3d-2026"
    )
    print(f"  machine: {cpu} CPU(s), {memory:.0f} GiB; split generated in {made:.0f} s")
    print(
        f"  containers: {len(records)} runs, {container_s:.1f} container-s recorded; "
        f"lower bound {bound:.1f} s (container-s / {args.slots} slots)"
    )
    ok = True
    for name, (res, whole) in rounds.items():
        stages = res.stages
        wall = res.timings_s["containers"] + res.timings_s["scoring"]
        ratio = wall / bound
        print(
            f"  {name:>10}: containers + scoring {wall:6.1f} s = {ratio:.3f}x the bound "
            f"(scoring after the last container {res.timings_s['scoring']:.1f} s); whole round "
            f"{whole:.1f} s = {whole / bound:.3f}x (cluster start, images, leaderboard included)"
        )
        print(
            f"  {'':>10}  scoring: {stages['scoring']['tasks']} task(s), busy "
            f"{stages['scoring']['busy_s']:.1f} s, CPU {stages['scoring']['cpu_s']:.1f} s; "
            f"overlap with the containers {stages['overlap_s']:.1f} s"
        )
        if name == "overlapped":
            cpu_below = stages["scoring"]["cpu_s"] < container_s
            target = ratio <= 1.10
            ok &= target or not cpu_below
            print(
                f"  {'':>10}  target <= 1.10x (scoring CPU {'<' if cpu_below else '>='} "
                f"container-s): {'PASS' if target else 'FAIL'}"
            )
    print("  results.csv of the two orders: identical (timings aside)")
    for size, (before, peak, seconds) in ((args.size, peak_200), (300, peak_300)):
        print(
            f"  scoring task peak on a {size}^3 dense contiguous case ({args.teams} teams): "
            f"{peak / 2**30:.2f} GiB resident ({(peak - before) / 2**30:.2f} GiB above the "
            f"process at rest), {seconds:.1f} s"
        )
    target_300 = peak_300[1] < 1.5e9
    print(f"  target 300^3 peak < 1.5 GB: {'PASS' if target_300 else 'FAIL'}")
    return 0 if ok and target_300 else 1


if __name__ == "__main__":
    sys.exit(main())
