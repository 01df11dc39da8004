"""What the evaluation-container tests share, written once.

A team that marks every voxel brighter than the mean plus one standard deviation, a round file
with an evaluation container, and ``selma3d round`` / ``selma3d evaluate`` run as a user runs
them (``python -m harness``, in a process of their own).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

# A participant's image: the offline Python base, a non-root user, one script.
TEAM_DOCKERFILE = """\
FROM selma3d/python:3.11
RUN useradd --uid 1000 --no-create-home app
COPY predict.py /opt/predict.py
USER app
ENTRYPOINT ["python3", "/opt/predict.py"]
"""

# A team marking every voxel brighter than the mean plus one standard deviation.
BRIGHT_PREDICT = """
import glob, os
import SimpleITK as sitk
src = glob.glob("/input/images/light-sheet-3d-microscopy/*")[0]
img = sitk.ReadImage(src)
arr = sitk.GetArrayFromImage(img)
mask = (arr > arr.mean() + arr.std()).astype("uint8")
out = sitk.GetImageFromArray(mask)
out.CopyInformation(img)
os.makedirs("/output/images/isolated-biological-structure", exist_ok=True)
sitk.WriteImage(out, "/output/images/isolated-biological-structure/mask.mha")
"""


def write_team(folder: Path, predict: str = BRIGHT_PREDICT) -> Path:
    """A team's folder: :data:`TEAM_DOCKERFILE` and its ``predict.py``."""
    folder.mkdir(parents=True)
    (folder / "Dockerfile").write_text(TEAM_DOCKERFILE)
    (folder / "predict.py").write_text(predict)
    return folder


def evaluation_round(
    name: str,
    out: Path,
    split_root: Path,
    teams: list[dict[str, Any]],
    evaluation: dict[str, Any],
    **more: Any,
) -> dict[str, Any]:
    """A round file's content: every case run without a canary, then the evaluation container."""
    return {
        "name": name,
        "output": str(out),
        "phases": {"final": {"split": str(split_root)}},
        "phase": "final",
        "limits": {"timeout_s": 120, "memory": "1g", "cpus": 1, "jobs": 2},
        "canary": False,
        "expose_structure": True,
        "teams": teams,
        "evaluation": evaluation,
        **more,
    }


def run_round(config: dict[str, Any], path: Path, **options: Any) -> subprocess.CompletedProcess:
    """Write ``config`` to ``path`` and run ``selma3d round`` on it (``options`` to subprocess)."""
    path.write_text(yaml.safe_dump(config))
    return subprocess.run(
        [sys.executable, "-m", "harness", "round", str(path)],
        capture_output=True,
        text=True,
        check=False,
        **options,
    )


def evaluate_command(
    split_root: Path, predictions: Path, out: Path, image: str, ground_truth: Path, *more: str
) -> list[str]:
    """``selma3d evaluate`` of ``predictions`` with the evaluation container ``image``."""
    return [
        sys.executable,
        "-m",
        "harness",
        "evaluate",
        "--split",
        str(split_root),
        "--predictions",
        str(predictions),
        "--out",
        str(out),
        "--no-progress",
        "--container",
        image,
        "--ground-truth",
        str(ground_truth),
        *more,
    ]
