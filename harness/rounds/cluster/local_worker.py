"""Preloaded by every worker process of a round's local cluster (Dask's ``preload``).

Ctrl-C in a terminal sends SIGINT to the whole foreground process group: the round and its
local cluster's worker processes. The round stops and closes its cluster, which ends the
workers; a worker interrupted on its own would only print a traceback first, so the workers
ignore SIGINT and the round says one line.
"""

from __future__ import annotations

import signal
from typing import Any

__all__ = ["dask_setup"]


def dask_setup(worker: Any) -> None:
    """Make this worker process ignore SIGINT (its round ends it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
