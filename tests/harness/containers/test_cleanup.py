"""Removing what a container left: closed folders, links, a folder kept in place."""

from __future__ import annotations

import os
from pathlib import Path

from harness.containers.cleanup import empty_folder, remove_tree


def _closed_tree(root: Path) -> None:
    for k in range(3):
        folder = root / f"d{k}" / "inner"
        folder.mkdir(parents=True)
        (folder / "f").write_text("x")
        os.chmod(folder, 0)
        os.chmod(folder.parent, 0)


def test_folders_closed_with_mode_000_are_removed(tmp_path):
    _closed_tree(tmp_path / "out")
    remove_tree(tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_emptying_keeps_the_folder_and_never_follows_a_link(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("the user's")
    out = tmp_path / "out"
    out.mkdir()
    inode = out.stat().st_ino
    _closed_tree(out)
    (out / "link").symlink_to(outside)
    (out / "file-link").symlink_to(outside / "keep.txt")
    empty_folder(out)
    assert out.stat().st_ino == inode and list(out.iterdir()) == []
    assert (outside / "keep.txt").read_text() == "the user's"


def test_a_missing_path_is_already_removed(tmp_path):
    remove_tree(tmp_path / "never-made")
