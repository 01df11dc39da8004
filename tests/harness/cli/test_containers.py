"""``selma3d predict`` through the real command line with real containers: it never writes into a
folder it did not make, resumes its own (an earlier release's too), and a full disk is exit 2.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.outputs import MARKER_NAME
from harness.split.synth import synthesize_split

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[3]
TEMPLATE = REPO / "submissions" / "template"


def selma3d(*args: str) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=600,
        check=False, env={**os.environ, "COLUMNS": "400"},
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def image() -> str:
    from harness.containers.images import build_folder

    return build_folder(TEMPLATE, "selma3d-test-outputs/template:1", log=lambda m: None).ref


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("predict") / "split"
    synthesize_split(root, cases=2, size=(16, 16, 16), seed=4, progress=False)
    return root


def predict(image: str, split: Path, out: Path) -> tuple[int, str]:
    return selma3d("predict", image, "--split", str(split), "--out", str(out), "--no-progress")


def test_predict_into_a_users_folder_is_refused_and_deletes_nothing(image, split, tmp_path):
    mine = tmp_path / "mine"
    (mine / ".work").mkdir(parents=True)
    (mine / ".work" / "thesis.tex").write_text("\\chapter{One}\n")
    (mine / "predictions").mkdir()
    (mine / "predictions" / "vessel_000.nii.gz").write_bytes(b"my own prediction")
    before = {p: p.read_bytes() for p in mine.rglob("*") if p.is_file()}
    code, out = predict(image, split, mine)
    assert code == 2, out
    assert f"--out {mine}: the folder is not empty and selma3d did not make it" in out
    assert {p: p.read_bytes() for p in mine.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in mine.iterdir()) == [".work", "predictions"]


def test_predict_resumes_its_own_folder_and_one_of_an_earlier_release(image, split, tmp_path):
    out = tmp_path / "run"
    code, text = predict(image, split, out)
    assert code == 0, text
    assert (out / MARKER_NAME).is_file()
    records = (out / "cases.jsonl").read_text()
    # An earlier release marked nothing: its run folder (run.json, cases.jsonl, .lock) resumes.
    (out / MARKER_NAME).unlink()
    (out / ".selma3d-folder.lock").unlink()
    code, text = predict(image, split, out)
    assert code == 0, text
    assert "ran 0 now" in text
    assert (out / "cases.jsonl").read_text() == records


@pytest.fixture
def tmpfs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    folder = tmp_path / "small"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], check=True)
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("free_kib", [28, 12, 4])
def test_predict_onto_a_full_disk_exits_2_naming_the_file(image, split, tmpfs, free_kib):
    # Filled to leave room for the records but not the staged inputs, a mask or run.json.
    filler = tmpfs / "filler"
    filler.write_bytes(b"\0" * ((64 - free_kib) * 1024))
    code, out = predict(image, split, tmpfs / "run")
    assert code == 2, out
    assert "could not be written (No space left on device)" in out
    assert str(tmpfs / "run") in out
    assert "Traceback" not in out and "internal error" not in out
