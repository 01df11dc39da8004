"""How the processes that score cases use memory."""

from __future__ import annotations

import ctypes
import platform

__all__ = ["keep_freed_memory"]

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_INT_MAX = 2**31 - 1


def keep_freed_memory() -> bool:
    """Make this process's allocator keep freed memory for reuse; True if it could.

    Returns
    -------
    bool
        False where the C library is not glibc (the only one with these settings); nothing
        changes there.

    Notes
    -----
    Scoring one case allocates and frees a few hundred MB of box-sized arrays (labels,
    thinning buffers, crops). glibc serves arrays over 32 MB with fresh memory mappings and
    unmaps them when freed, so every case touches its memory anew: the kernel zeroes each page
    again and, on virtual machines whose host takes freed pages back, faulting 64 MB in again
    took 170-200 ms instead of 10 ms. With mappings turned off and the heap never trimmed,
    freed memory stays in the process and the next case reuses it. The peak is unchanged; the
    process simply does not shrink between cases. The ``selma3d`` command and the evaluation's
    worker processes call this at start; a library caller's own process is left alone.
    """
    if platform.libc_ver()[0] != "glibc":
        return False
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _INT_MAX))
