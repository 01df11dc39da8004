"""What every test folder shares."""

from pathlib import Path

# The real SELMA3D-derived patches, beside every checkout (never copied into the project).
REAL_PATCHES = Path(__file__).resolve().parents[2] / "shared" / "data" / "lsm-patches"
