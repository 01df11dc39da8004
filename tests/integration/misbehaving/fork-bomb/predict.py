"""Forks without end."""

import os

print("forking", flush=True)
while True:
    try:
        os.fork()
    except OSError:
        pass
