"""Shipped folders are found without the working directory or a path into the checkout."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from harness.assets import ASSETS, asset_dir

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ASSETS)
def test_in_a_checkout_the_assets_are_its_top_level_folders(name, tmp_path, monkeypatch):
    # The working directory plays no part: run from an unrelated empty folder.
    monkeypatch.chdir(tmp_path)
    assert asset_dir(name) == REPO / name


def test_an_unknown_asset_is_refused():
    with pytest.raises(ValueError, match="docker"):
        asset_dir("weights")  # type: ignore[arg-type]


def test_no_module_builds_a_path_from_the_checkout():
    # `Path(__file__)` is only allowed where a module reads its own package's files.
    allowed = {
        "harness/split/synth/__init__.py",  # hashes the generator's own source files
        "baselines/classical.py",  # classical_params.json beside it
        "baselines/unet.py",  # weights/ beside it
    }
    offenders = []
    for package in ("harness", "leaderboard", "baselines", "metrics"):
        for path in sorted((REPO / package).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            text = path.read_text(encoding="utf-8")
            uses_file = any(
                isinstance(node, ast.Name) and node.id == "__file__"
                for node in ast.walk(ast.parse(text))
            )
            if ("parents[" in text or "Path.cwd" in text or uses_file) and rel not in allowed:
                offenders.append(rel)
    assert offenders == []


def test_pyproject_lists_every_code_package():
    # An explicit package list (needed for the asset mapping) must not silently drop a package.
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    listed = set(config["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(REPO).parts)
        for package in ("harness", "leaderboard", "baselines", "metrics")
        for init in (REPO / package).rglob("__init__.py")
    }
    assert found <= listed, sorted(found - listed)
    mapped = config["setuptools"]["package-dir"]
    assert {mapped[f"harness._assets.{name}"] for name in ASSETS} == set(ASSETS)

