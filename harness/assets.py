"""The files selma3d ships beside its code: base-image build contexts, example submissions, rounds.

In a source checkout (plain or ``pip install -e .``) they are the top-level ``docker/``,
``submissions/`` and ``examples/`` folders; a wheel carries the same folders as package data
under ``harness/_assets/`` (``pyproject.toml`` maps them there). Code asks for them here and never
builds a path from its own location or the working directory.
"""

from __future__ import annotations

import os
import secrets
import shutil
from importlib import resources
from pathlib import Path
from typing import Literal

from common.errors import ConfigError, Selma3dError

__all__ = ["ASSETS", "asset_dir", "submission_examples", "write_submission"]

Asset = Literal["docker", "submissions", "examples"]
ASSETS: tuple[Asset, ...] = ("docker", "submissions", "examples")
# What a copied submission leaves out: byte code a local run may have left in the source.
_NOT_COPIED = ("__pycache__", "*.pyc")


def asset_dir(name: Asset) -> Path:
    """The folder of one kind of shipped asset.

    Parameters
    ----------
    name : {"docker", "submissions", "examples"}
        ``docker``: one build context per base image; ``submissions``: the example submissions
        (templates and baselines), one folder with a Dockerfile each; ``examples``: round and
        ranking configurations (``examples/demo/round.yaml``).

    Returns
    -------
    Path
        ``harness/_assets/<name>`` of an installed wheel, else ``<name>/`` at the top of the
        source checkout the ``harness`` package is imported from.

    Raises
    ------
    ValueError
        For another name.
    Selma3dError
        When neither exists (an installation without its package data).
    """
    if name not in ASSETS:
        raise ValueError(f"unknown asset folder {name!r}; expected one of {ASSETS}")
    package = resources.files("harness")
    if not isinstance(package, Path):
        # Docker needs build contexts on disk; a zipped installation has none to give.
        raise Selma3dError(
            f"selma3d is installed as an archive ({package}); its shipped folders must be on "
            "disk: install it with pip into a virtual environment."
        )
    packaged = package / "_assets" / name
    if packaged.is_dir():
        return packaged
    # The checkout's pyproject.toml tells a source tree from any site-packages folder that
    # happens to hold a folder of that name (docker-py's `docker` package, say).
    source = package.parent / name
    if source.is_dir() and (package.parent / "pyproject.toml").is_file():
        return source
    raise Selma3dError(
        f"selma3d's shipped folder {name!r} is missing: neither {packaged} (an installed wheel) "
        f"nor {source} (a source checkout) exists; reinstall selma3d."
    )


def submission_examples() -> list[str]:
    """Names of the shipped example submissions (``template`` and the baselines), sorted."""
    root = asset_dir("submissions")
    return sorted(d.name for d in root.iterdir() if (d / "Dockerfile").is_file())


def write_submission(dest: str | Path, *, example: str = "template") -> Path:
    """Copy a shipped example submission (by default the participant template) into ``dest``.

    The copy is made in a hidden folder beside ``dest`` and renamed onto it at the end, so
    ``dest`` ends up complete or not at all; it may exist only as an empty folder.

    Parameters
    ----------
    dest : str or Path
        The new submission folder.
    example : str, keyword-only
        One of :func:`submission_examples`.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    ConfigError
        ``dest`` exists and is not an empty folder (nothing in it is touched), or ``example``
        is not shipped.
    """
    dest = Path(dest)
    names = submission_examples()
    if example not in names:
        raise ConfigError(f"no example submission {example!r}; shipped are: {', '.join(names)}")
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise ConfigError(f"{dest}: exists and is not a folder; give a new or empty folder")
    if dest.is_dir() and any(dest.iterdir()):
        raise ConfigError(
            f"{dest}: the folder is not empty; give a new or empty folder (nothing was written)"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{secrets.token_hex(4)}.tmp"
    try:
        shutil.copytree(
            asset_dir("submissions") / example, tmp, ignore=shutil.ignore_patterns(*_NOT_COPIED)
        )
        # rename() replaces an empty folder and fails on one that gained files meanwhile.
        os.rename(tmp, dest)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        reason = exc.strerror or str(exc)
        raise ConfigError(f"{dest}: cannot write the submission there ({reason})") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
