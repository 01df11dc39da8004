"""Removing what a container left: closed folders, links, a folder kept in place."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from harness.containers.cleanup import (
    TreeTooDeep,
    chmod_tree,
    empty_folder,
    remove_tree,
    walk_tree,
)
from tests.harness.containers.deep_trees import nested


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


def _deep_tree(root: Path, depth: int) -> Path:
    """``root/d/.../d``, its deepest folder holding a file, a closed folder and a link out."""

    def inside() -> None:
        Path("f").write_text("x")
        os.mkdir("closed")
        Path("closed/g").write_text("y")
        os.chmod("closed", 0)
        # A link to a folder outside: removing never enters it.
        os.symlink(root.parent / "outside", "link")

    return nested(root, depth, inside)


def test_a_tree_3000_folders_deep_with_a_closed_folder_and_a_link_is_removed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("the user's")
    root = _deep_tree(tmp_path / "out", 3000)
    remove_tree(root)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside"]
    assert (outside / "keep.txt").read_text() == "the user's"


def test_emptying_a_tree_3000_folders_deep_keeps_the_folder(tmp_path):
    (tmp_path / "outside").mkdir()
    root = _deep_tree(tmp_path / "out", 3000)
    inode = root.stat().st_ino
    empty_folder(root)
    assert root.stat().st_ino == inode and list(root.iterdir()) == []


def test_walking_a_tree_deeper_than_its_limit_raises_naming_the_folder(tmp_path):
    (tmp_path / "outside").mkdir()
    root = _deep_tree(tmp_path / "out", 3000)
    with pytest.raises(TreeTooDeep) as caught:
        for _ in walk_tree(root, max_depth=64):
            pass
    assert str(caught.value) == (
        f"[Errno 40] d/d/d/.../d/d lies more than 64 folders deep: '{root}'"
    )
    remove_tree(root)


def test_walking_yields_links_as_links_and_never_enters_them(tmp_path):
    outside = tmp_path / "outside"
    (outside / "secret").mkdir(parents=True)
    root = tmp_path / "out"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "f").write_text("xy")
    (root / "a" / "link").symlink_to(outside)
    seen = {rel: stat.filemode(st.st_mode)[0] for _, rel, st in walk_tree(root)}
    assert seen == {"a": "d", "a/b": "d", "a/f": "-", "a/link": "l"}


def test_chmod_tree_changes_folders_and_files_but_not_what_a_link_names(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    os.chmod(outside, 0o600)
    root = tmp_path / "in"
    (root / "a").mkdir(parents=True)
    (root / "a" / "f").write_text("x")
    (root / "a" / "link").symlink_to(outside)
    chmod_tree(root, dirs=0o755, files=0o644)
    modes = [stat.S_IMODE(p.stat().st_mode) for p in (root, root / "a", root / "a" / "f")]
    assert modes == [0o755, 0o755, 0o644]
    assert stat.S_IMODE(outside.stat().st_mode) == 0o600


def test_walking_yields_a_skipped_folder_but_not_its_content(tmp_path):
    (tmp_path / "__pycache__" / "deep").mkdir(parents=True)
    (tmp_path / "a" / "__pycache__").mkdir(parents=True)
    (tmp_path / "a" / "__pycache__" / "x.pyc").write_bytes(b"")
    (tmp_path / "a" / "f.py").write_text("")
    walked = [rel for _, rel, _ in walk_tree(tmp_path, skip={"__pycache__"})]
    assert walked == ["__pycache__", "a", "a/__pycache__", "a/f.py"]
