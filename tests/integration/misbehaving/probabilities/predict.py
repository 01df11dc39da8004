"""Writes float probabilities (0, 0.3, 0.8 by intensity) with GetImageFromArray, no geometry."""

import numpy as np
import SimpleITK as sitk
from contract_io import SRC, write

array = sitk.GetArrayFromImage(sitk.ReadImage(str(SRC)))
high, mid = np.percentile(array, 90), np.median(array)
prob = np.where(array > high, 0.8, np.where(array > mid, 0.3, 0.0)).astype(np.float32)
write(prob)  # no CopyInformation: the file carries no geometry of its own
