"""Probe the sandbox: network, labels and other cases, write access; then answer validly.

Each finding is printed as one line `probe <what>: <result>` for the tests to read in the log.
"""

import errno
import os
import socket
import subprocess
from pathlib import Path

import numpy as np
import SimpleITK as sitk

SRC = next(Path("/input/images/light-sheet-3d-microscopy").iterdir())
DEST = Path("/output/images/isolated-biological-structure") / (SRC.stem + ".mha")


def report(what, result):
    print(f"probe {what}: {result}", flush=True)


# Network: which interfaces exist, and can a packet go anywhere? 192.0.2.1 is TEST-NET-1, a
# documentation address no network routes; with no interface but loopback the kernel refuses
# before anything is sent.
report("interfaces", ",".join(sorted(os.listdir("/sys/class/net"))))
try:
    socket.create_connection(("192.0.2.1", 80), timeout=2).close()
    report("network", "CONNECTED")
except OSError as exc:
    report("network", f"unreachable ({errno.errorcode.get(exc.errno, exc.errno)})")

# Labels, manifests or other cases anywhere readable.
found = []
for root, dirs, files in os.walk("/", onerror=lambda e: None):
    if root.startswith(("/proc", "/sys", "/dev", "/usr", "/opt/app")):
        dirs[:] = []
        continue
    for name in files:
        low = name.lower()
        if "label" in low or "manifest" in low or low.endswith((".nii", ".nii.gz", ".mha", ".tif")):
            found.append(os.path.join(root, name))
report("found", ";".join(sorted(found)))
listing = [str(p.relative_to("/input")) for p in sorted(Path("/input").rglob("*")) if p.is_file()]
report("input files", ";".join(listing))
report("environment", ";".join(sorted(os.environ)))
report("hostname", socket.gethostname())

# Write access: /input and / must refuse, /tmp must accept.
for target in ("/input/x", "/input/images/light-sheet-3d-microscopy/x", "/etc/x", "/tmp/x"):
    try:
        Path(target).write_text("x")
        report(f"write {target}", "ok")
    except OSError as exc:
        report(f"write {target}", f"refused ({errno.errorcode.get(exc.errno, exc.errno)})")

# /tmp runs programs (JIT caches, compiled kernels), as on grand-challenge.
script = Path("/tmp/run-me.sh")
script.write_text("#!/bin/sh\necho ran\n")
script.chmod(0o755)
try:
    ran = subprocess.run([str(script)], capture_output=True, text=True, timeout=10, check=False)
    report("exec /tmp", ran.stdout.strip() or f"exit {ran.returncode}")
except OSError as exc:
    report("exec /tmp", f"refused ({errno.errorcode.get(exc.errno, exc.errno)})")
names = ("LOG_LEVEL", "PYTHONUNBUFFERED", "GRAND_CHALLENGE_COMPONENT_MAX_MEMORY_MB")
report("grand-challenge environment", ";".join(f"{k}={os.environ.get(k)}" for k in names))

image = sitk.ReadImage(str(SRC))
array = sitk.GetArrayFromImage(image)
mask = sitk.GetImageFromArray((array > np.median(array)).astype(np.uint8))
mask.CopyInformation(image)
DEST.parent.mkdir(parents=True, exist_ok=True)
sitk.WriteImage(mask, str(DEST))
