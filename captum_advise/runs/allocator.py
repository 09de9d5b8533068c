"""The command line's allocator setting: freed memory is kept for the next batch, not handed back.

glibc serves every allocation above its mmap threshold (32 MB at most) with fresh pages from the
kernel and returns them on ``free``; the next batch of the same size then pays a page fault for
every 4 KiB it touches. The evaluator's forward passes at 32 images, FSIM at 32 images, Score-CAM
and LIME allocate such buffers hundreds of times per photo, and on a CPU that kernel time was
40-60% of a run. :func:`keep_freed_memory` asks glibc to serve large allocations from its heap and
never to trim it, so a buffer's pages are reused. It changes no number (the same arithmetic on the
same values) but the process keeps its peak memory until it exits.

Only the ``captum-advise`` command calls it, for its own process: importing the library changes
nothing global. ``CAPTUM_ADVISE_MALLOC=system`` leaves the allocator as it is. On a C library
other than glibc (macOS, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

__all__ = ["keep_freed_memory"]

# mallopt(3) parameters.
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
# Trim only a free top above 2 GiB - 1, the largest value mallopt's int takes.
NO_TRIM = 2**31 - 1


def keep_freed_memory() -> bool:
    """Serve large allocations from the heap and keep freed pages (glibc's ``mallopt``).

    Returns:
        True when the setting was applied; False on another C library or when
        ``CAPTUM_ADVISE_MALLOC=system``.
    """
    if os.environ.get("CAPTUM_ADVISE_MALLOC") == "system" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, NO_TRIM))
