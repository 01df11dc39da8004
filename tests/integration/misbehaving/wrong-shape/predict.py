"""Writes a mask one voxel too short along x."""

import numpy as np
import SimpleITK as sitk
from contract_io import SRC, write

image = sitk.ReadImage(str(SRC))
array = sitk.GetArrayFromImage(image)
write((array[:, :, :-1] > 0).astype(np.uint8))
