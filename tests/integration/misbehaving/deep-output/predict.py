"""Nests 3,000 folders in /output, by relative steps, and writes no prediction."""

import os

os.chdir("/output")
for _ in range(3000):
    os.mkdir("d")
    os.chdir("d")
print("nested 3000", flush=True)
