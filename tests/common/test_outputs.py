"""Where a command may write: never onto an input, only into folders selma3d made, one at a time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from common.errors import ConfigError, Selma3dError
from common.outputs import (
    LOCK_NAME,
    MARKER_NAME,
    claim_folder,
    lock_file_output,
    only_names,
    read_marker,
    refuse_overlap,
)


def test_an_output_that_is_an_input_or_lies_inside_one_is_refused_naming_both(tmp_path):
    split = tmp_path / "split"
    (split / "labels").mkdir(parents=True)
    manifest = split / "manifest.csv"
    manifest.write_text("case_id\n")
    inputs = {"split": split, "split's manifest": manifest}
    with pytest.raises(ConfigError) as info:
        refuse_overlap({"--junit": manifest}, inputs)
    # The closest input is named: the manifest itself, not the folder it lies in.
    assert f"--junit {manifest} is the split's manifest {manifest};" in str(info.value)
    with pytest.raises(ConfigError, match=r"lies inside the split .*split;"):
        refuse_overlap({"--out": split / "labels" / "new" / "x.csv"}, inputs)
    # Beside the split, or in a parent of it, is fine.
    refuse_overlap({"--out": tmp_path / "x.csv", "--report": tmp_path}, inputs)
    refuse_overlap({"--out": None}, {"split": None, "labels": [None][:0]})


def test_links_and_dot_dots_are_resolved_before_comparing(tmp_path):
    split = tmp_path / "split"
    split.mkdir()
    label = split / "a_label.nii.gz"
    label.write_bytes(b"label")
    link = tmp_path / "innocent.csv"
    link.symlink_to(label)
    aside = tmp_path / "aside"
    aside.mkdir()
    (tmp_path / "via").symlink_to(split)
    for out in (link, aside / ".." / "split" / "a_label.nii.gz", tmp_path / "via" / "x.csv"):
        with pytest.raises(ConfigError, match="split"):
            refuse_overlap({"--out": out}, {"split's labels": [label], "split": split})


def test_a_new_or_empty_folder_is_claimed_and_marked_with_its_command(tmp_path):
    new = tmp_path / "a" / "b"
    with claim_folder(new, kind="run", command="selma3d predict") as claim:
        assert claim.path == new
        marker = json.loads((new / MARKER_NAME).read_text())
        assert marker["kind"] == "run" and marker["command"] == "selma3d predict"
    empty = tmp_path / "empty"
    empty.mkdir()
    with claim_folder(empty, kind="leaderboard"):
        pass
    assert read_marker(empty)["kind"] == "leaderboard"
    # Marked: taken again, with whatever it holds now.
    (empty / "index.html").write_text("ours")
    with claim_folder(empty, kind="leaderboard"):
        pass


def test_a_folder_selma3d_did_not_make_is_refused_and_left_untouched(tmp_path):
    user = tmp_path / "thesis"
    (user / ".work").mkdir(parents=True)
    (user / ".work" / "thesis.tex").write_text("chapter 1")
    (user / "index.html").write_text("my page")
    before = sorted(p.relative_to(user) for p in user.rglob("*"))
    with pytest.raises(ConfigError) as info:
        claim_folder(user, kind="run", flag="--out")
    message = str(info.value)
    assert f"--out {user}" in message and "selma3d did not make it" in message
    assert ".work" in message and "index.html" in message
    assert sorted(p.relative_to(user) for p in user.rglob("*")) == before  # no marker, no lock
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(ConfigError, match="is a file; expected a folder"):
        claim_folder(file, kind="run")


def test_another_kind_of_selma3d_folder_is_refused_naming_its_command(tmp_path):
    folder = tmp_path / "board"
    with claim_folder(folder, kind="leaderboard", command="selma3d leaderboard"):
        pass
    with pytest.raises(ConfigError, match="made by `selma3d leaderboard`"):
        claim_folder(folder, kind="run")
    with claim_folder(folder, kind="round", accepts=("leaderboard",)):
        pass


def test_a_folder_of_an_earlier_release_is_recognised_by_its_own_files(tmp_path):
    legacy = only_names(("run.json", "cases.jsonl", "logs", ".lock"), needs=("run.json",))
    old = tmp_path / "old"
    (old / "logs").mkdir(parents=True)
    (old / "run.json").write_text("{}")
    (old / ".run.json.0123456789ab.tmp").write_text("")  # an interrupted atomic write
    with claim_folder(old, kind="run", legacy=legacy):
        pass
    assert read_marker(old)["kind"] == "run"
    # The same names without the record, or with a file of the user's: not a run folder.
    mimic = tmp_path / "mimic"
    (mimic / "logs").mkdir(parents=True)
    with pytest.raises(ConfigError):
        claim_folder(mimic, kind="run", legacy=legacy)
    (old / MARKER_NAME).unlink()
    (old / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"notes\.txt"):
        claim_folder(old, kind="run", legacy=legacy)


def test_a_claim_is_reentrant_in_one_process_and_released_at_the_last_close(tmp_path):
    outer = claim_folder(tmp_path / "f", kind="run")
    inner = claim_folder(tmp_path / "f", kind="run")
    inner.close()
    assert _held_elsewhere(tmp_path / "f")
    outer.close()
    assert not _held_elsewhere(tmp_path / "f")


def _held_elsewhere(folder):
    """Whether another process is refused the folder's claim."""
    code = textwrap.dedent(
        f"""
        from common.errors import Selma3dError
        from common.outputs import claim_folder
        try:
            claim_folder({str(folder)!r}, kind="run").close()
        except Selma3dError as exc:
            print("refused:", exc)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.startswith("refused:") and "another selma3d command" in out.stdout


def test_a_second_process_is_refused_a_folder_held_by_the_first(tmp_path):
    with claim_folder(tmp_path / "held", kind="run"):
        assert _held_elsewhere(tmp_path / "held")
    assert (tmp_path / "held" / LOCK_NAME).is_file()


def test_a_file_output_is_locked_for_one_writer_and_leaves_no_lock_file(tmp_path):
    out = tmp_path / "results.csv"
    code = textwrap.dedent(
        f"""
        from common.errors import Selma3dError
        from common.outputs import lock_file_output
        try:
            with lock_file_output({str(out)!r}):
                pass
        except Selma3dError as exc:
            print("refused:", exc)
        """
    )
    with lock_file_output(out) as target:
        assert target == out
        second = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert second.stdout.startswith("refused:"), second.stdout + second.stderr
        assert f"--out {out}: another selma3d command is writing this file" in second.stdout
    assert os.listdir(tmp_path) == []
    with pytest.raises(Selma3dError), lock_file_output(out):
        with lock_file_output(out):
            pass
