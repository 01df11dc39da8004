"""Broken or hostile inputs to the commands: exit 2 naming the file, never a traceback.

Full and read-only disks are real small tmpfs mounts (the tests need root to mount them).
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess

import numpy as np
import pandas as pd
import pytest

from harness.cli import run
from harness.split.manifest import write_manifest
from harness.split.volume import write_volume
from tests.harness.predictions.hostile import nifti1

SHAPE = (4, 5, 6)


def _text(capsys) -> str:
    return " ".join(capsys.readouterr().err.split())


def _split(root):
    root.mkdir(parents=True)
    write_volume(root / "c1.nii.gz", np.zeros(SHAPE, np.float32))
    mask = np.zeros(SHAPE, np.uint8)
    mask[1:3, 1:3, 1:3] = 1
    write_volume(root / "c1_label.nii.gz", mask)
    write_manifest(root, [{"case_id": "c1", "track": "spot", "structure": "x",
                           "image": "c1.nii.gz", "label": "c1_label.nii.gz"}])
    return root, mask


@pytest.fixture
def tmpfs(tmp_path):
    """Mount small tmpfs file systems under ``tmp_path``; unmounted at the end."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = []

    def mount(name, *, size="64k", read_only=False):
        folder = tmp_path / name
        folder.mkdir()
        options = f"size={size}" + (",ro" if read_only else "")
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], check=True)
        mounted.append(folder)
        return folder

    yield mount
    for folder in reversed(mounted):
        subprocess.run(["umount", str(folder)], check=True)


def _fill(folder):
    """Fill a tmpfs to the last byte."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        for size in (4096, 1):
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError:
                    break
    finally:
        os.close(fd)


def test_data_check_of_a_header_claiming_32000_cubed_voxels_exits_2(tmp_path, capsys):
    root, _ = _split(tmp_path / "split")
    (root / "c1.nii.gz").write_bytes(gzip.compress(nifti1(shape=(32000, 32000, 32000), data=b"")))
    assert run(["data", "check", str(root)]) == 2
    err = _text(capsys)
    assert str(root / "c1.nii.gz") in err
    assert "needs 32,768,000,000,000 bytes, the file holds 0" in err


def test_evaluate_out_in_a_read_only_folder_exits_2_before_scoring(tmp_path, tmpfs, capsys):
    root, mask = _split(tmp_path / "split")
    team = tmp_path / "team"
    team.mkdir()
    write_volume(team / "c1.nii.gz", mask)
    read_only = tmpfs("ro", read_only=True)
    assert run(["evaluate", "--split", str(root), "--predictions", str(team), "--out",
                str(read_only / "m.csv"), "--no-progress"]) == 2
    err = _text(capsys)
    assert f"{read_only / 'm.csv'} cannot be written: {read_only} is read-only" in err


def test_evaluate_out_on_a_full_disk_exits_2_and_keeps_the_previous_table(
    tmp_path, tmpfs, capsys
):
    root, mask = _split(tmp_path / "split")
    team = tmp_path / "team"
    team.mkdir()
    write_volume(team / "c1.nii.gz", mask)
    full = tmpfs("full")
    args = ["evaluate", "--split", str(root), "--predictions", str(team), "--out",
            str(full / "m.csv"), "--no-progress"]
    # The previous table is evaluate's own: selma3d never replaces a file it did not write.
    assert run(args) == 0
    _text(capsys)
    previous = (full / "m.csv").read_text()
    names = sorted(p.name for p in full.iterdir())
    _fill(full)
    assert run(args) == 2
    err = _text(capsys)
    assert f"{full / 'm.csv'}: could not be written (No space left on device)" in err
    assert "nothing earlier was lost" in err
    assert (full / "m.csv").read_text() == previous
    assert sorted(p.name for p in full.iterdir()) == sorted([*names, "filler"])


def test_data_synth_onto_a_full_disk_exits_2_naming_the_file(tmpfs, capsys):
    full = tmpfs("full", size="256k")
    assert run(["data", "synth", str(full / "s"), "--cases", "4", "--size", "48", "48",
                "48"]) == 2
    err = _text(capsys)
    assert "could not be written (No space left on device)" in err
    assert "nothing earlier was lost" in err
    assert str(full / "s") in err
    assert "Traceback" not in err


def test_demo_out_naming_an_existing_file_exits_2_and_keeps_it(tmp_path, capsys):
    mine = tmp_path / "notes.txt"
    mine.write_text("mine\n")
    assert run(["demo", "--out", str(mine), "--cases", "2", "--size", "16"]) == 2
    assert "is a file" in _text(capsys)
    assert mine.read_text() == "mine\n"


def test_images_build_folder_with_an_invalid_tag_exits_2(tmp_path, capsys):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    assert run(["images", "build-folder", "--tag", "UPPER/../x:::", str(tmp_path)]) == 2
    assert "image tag 'UPPER/../x:::' is not a valid image name" in _text(capsys)


def test_evaluate_neutralises_the_team_and_digests_read_from_records(tmp_path):
    root, mask = _split(tmp_path / "split")
    runner = tmp_path / "runner"
    (runner / "predictions").mkdir(parents=True)
    write_volume(runner / "predictions" / "c1.nii.gz", mask)
    record = {"case_id": "c1", "status": "ok", "reason": "", "exit_code": 0,
              "wall_time_s": 1.0, "peak_memory_bytes": None,
              "image_digest": "=cmd|' /C calc'!A0", "prediction": "predictions/c1.nii.gz"}
    (runner / "cases.jsonl").write_text(json.dumps(record) + "\n")
    team = '=HYPERLINK("http://x","y")<script>'
    assert run(["evaluate", "--split", str(root), "--predictions", str(runner), "--out",
                str(tmp_path / "m.csv"), "--team", team, "--no-progress"]) == 0
    row = pd.read_csv(tmp_path / "m.csv", keep_default_na=False, dtype=str).iloc[0]
    assert row["team"] == "'" + team
    assert row["image_digest"] == "'=cmd|' /C calc'!A0"
    assert not any(str(v).startswith(("=", "+", "@")) for v in row.to_numpy())
