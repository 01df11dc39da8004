"""Takes two seconds per case, then writes a valid mask."""

import time

from contract_io import write_valid_mask

time.sleep(2)
write_valid_mask()
print("ok")
