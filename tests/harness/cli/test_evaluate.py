"""``selma3d evaluate``: its table never lands on an input; one writer; a bad ground truth.

Each runs the real command line in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from common.outputs import lock_file_output
from harness.split.manifest import write_manifest
from harness.split.volume import write_volume

SHAPE = (4, 5, 6)


def selma3d(*args: str) -> tuple[int, str]:
    """Run the installed command line; its exit code and stdout+stderr on one line each."""
    proc = subprocess.run(
        [sys.executable, "-m", "harness", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "400"},
        timeout=300,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture
def setting(tmp_path):
    split = tmp_path / "split"
    split.mkdir()
    mask = np.zeros(SHAPE, np.uint8)
    mask[1:3, 1:3, 1:3] = 1
    write_volume(split / "c1.nii.gz", np.zeros(SHAPE, np.float32))
    write_volume(split / "c1_label.nii.gz", mask)
    write_manifest(split, [{"case_id": "c1", "track": "spot", "structure": "x",
                            "image": "c1.nii.gz", "label": "c1_label.nii.gz"}])
    preds = tmp_path / "preds"
    preds.mkdir()
    write_volume(preds / "c1.nii.gz", mask)
    return split, preds


def _evaluate(split, preds, out, *extra):
    return selma3d("evaluate", "--split", str(split), "--predictions", str(preds), "--out",
                   str(out), "--no-progress", *extra)


@pytest.mark.parametrize(
    ("target", "named"),
    [
        ("split/manifest.csv", "is the split's manifest"),
        ("split/c1_label.nii.gz", "is the split's labels"),
        ("preds/c1.nii.gz", "lies inside the predictions"),
        ("split/new.csv", "lies inside the split"),
    ],
)
def test_out_onto_an_input_exits_2_naming_both_and_changes_nothing(setting, tmp_path, target,
                                                                   named):
    split, preds = setting
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    code, out = _evaluate(split, preds, tmp_path / target)
    assert code == 2, out
    assert f"--out {tmp_path / target} {named}" in out
    assert "never writes onto or into an input" in out
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_out_through_a_link_to_the_manifest_is_refused(setting, tmp_path):
    split, preds = setting
    link = tmp_path / "results.csv"
    link.symlink_to(split / "manifest.csv")
    manifest = (split / "manifest.csv").read_bytes()
    code, out = _evaluate(split, preds, link)
    assert code == 2 and "is the split's manifest" in out, out
    assert (split / "manifest.csv").read_bytes() == manifest


def test_a_second_evaluate_into_the_same_out_is_refused(setting, tmp_path):
    split, preds = setting
    out = tmp_path / "results.csv"
    with lock_file_output(out):  # the first writer, still running
        code, text = _evaluate(split, preds, out)
    assert code == 2, text
    assert f"{out}: another selma3d command is writing this file" in text
    assert not out.exists()
    code, text = _evaluate(split, preds, out)
    assert code == 0, text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preds", "results.csv", "split"]
    code, text = _evaluate(split, preds, out)  # its own table is written again
    assert code == 0, text


@pytest.mark.parametrize("kind", ["file", "folder", "device"])
def test_out_onto_a_users_file_or_a_special_file_is_refused(setting, tmp_path, kind):
    split, preds = setting
    if kind == "device":
        out = tmp_path / "null"
        os.symlink("/dev/null", out)
    else:
        out = tmp_path / "notes.csv"
        if kind == "file":
            out.write_text("my,own,notes\n")
        else:
            out.mkdir()
    code, text = _evaluate(split, preds, out)
    assert code == 2, text
    if kind == "file":
        assert f"--out {out}: the file exists and selma3d did not write it" in text
        assert out.read_text() == "my,own,notes\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["preds", "split", out.name])


@pytest.mark.parametrize("ground_truth", ["/proc/self/task", "/proc", "/sys/fs", "/dev", "fifo"])
def test_a_special_or_unreadable_ground_truth_exits_2_naming_the_file(setting, tmp_path,
                                                                      ground_truth):
    split, preds = setting
    if ground_truth == "fifo":
        folder = tmp_path / "gt"
        (folder / "task1_gt").mkdir(parents=True)
        os.mkfifo(folder / "task1_gt" / "c1.nii.gz")  # a reader would wait for ever
        ground_truth = str(folder)
        problem = (f"{folder / 'task1_gt' / 'c1.nii.gz'} is a special file; expected folders "
                   "and regular files")
    else:
        kernel = "/" + ground_truth.split("/")[1]
        problem = (f"{ground_truth} is on the kernel's {kernel} filesystem, not a ground truth; "
                   "expected a folder or a .tar, .tar.gz or .tgz tarball")
    code, out = _evaluate(split, preds, tmp_path / "r.csv", "--container", "no/such:image",
                          "--ground-truth", ground_truth)
    assert code == 2, out
    assert out == (
        "error: the command line: 1 problem(s) in the evaluate --container:\n"
        f"  - --ground-truth: {problem}\n"
    )


def test_a_link_to_the_kernels_proc_is_refused_as_proc(setting, tmp_path):
    split, preds = setting
    link = tmp_path / "ground-truth"
    link.symlink_to("/proc/self/task")
    code, out = _evaluate(split, preds, tmp_path / "r.csv", "--container", "no/such:image",
                          "--ground-truth", str(link))
    assert code == 2, out
    assert f"--ground-truth: {link} is on the kernel's /proc filesystem" in out


def test_predictions_that_are_a_loop_of_links_exit_2_naming_them(setting, tmp_path):
    split, _ = setting
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    code, output = _evaluate(split, tmp_path / "a", tmp_path / "scores.csv")
    assert code == 2, output
    assert f"{tmp_path / 'a'}: a loop of symbolic links; expected a file or a folder" in output
