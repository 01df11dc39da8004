"""Peak memory of scoring a header bomb through ``selma3d evaluate``, against a normal case.

Usage::

    .venv/bin/python benchmarks/header_bomb.py [--size 64]

A one-case labeled split of ``--size``^3 voxels is written to a temporary folder with two
prediction folders: a correct uint8 mask (the reference run) and a header bomb, a ``.nii.gz`` of
under 100 bytes whose NIfTI header claims 32000^3 uint8 voxels (32 TB). Each folder is scored by
``selma3d evaluate`` in a fresh Python process; the peak resident memory of that process
(``ru_maxrss`` of the child) is printed for both, with their difference and ratio. The target:
the bomb run stays under 200 MB, i.e. its header is read and refused before any voxel is
allocated. A second bomb with the case's shape but a float64 type and a truncated body is scored
too (it may only cost the case's own size).
"""

from __future__ import annotations

import argparse
import gzip
import subprocess
import sys
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np

from harness.split.manifest import write_manifest
from harness.split.volume import write_volume

BOUND_MB = 200.0
_SCRIPT = """
import resource, sys
from harness.cli import run
code = run(["evaluate", "--split", sys.argv[1], "--predictions", sys.argv[2],
            "--out", sys.argv[3], "--no-progress"])
# The process's own peak, in KB on Linux, as the last line of its output.
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
sys.exit(code)
"""

def bomb(path: Path, shape: tuple[int, int, int], dtype: type) -> Path:
    """A gzip'd NIfTI header claiming ``shape`` voxels of ``dtype``, with no voxel data."""
    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(dtype)
    path.write_bytes(gzip.compress(header.binaryblock + b"\0" * 4))
    return path


def peak_rss_mb(split: Path, predictions: Path, out: Path) -> tuple[float, int]:
    """Peak RSS (MB) of one ``evaluate`` in a fresh process, and its exit code."""
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(split), str(predictions), str(out)],
        capture_output=True,
        check=False,
        text=True,
    )
    if proc.returncode not in (0, 1):
        raise SystemExit(f"evaluate exited {proc.returncode}:\n{proc.stderr}")
    return int(proc.stdout.strip().splitlines()[-1]) / 1024.0, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=64, help="Edge of the cubic case.")
    args = parser.parse_args()
    shape = (args.size,) * 3
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        split = root / "split"
        split.mkdir()
        label = np.zeros(shape, np.uint8)
        label[4:12, 4:12, 4:12] = 1
        write_volume(split / "c1.nii.gz", np.zeros(shape, np.float32))
        write_volume(split / "c1_label.nii.gz", label)
        write_manifest(split, [{"case_id": "c1", "track": "spot", "structure": "cfos",
                                "image": "c1.nii.gz", "label": "c1_label.nii.gz"}])
        normal = root / "normal"
        normal.mkdir()
        write_volume(normal / "c1.nii.gz", label)
        huge = root / "huge"
        huge.mkdir()
        size = bomb(huge / "c1.nii.gz", (32000, 32000, 32000), np.uint8).stat().st_size
        truncated = root / "truncated"
        truncated.mkdir()
        bomb(truncated / "c1.nii.gz", shape, np.float64)

        reference, code_ref = peak_rss_mb(split, normal, root / "normal.csv")
        rows = [("normal mask (reference)", reference, code_ref)]
        for name, folder in (("header bomb, 32000^3 uint8", huge),
                             ("truncated float64 of the case's shape", truncated)):
            mb, code = peak_rss_mb(split, folder, root / f"{folder.name}.csv")
            rows.append((name, mb, code))
    print(f"case {shape}, bomb file {size} bytes; peak RSS of `selma3d evaluate` per run:")
    for name, mb, code in rows:
        print(f"  {name:40s} {mb:8.1f} MB  exit {code}  ratio to reference {mb / reference:.2f}")
    worst = max(mb for _, mb, _ in rows[1:])
    verdict = "within" if worst < BOUND_MB else "OVER"
    print(f"largest bomb run {worst:.1f} MB: {verdict} the {BOUND_MB:.0f} MB bound "
          f"({worst - reference:+.1f} MB over the reference run)")


if __name__ == "__main__":
    main()
