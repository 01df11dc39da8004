"""Shipped folders are found without the working directory; the template is written out of them."""

from __future__ import annotations

import ast
import os
import tomllib
from pathlib import Path

import pytest

from common.errors import ConfigError
from harness.assets import ASSETS, asset_dir, submission_examples, write_submission
from harness.cli import EXIT_BAD_INPUT, EXIT_OK, run

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_FILES = {"Dockerfile", "README.md", "predict.py", ".github/workflows/selma3d-check.yml"}


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", ASSETS)
def test_in_a_checkout_the_assets_are_its_top_level_folders(name, tmp_path, monkeypatch):
    # The working directory plays no part: run from an unrelated empty folder.
    monkeypatch.chdir(tmp_path)
    assert asset_dir(name) == REPO / name


def test_an_unknown_asset_is_refused():
    with pytest.raises(ValueError, match="docker"):
        asset_dir("weights")  # type: ignore[arg-type]


def test_the_shipped_examples_are_the_submission_folders():
    assert submission_examples() == [
        "baseline-classical",
        "baseline-threshold",
        "baseline-unet",
        "baseline-unet-invoke",
        "client-forge-exec",
        "client-interface-only",
        "client-selma3d2024-exec",
        "client-selma3d2026-invoke",
        "client-socket-only",
        "template",
        "template-evaluation",
        "template-invoke",
    ]


def test_no_module_builds_a_path_from_the_checkout():
    # `Path(__file__)` is only allowed where a module reads its own package's files.
    allowed = {
        "harness/split/synth/__init__.py",  # hashes the generator's own source files
        "baselines/classical.py",  # classical_params.json beside it
        "baselines/unet.py",  # weights/ beside it
        "harness/containers/invoke.py",  # invoke_relay.py beside it, mounted into the relay
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


def test_template_writes_the_participant_template_with_its_ci_workflow(tmp_path):
    dest = tmp_path / "my-submission"
    assert run(["template", str(dest)]) == EXIT_OK
    assert files_under(dest) == TEMPLATE_FILES
    shipped = asset_dir("submissions") / "template"
    for rel in TEMPLATE_FILES:
        assert (dest / rel).read_bytes() == (shipped / rel).read_bytes(), rel
    # Nothing but the new folder appears beside it (no temporary folder left behind).
    assert [p.name for p in tmp_path.iterdir()] == ["my-submission"]


def test_template_fills_an_existing_empty_folder(tmp_path):
    dest = tmp_path / "empty"
    dest.mkdir()
    assert write_submission(dest) == dest
    assert files_under(dest) == TEMPLATE_FILES


def test_template_can_start_from_a_baseline(tmp_path):
    dest = write_submission(tmp_path / "mine", example="baseline-threshold")
    assert files_under(dest) == {"Dockerfile", "README.md", "predict.py"}
    assert (dest / "predict.py").read_bytes() == (
        asset_dir("submissions") / "baseline-threshold" / "predict.py"
    ).read_bytes()


def test_template_refuses_a_folder_that_is_not_empty_and_touches_nothing(tmp_path, capsys):
    dest = tmp_path / "work"
    dest.mkdir()
    (dest / "predict.py").write_text("mine\n")
    before = os.stat(dest / "predict.py").st_mtime_ns
    assert run(["template", str(dest)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "work" in err and "not empty" in err
    assert files_under(dest) == {"predict.py"}
    assert (dest / "predict.py").read_text() == "mine\n"
    assert os.stat(dest / "predict.py").st_mtime_ns == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]


def test_template_refuses_a_file_and_a_link(tmp_path):
    file = tmp_path / "notes.txt"
    file.write_text("mine\n")
    with pytest.raises(ConfigError, match="not a folder"):
        write_submission(file)
    empty = tmp_path / "empty"
    empty.mkdir()
    link = tmp_path / "link"
    link.symlink_to(empty)
    with pytest.raises(ConfigError, match="not a folder"):
        write_submission(link)
    assert file.read_text() == "mine\n" and list(empty.iterdir()) == []


def test_template_names_the_shipped_examples_for_an_unknown_one(tmp_path, capsys):
    assert run(["template", str(tmp_path / "x"), "--example", "unet"]) == EXIT_BAD_INPUT
    message = " ".join(capsys.readouterr().err.split())  # as one line, however it was wrapped
    assert "baseline-unet, baseline-unet-invoke, client-forge-exec" in message
    assert "client-socket-only, template, template-evaluation, template-invoke" in message
    assert not (tmp_path / "x").exists()


def test_template_writes_the_evaluation_container(tmp_path):
    dest = tmp_path / "evaluation"
    assert run(["template", str(dest), "--example", "template-evaluation"]) == EXIT_OK
    assert sorted(p.name for p in dest.iterdir()) == ["Dockerfile", "README.md", "evaluate.py"]
    assert "FROM selma3d/evaluation:" in (dest / "Dockerfile").read_text()
