"""Answers with a symlink to a host file."""

import os

from contract_io import DEST

DEST.parent.mkdir(parents=True, exist_ok=True)
os.symlink("/etc/passwd", DEST)
print("linked", DEST, "->", os.readlink(DEST))
