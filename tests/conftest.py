"""Shared by every test folder: where the real light-sheet patches are."""

from pathlib import Path

REAL_PATCHES = Path(__file__).resolve().parents[2] / "shared" / "data" / "lsm-patches"
"""Six real SELMA3D-derived patches with masks, beside the checkout (never copied into it)."""
