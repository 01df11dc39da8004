"""Folders nested thousands deep, as a hostile container or model makes them."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["nested"]


def _one_file() -> None:
    Path("w.bin").write_bytes(b"w")


def nested(root: Path, depth: int, inside: Callable[[], None] = _one_file) -> Path:
    """``root/d/.../d``, ``depth`` folders deep, made by relative steps (no long path).

    ``inside`` runs with the deepest folder as the working folder (by default it writes
    ``w.bin``, one byte); the working folder is restored after. Returns ``root``.
    """
    root.mkdir()
    here = os.getcwd()
    try:
        os.chdir(root)
        for _ in range(depth):
            os.mkdir("d")
            os.chdir("d")
        inside()
    finally:
        os.chdir(here)
    return root
