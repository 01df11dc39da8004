"""Crashes with exit code 3 after some output."""

import sys

for i in range(50):
    print(f"loading layer {i}")
print("model weights not found", file=sys.stderr)
sys.exit(3)
