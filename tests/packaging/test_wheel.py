"""selma3d installed like real software: a wheel in a fresh virtual environment, used from an empty
folder with nothing of the checkout on the path.

The sdist and the wheel are built with `python -m build` (the wheel from the sdist, so a file the
sdist forgets fails here) from a copy of the checkout into which a build cache and byte code are
planted: neither may reach the archives. The wheel is installed with its dependencies but without
the `deep` extra; the demo then runs the teams that need no torch. Measured on two cores shared
with other work: 1 min 45 s to 2 min 45 s (load 5 to 11), of which building and installing with
pip's cache warm 72-90 s and the demo 17-36 s.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.docker]

REPO = Path(__file__).resolve().parents[2]
# Build output and local state of a checkout, never part of a source distribution.
_NOT_SOURCE = {".git", ".venv", "runs", "build", "dist", ".pytest_cache", ".ruff_cache"}
_NEVER = ("__pycache__", "*.egg-info", ".hypothesis", ".venv-panoptica", "*.pyc")
TEMPLATE = "harness/_assets/submissions/template"


@dataclass(frozen=True)
class Installed:
    sdist: Path
    wheel: Path
    bin: Path
    home: Path  # an empty folder: the working directory of every command
    env: dict[str, str]

    def selma3d(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / "selma3d"), *args],
            cwd=self.home,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _run(*cmd: str | Path, timeout: float) -> None:
    proc = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}:\n{proc.stdout}\n{proc.stderr}"


def _copy_source(dest: Path) -> Path:
    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = set(shutil.ignore_patterns(*_NEVER)(folder, names))
        if Path(folder) == REPO:
            skipped |= _NOT_SOURCE & set(names)
        if Path(folder) == REPO / "docker":
            skipped.add(".cache")
        return skipped

    shutil.copytree(REPO, dest, ignore=ignore)
    # What a working checkout holds and no archive may: the images' build cache and byte code.
    (dest / "docker" / ".cache" / "wheels").mkdir(parents=True)
    (dest / "docker" / ".cache" / "wheels" / "planted-0.0-py3-none-any.whl").write_bytes(b"x")
    (dest / "submissions" / "template" / "__pycache__").mkdir()
    (dest / "submissions" / "template" / "__pycache__" / "predict.cpython-311.pyc").write_bytes(b"")
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    source = _copy_source(root / "source")
    builder = root / "builder"
    _run(sys.executable, "-m", "venv", builder, timeout=300)
    _run(builder / "bin" / "python", "-m", "pip", "install", "--quiet", "build", timeout=300)
    dist = root / "dist"
    _run(builder / "bin" / "python", "-m", "build", "--outdir", dist, source, timeout=600)
    (sdist,) = dist.glob("selma3d-*.tar.gz")
    (wheel,) = dist.glob("selma3d-*.whl")

    venv = root / "venv"
    _run(sys.executable, "-m", "venv", venv, timeout=300)
    _run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel, timeout=900)
    home = root / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    # The checkout's wheel and root file-system cache: nothing is downloaded for the images.
    env["SELMA3D_CACHE"] = str(REPO / "docker" / ".cache")
    return Installed(sdist, wheel, venv / "bin", home, env)


def test_the_archives_carry_the_shipped_folders_and_no_build_cache(installed):
    with zipfile.ZipFile(installed.wheel) as zf:
        in_wheel = set(zf.namelist())
    with tarfile.open(installed.sdist) as tf:
        in_sdist = {name.split("/", 1)[1] for name in tf.getnames() if "/" in name}
    for names in (in_wheel, in_sdist):
        assert not [n for n in names if ".cache" in n or n.endswith(".pyc") or "__pycache__" in n]
        assert not [n for n in names if n.endswith(".sh")]
    for name in (
        "baselines/weights/unet.pt",
        "baselines/weights/unet.json",
        "baselines/classical_params.json",
        "harness/_assets/docker/python/Dockerfile",
        "harness/_assets/docker/rootfs/image.yaml",
        "harness/_assets/examples/demo/round.yaml",
        "harness/_assets/submissions/baseline-unet/predict.py",
        f"{TEMPLATE}/.github/workflows/selma3d-check.yml",
        "harness/_assets/submissions/template-invoke/model/params.json",
        "harness/_assets/submissions/template-invoke/.github/workflows/selma3d-check.yml",
        "harness/_assets/submissions/baseline-unet-invoke/inference.py",
        "harness/_assets/submissions/template-evaluation/evaluate.py",
        "harness/_assets/docker/evaluation/Dockerfile",
        "harness/evaluation/run.py",
        "harness/evaluation/metrics_json.py",
        "harness/evaluation/forms.py",
        "leaderboard/container_report.py",
        "harness/_assets/submissions/client-selma3d2026-invoke/requirements.txt",
        "harness/_assets/submissions/client-selma3d2026-invoke/model/a_tarball_subdirectory/"
        "some_tarball_resource.txt",
        "harness/_assets/submissions/client-forge-exec/resources/some_resource.txt",
        "harness/containers/invoke_relay.py",
    ):
        assert name in in_wheel, name
    for name in ("docker/python/Dockerfile", "submissions/template/.github/workflows/"):
        assert any(n.startswith(name) for n in in_sdist), name


def test_the_installed_package_runs_from_its_own_files(installed):
    proc = installed.selma3d("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == "selma3d, version 0.1.0"
    where = subprocess.run(
        [
            str(installed.bin / "python"),
            "-c",
            "import harness.assets as a; print(a.__file__); print(a.asset_dir('docker'))",
        ],
        cwd=installed.home,
        env=installed.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    site = installed.bin.parent / "lib"
    assert all(Path(p).is_relative_to(site) for p in where), where


def test_images_build_finds_the_base_images_cached(installed):
    proc = installed.selma3d("images", "build")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The specs shipped in the wheel hash like the checkout's: nothing to build after `make images`.
    summary = re.search(r"images: (\d+) built, (\d+) cached", proc.stdout)
    assert summary and summary.group(1) == "0", f"run `make images` first:\n{proc.stdout}"
    assert int(summary.group(2)) == 5  # rootfs, python, baselines, baselines-torch, evaluation
    assert "selma3d/python:3.11: cached" in proc.stdout


def test_a_participant_writes_the_template_and_checks_it(installed):
    proc = installed.selma3d("template", "my-submission")
    assert proc.returncode == 0, proc.stderr
    folder = installed.home / "my-submission"
    assert (folder / ".github" / "workflows" / "selma3d-check.yml").is_file()
    again = installed.selma3d("template", "my-submission")
    assert again.returncode == 2 and "not empty" in again.stderr

    proc = installed.selma3d(
        "data", "synth", "--out", "sample", "--cases", "2", "--size", "32", "32", "32"
    )
    assert proc.returncode == 0, proc.stderr
    proc = installed.selma3d(
        "check",
        "my-submission",
        "--split",
        "sample",
        "--timeout-s",
        "120",
        "--memory",
        "1g",
        "--cpus",
        "1",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (installed.home / "runs" / "check" / "my-submission" / "check.json").is_file()


def test_a_small_demo_writes_its_leaderboard(installed):
    proc = installed.selma3d(
        "demo",
        "--out",
        "demo",
        "--teams",
        "classical,threshold,template",
        "--cases",
        "2",
        "--size",
        "48",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    board = installed.home / "demo" / "leaderboard"
    for name in ("index.html", "leaderboard.csv", "leaderboard.json", "leaderboard.md"):
        assert (board / name).is_file(), name
    with (board / "leaderboard.csv").open(newline="") as fh:
        teams = {row["team"] for row in csv.DictReader(fh)}
    assert teams == {"classical", "threshold", "template"}
    assert (installed.home / "demo" / "results.csv").is_file()
