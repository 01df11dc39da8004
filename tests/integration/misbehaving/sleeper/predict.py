"""Sleeps far past any test timeout."""

import time

print("thinking...", flush=True)
time.sleep(600)
