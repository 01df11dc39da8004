"""Trees nested 3,000 folders deep: in a real container's ``/output``, and given as a model.

The container (misbehaving/deep-output, a non-root user) nests 3,000 folders in ``/output``,
a path longer than a path may be: ``check`` ends with that case's status and exit 1, never a
traceback, and nothing of the tree is left. A model folder or tarball nesting 3,000 folders is
refused with exit 2, naming it and the limit on a model's paths; in a round, that team alone
is set aside (``image_failed``) and the others are scored, the container nesting folders in
``/output`` among them (``invalid_output``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pandas as pd
import pytest

from harness.assets import asset_dir
from harness.containers.cleanup import remove_tree
from harness.containers.images import build_folder
from harness.split.manifest import load_split
from harness.split.synth import synthesize_split
from tests.harness.containers.deep_trees import nested

pytestmark = pytest.mark.docker

MISBEHAVING = Path(__file__).resolve().parent / "misbehaving"
DEEP_OUTPUT = MISBEHAVING / "deep-output"
THRESHOLD = asset_dir("submissions") / "baseline-threshold"
LIMITS = (
    "a path inside a model has at most 32 names (folders nested at most that deep) and 1024 "
    "characters."
)


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory, engine_client):
    root = tmp_path_factory.mktemp("deep")
    split = load_split(
        synthesize_split(root / "split", cases=1, size=(16, 16, 16), seed=3, progress=False).root
    )
    quiet = {"client": engine_client, "log": lambda _: None}
    build_folder(MISBEHAVING / "_base", "selma3d-test/misbehaving-base:latest", **quiet)
    model = nested(root / "deep-model", 3000)
    tarball = root / "deep-model.tar"
    with tarfile.open(tarball, "w") as tar:
        for k in range(1, 3001):
            info = tarfile.TarInfo("/".join(["d"] * k))
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
    folder = nested(root / "deep-folder", 3000)
    (folder / "Dockerfile").write_text((DEEP_OUTPUT / "Dockerfile").read_text())
    (folder / "predict.py").write_text((DEEP_OUTPUT / "predict.py").read_text())
    yield {"root": root, "split": split, "model": model, "tarball": tarball, "folder": folder}
    for deep in (model, folder):
        remove_tree(deep)  # pytest's own removal of its temporary folders recurses


def _check(
    setting: dict, out: Path, *extra: str, image: Path = DEEP_OUTPUT
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness", "check", str(image), "--split",
         str(setting["split"].root), "--timeout-s", "120", "--memory", "1g", "--cpus", "1",
         "--out", str(out), "--no-progress", *extra],
        capture_output=True, text=True, check=False, timeout=900,
        env={**os.environ, "COLUMNS": "400"},
    )  # fmt: skip


def test_a_container_nesting_3000_folders_in_output_gets_a_status_and_exit_1(setting, tmp_path):
    proc = _check(setting, tmp_path / "check")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output[-3000:]
    assert "Traceback" not in output and "internal error of selma3d" not in output
    lines = (tmp_path / "check" / "cases.jsonl").read_text().splitlines()
    cases = [json.loads(line) for line in lines]
    assert [(c["case_id"], c["status"]) for c in cases] == [
        (setting["split"].cases[0].case_id, "invalid_output")
    ]
    assert cases[0]["reason"] == (
        "/output/d/d/d/.../d/d lies 64 folders deep and holds more; /output may nest folders "
        "at most 64 deep"
    )
    # Nothing of the tree is left in the check's folder (its staging removed).
    deepest = max((len(p.relative_to(tmp_path).parts) for p in tmp_path.rglob("*")), default=0)
    assert deepest < 10


@pytest.mark.parametrize("kind", ["model", "tarball"])
def test_a_model_nesting_3000_folders_is_refused_with_exit_2_naming_it(setting, tmp_path, kind):
    model = setting[kind]
    proc = _check(setting, tmp_path / "check", "--model", str(model))
    output = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode == 2, output[-3000:]
    assert "Traceback" not in output and "internal error of selma3d" not in output
    if kind == "model":
        expected = f"model folder {model}: d/d/d/.../d/d nests folders too deep; {LIMITS}"
    else:
        member = "d/" * 32 + "d"
        expected = f"model tarball {model}: member {member!r} has 33 names and 65 characters"
    assert expected in output


def test_a_submission_folder_nesting_3000_folders_is_refused_with_exit_2(setting, tmp_path):
    folder = setting["folder"]
    proc = _check(setting, tmp_path / "check", image=folder)
    output = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode == 2, output[-3000:]
    assert "Traceback" not in output and "internal error of selma3d" not in output
    assert (
        f"{folder}: d/d/d/.../d/d nests folders too deep; a submission folder nests folders at "
        "most 64 deep."
    ) in output


def test_a_round_sets_aside_a_deep_model_and_judges_a_deep_output(setting, tmp_path):
    out = tmp_path / "round"
    config = {
        "name": "deep",
        "output": str(out),
        "phases": {"final": {"split": str(setting["split"].root)}},
        "phase": "final",
        "limits": {"timeout_s": 120, "memory": "1g", "cpus": 1},
        "canary": False,
        "teams": [
            {"name": "honest", "folder": str(THRESHOLD)},
            {"name": "deep", "folder": str(THRESHOLD), "model": str(setting["model"])},
            {"name": "nester", "folder": str(DEEP_OUTPUT)},
        ],
    }
    path = tmp_path / "round.yaml"
    path.write_text(json.dumps(config))
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "round", str(path), "--no-progress"],
        capture_output=True, text=True, check=False, timeout=1500,
        env={**os.environ, "COLUMNS": "400"},
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "Traceback" not in output
    record = json.loads((out / "round.json").read_text())
    assert [(f["team"], f["status"], f["reason"]) for f in record["image_failures"]] == [
        (
            "deep",
            "image_failed",
            f"{path}: team 'deep', model: model folder {setting['model']}: d/d/d/.../d/d nests "
            f"folders too deep; {LIMITS}",
        )
    ]
    table = pd.read_csv(out / "results.csv")
    statuses = sorted(zip(table["team"], table["status"], strict=True))
    assert statuses == [("honest", "ok"), ("nester", "invalid_output")]
