"""Allocates 256 MiB, twice the 128 MiB limit the tests give it."""

import numpy as np
from contract_io import write_valid_mask

print("allocating 256 MiB", flush=True)
block = np.ones(256 * 2**20 // 8)
print("allocated", block.sum())
write_valid_mask()
