"""The files selma3d ships beside its code: base-image build contexts, example submissions, rounds.

In a source checkout (plain or ``pip install -e .``) they are the top-level ``docker/``,
``submissions/`` and ``examples/`` folders; a wheel carries the same folders as package data
under ``harness/_assets/`` (``pyproject.toml`` maps them there). Code asks for them here and never
builds a path from its own location or the working directory.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from harness.errors import Selma3dError

__all__ = ["ASSETS", "asset_dir"]

Asset = Literal["docker", "submissions", "examples"]
ASSETS: tuple[Asset, ...] = ("docker", "submissions", "examples")


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

