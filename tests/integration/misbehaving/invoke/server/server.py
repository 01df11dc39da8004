"""A grand-challenge invoke server for the tests; /opt/ml/model/behaviour.json says how it acts.

Keys (all optional): ``load_s`` (seconds of "model loading" before it listens), ``health``
("ok", an HTTP code it answers forever, a 3xx with a Location header, or "drip": a status line
200, then an endless header line one byte every 2 s), ``invoke`` ("ok", an HTTP code, "hang",
"drip_headers": the mask written, then a 201 whose headers never end, one byte every 2 s, or
"drip_body": the mask written, then a 201's headers announcing a body of 1 MB that comes one
byte every 2 s), ``crash_on``
(the invocation number during which the process exits with code 9), ``allocate_mb`` (memory it
holds during each invocation), ``random`` (a random mask: not deterministic), ``exit_at_start``
(an exit code: the process ends at once, as a server whose model cannot be found does),
``churn`` (after each answer a thread keeps creating and removing files and folders under
/output, some of them folders of mode 000 holding files, for as long as the server lives).

Before any answer other than 201 it prints a chained traceback to stderr, as grand-challenge's
shim does for a failed inference: the cause (``RuntimeError: Unknown category``), 25 frames,
then the exception that failed the request and the access line of the answer. As in the shim,
the failed inference's output reaches the server's own stderr through a forwarding thread, so
the lines are still being written while the answer goes out; on SIGTERM the server lets the
forwarding finish before it exits, as uvicorn's graceful shutdown does.
"""

import http.server
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

MODEL = Path("/opt/ml/model")
behaviour = {}
if (MODEL / "behaviour.json").is_file():
    behaviour = json.loads((MODEL / "behaviour.json").read_text())
print(f"loading the model: {behaviour}", flush=True)
if "exit_at_start" in behaviour:
    print("no model to load: exiting", flush=True)
    os._exit(int(behaviour["exit_at_start"]))
time.sleep(float(behaviour.get("load_s", 0)))
invocations = 0
forwarders = []


def graceful(signum, frame):
    for thread in forwarders:
        thread.join(timeout=10)
    sys.stdout.flush()
    os._exit(0)


signal.signal(signal.SIGTERM, graceful)


def write_mask():
    """Above the median: a valid mask on the input's grid, as grand-challenge names it."""
    import numpy as np
    import SimpleITK as sitk

    src = next(Path("/input/images/light-sheet-3d-microscopy").iterdir())
    image = sitk.ReadImage(str(src))
    array = sitk.GetArrayFromImage(image)
    if behaviour.get("random"):
        values = np.random.default_rng().random(array.shape) > 0.5
    else:
        values = array > np.median(array)
    mask = sitk.GetImageFromArray(values.astype(np.uint8))
    dest = Path("/output/images/isolated-biological-structure/output.mha")
    dest.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(mask, str(dest))


def churn():
    """Keep /output changing: new files, new folders closed with mode 000, some removed again."""
    n = 0
    while True:
        n += 1
        folder = Path(f"/output/churn-{n % 50}")
        try:
            folder.mkdir(exist_ok=True)
            (folder / f"f{n}").write_bytes(b"x" * 64)
            closed = Path(f"/output/closed-{n % 7}")
            closed.mkdir(exist_ok=True)
            (closed / f"f{n}").write_bytes(b"y")
            os.chmod(closed, 0)
            if n % 3 == 0:
                for f in folder.iterdir():
                    f.unlink()
        except OSError:
            pass  # the harness removes what it can meanwhile
        time.sleep(0.001)


def print_traceback(invocation):
    lines = [
        "Traceback (most recent call last):",
        '  File "/opt/app/inference.py", line 12, in category',
        f"RuntimeError: Unknown category: spot_{invocation:03d}.nii.gz",
        "",
        "The above exception was the direct cause of the following exception:",
        "",
        "Traceback (most recent call last):",
        *[f'  File "/opt/app/frame{i}.py", line {i}, in call{i}' for i in range(25)],
        f"PredictionProcessingError: invocation {invocation} failed",
        'INFO: "POST /invoke HTTP/1.1" 500 Internal Server Error',
    ]

    def forward():
        for line in lines:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
            time.sleep(0.003)

    thread = threading.Thread(target=forward)
    forwarders.append(thread)
    thread.start()


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, code, text=""):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        if 300 <= code < 400:
            self.send_header("Location", "/health/")  # as a framework adding a slash does
        self.end_headers()
        self.wfile.write(body)

    def drip(self, head):
        """Send ``head``, then one byte every 2 s for as long as the connection lasts."""
        try:
            self.connection.sendall(head)
            while True:
                self.connection.sendall(b"X")
                time.sleep(2)
        except OSError:
            print(f"{self.command} {self.path}: the connection was cut while dripping", flush=True)

    def do_GET(self):
        if self.path != "/health":
            return self.answer(404)
        health = behaviour.get("health", "ok")
        if health == "drip":
            return self.drip(b"HTTP/1.1 200 OK\r\n")
        self.answer(200 if health == "ok" else int(health), "not ready, and never will be")

    def do_POST(self):
        global invocations
        if self.path != "/invoke":
            return self.answer(404)
        invocations += 1
        print(f"invocation {invocations} of server pid {os.getpid()}", flush=True)
        if invocations == behaviour.get("crash_on"):
            print("crashing on purpose", file=sys.stderr, flush=True)
            os._exit(9)
        mode = behaviour.get("invoke", "ok")
        if mode == "hang":
            time.sleep(3600)
        if mode == "drip_headers":
            write_mask()
            return self.drip(b"HTTP/1.1 201 Created\r\n")
        if mode == "drip_body":
            write_mask()
            return self.drip(b"HTTP/1.1 201 Created\r\nContent-Length: 1000000\r\n\r\n")
        if mode != "ok":
            print_traceback(invocations)
            return self.answer(int(mode), "Traceback: ValueError: the model cannot read this")
        hold = bytearray(int(behaviour.get("allocate_mb", 0)) << 20)
        for i in range(0, len(hold), 4096):
            hold[i] = 1
        write_mask()
        del hold
        if behaviour.get("churn"):
            threading.Thread(target=churn, daemon=True).start()
        self.answer(201)

    def log_message(self, fmt, *args):
        print(fmt % args, flush=True)


http.server.HTTPServer(("0.0.0.0", 4743), Handler).serve_forever()
