"""The files selma3d ships beside its code: base-image build contexts, example submissions, rounds.

In a source checkout they are the top-level ``docker/``, ``submissions/`` and ``examples/``
folders; an installed wheel carries the same folders as package data. Code asks for them here and
never builds a path from its own location or the working directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

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

    Raises
    ------
    ValueError
        For another name.
    """
    if name not in ASSETS:
        raise ValueError(f"unknown asset folder {name!r}; expected one of {ASSETS}")
    return Path(__file__).resolve().parents[1] / name
