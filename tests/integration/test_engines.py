"""The same round on Docker and on Podman gives the same results, case by case.

Each engine is named in its round file (``engine:``), so this also runs the round file's choice
of engine end to end; the results are compared with the columns that describe how a run went
on its machine (times, memory, ids of the images, which differ by engine) left out.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from docker.errors import ImageNotFound

from harness.containers.engine import connect
from harness.split.synth import synthesize_split
from harness.split.volume import read_volume
from tests.conftest import engines_that_answer

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
# What a machine measures, not what a submission produced.
MACHINE_COLUMNS = ("wall_time_s", "peak_memory_bytes", "image_digest", "ran_at", "worker")


def _round(tmp_path: Path, split: Path, engine: str) -> pd.DataFrame:
    out = tmp_path / engine
    config = {
        "name": f"engines-{engine}",
        "output": str(out),
        "engine": engine,
        "phases": {"final": {"split": str(split)}},
        "phase": "final",
        "limits": {"timeout_s": 120, "memory": "1g", "cpus": 1, "jobs": 2},
        "canary": False,
        "determinism": True,
        "teams": [
            {"name": "template", "folder": str(REPO / "submissions" / "template")},
            {"name": "threshold", "folder": str(REPO / "submissions" / "baseline-threshold")},
        ],
    }
    path = tmp_path / f"{engine}.yaml"
    path.write_text(yaml.safe_dump(config))
    # The round file alone chooses the engine.
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "SELMA3D_ENGINE")}
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "round", str(path), "--no-progress"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = pd.read_csv(out / "results.csv")
    # Each round writes into its own folder: its predictions are compared by content below.
    results["prediction"] = [str(Path(p).relative_to(out)) for p in results["prediction"]]
    return results


def test_a_round_gives_the_same_results_on_docker_and_on_podman(tmp_path):
    engines = engines_that_answer()
    if len(engines) < 2:
        pytest.skip(f"needs both engines; only {engines or 'none'} answer here")
    split = tmp_path / "split"
    synthesize_split(split, cases=3, size=(40, 40, 40), seed=5)
    docker, podman = (_round(tmp_path, split, engine) for engine in ("docker", "podman"))
    assert len(docker) == 2 * 3 and set(docker["status"]) == {"ok"}
    kept = [c for c in docker.columns if c not in MACHINE_COLUMNS]
    assert set(kept) == {c for c in podman.columns if c not in MACHINE_COLUMNS}
    pd.testing.assert_frame_equal(
        docker[kept].sort_values(["team", "case_id"]).reset_index(drop=True),
        podman[kept].sort_values(["team", "case_id"]).reset_index(drop=True),
    )
    # Each round ran on the engine its file names: its images are in that engine's store only.
    for engine, other in (("docker", "podman"), ("podman", "docker")):
        record = json.loads((tmp_path / engine / "round.json").read_text())
        digests = {s["digest"] for s in record["submissions"]}
        with contextlib.closing(connect(engine=engine)) as own:
            assert all(own.images.get(d).id == d for d in digests)
        with contextlib.closing(connect(engine=other)) as client, pytest.raises(ImageNotFound):
            client.images.get(sorted(digests)[0])
    for rel in docker["prediction"]:
        a, b = (read_volume(tmp_path / engine / rel) for engine in ("docker", "podman"))
        assert np.array_equal(a.array, b.array), rel
