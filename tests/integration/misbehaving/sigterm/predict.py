"""Runs past any timeout. On SIGTERM it writes /output/sigterm-received, then exits, or (with
``{"on_sigterm": "ignore"}`` in /opt/ml/model/behaviour.json) keeps running until SIGKILL."""

import json
import signal
import sys
import time
from pathlib import Path

BEHAVIOUR = Path("/opt/ml/model/behaviour.json")
MODE = json.loads(BEHAVIOUR.read_text())["on_sigterm"] if BEHAVIOUR.is_file() else "exit"


def on_term(signum, frame):
    Path("/output/sigterm-received").write_text(f"{time.time()}\n")
    print("got SIGTERM", flush=True)
    if MODE == "exit":
        sys.exit(0)


signal.signal(signal.SIGTERM, on_term)
print(f"running until stopped ({MODE} on SIGTERM)", flush=True)
while True:
    time.sleep(0.2)
