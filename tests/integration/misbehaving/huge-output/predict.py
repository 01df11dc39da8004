"""Writes a valid mask plus 64 MiB of junk."""

import os

from contract_io import write_valid_mask

write_valid_mask()
with open("/output/junk.bin", "wb") as fh:
    for _ in range(64):
        fh.write(os.urandom(2**20))
print("wrote 64 MiB")
