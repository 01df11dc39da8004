"""Writes probabilities with NaNs on the input grid."""

import numpy as np
import SimpleITK as sitk
from contract_io import SRC, write

image = sitk.ReadImage(str(SRC))
prob = np.full(sitk.GetArrayFromImage(image).shape, 0.7, dtype=np.float32)
prob[0, 0, :5] = np.nan
write(prob, image)
