"""Folder contract: a valid mask for the first input, a cut-short file for the second, exit 3."""

import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

names = sorted(p.name for p in Path("/input").glob("*.nii.gz"))
image = sitk.ReadImage(f"/input/{names[0]}")
mask = sitk.GetImageFromArray((sitk.GetArrayFromImage(image) > 0).astype(np.uint8))
mask.CopyInformation(image)
sitk.WriteImage(mask, f"/output/{names[0]}")
print(f"wrote {names[0]}", flush=True)
if len(names) > 1:
    sitk.WriteImage(mask, f"/tmp/{names[1]}")
    data = Path(f"/tmp/{names[1]}").read_bytes()
    Path(f"/output/{names[1]}").write_bytes(data[: len(data) // 2])
print("out of time budget, giving up", file=sys.stderr)
sys.exit(3)
