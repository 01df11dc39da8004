"""Fixtures of the leaderboard tests: a tiny round with volumes, predictions and results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.scoring.volumes import SplitVolumes
from harness.split.manifest import load_split, write_manifest
from harness.split.volume import write_volume
from leaderboard import RankingConfig, build_leaderboard, read_results
from tests.leaderboard.lb_tables import STRUCTURE

BUILT_CONFIG = RankingConfig(bootstrap={"resamples": 200, "seed": 3})


def _sphere_mask(shape, centre, radius):
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    return ((z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2) <= radius**2


@pytest.fixture(scope="session")
def small_round(tmp_path_factory):
    """A 3-case split with volumes, three teams' predictions and their results table.

    Dice is computed here directly from voxel counts (2|P∩R| / (|P|+|R|)).
    """
    root = tmp_path_factory.mktemp("round")
    shape = (20, 24, 24)
    rng = np.random.default_rng(7)
    manifest = []
    refs = {}
    for case, track, centre in (
        ("spot_000", "spot", (10, 8, 8)),
        ("vessel_000", "vessel", (10, 12, 12)),
        ("vessel_001", "vessel", (9, 14, 10)),
    ):
        ref = _sphere_mask(shape, centre, 5)
        image = rng.normal(100, 10, shape).astype(np.float32) + 200 * ref
        (root / "split").mkdir(parents=True, exist_ok=True)
        write_volume(root / "split" / f"{case}.nii.gz", image)
        write_volume(root / "split" / f"{case}_label.nii.gz", ref.astype(np.uint8))
        manifest.append(
            {
                "case_id": case,
                "track": track,
                "structure": STRUCTURE[track],
                "image": f"{case}.nii.gz",
                "label": f"{case}_label.nii.gz",
            }
        )
        refs[case] = ref
    write_manifest(root / "split", manifest)
    split = load_split(root / "split")
    shifts = {"ada": 0, "bob": 1, "cy": 3}
    results = []
    for team, shift in shifts.items():
        for case in split.cases:
            ref = refs[case.case_id]
            status = "timeout" if (team == "cy" and case.case_id == "vessel_001") else "ok"
            pred = np.roll(ref, shift, axis=2)
            path = root / "pred" / team / f"{case.case_id}.nii.gz"
            dice = 0.0
            if status == "ok":
                path.parent.mkdir(parents=True, exist_ok=True)
                write_volume(path, pred.astype(np.uint8))
                dice = 2 * (ref & pred).sum() / (ref.sum() + pred.sum())
            row = {
                "team": team,
                "case_id": case.case_id,
                "track": case.track,
                "structure": case.structure,
                "status": status,
                "message": "",
                "prediction": str(path.relative_to(root)) if status == "ok" else "",
                "dice": dice,
                "split_hash": split.content_hash,
                "image_digest": f"sha256:{team:0<64}",
                "display_name": f"Team {team.upper()}",
                "wall_time_s": 5.0 + shift,
                "peak_memory_bytes": float((shift + 1) * 2**28),
            }
            if case.track == "vessel":
                row |= {"cldice": dice * 0.9, "betti0_error": float(shift), "betti1_error": 0.0}
            else:
                row |= {"blob_f1": dice, "pq": dice * 0.8, "betti0_error": float(shift)}
            results.append(row)
    table = pd.DataFrame(results)
    csv = root / "results.csv"
    table.to_csv(csv, index=False)
    return {"root": root, "split": split, "csv": csv, "table": table, "order": ["ada", "bob", "cy"]}


@pytest.fixture(scope="session")
def built(small_round, tmp_path_factory):
    """The small round's leaderboard, built once with its split (projections included)."""
    out = tmp_path_factory.mktemp("board")
    build_leaderboard(
        read_results(small_round["csv"]),
        out,
        config=BUILT_CONFIG,
        split=small_round["split"],
        volumes=SplitVolumes(small_round["split"], base_dir=small_round["csv"].parent),
        results_path=small_round["csv"],
        metadata={"round": "demo"},
    )
    return out
