"""glibc allocator settings for argon2's working memory.

Every argon2id verification allocates `m` KiB (19 MiB by default), and Limen runs verifications in
worker threads. glibc gives each thread its own malloc arena; measured on the benchmark machine, a
verification whose memory comes from a thread arena takes about 10% longer than one in the main
arena (23.3 ms against 21.0 ms, see docs/performance.md). One arena, with large blocks kept on the
heap instead of being mapped and unmapped for every hash, removes that difference. Other C
libraries (musl, macOS) are left alone.
"""

from __future__ import annotations

import ctypes
import platform

# mallopt parameters from glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
# glibc refuses an mmap threshold above half its 64 MiB heap size.
_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024
_applied = False


def tune_for_password_hashing(memory_kib: int, concurrency: int) -> bool:
    """Apply once per process, before worker threads first allocate. Returns whether glibc took it."""
    global _applied
    if _applied:
        return True
    import os

    if os.environ.get("XX_NO_TUNE"):
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    mallopt = libc.mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # Freed hash buffers stay mapped for the next verification: up to one per concurrent hash.
    keep = max(memory_kib * 1024 * max(concurrency, 1) * 2, 64 * 1024 * 1024)
    _applied = all(
        (
            mallopt(_M_ARENA_MAX, 1),
            mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX),
            mallopt(_M_TRIM_THRESHOLD, min(keep, 2**31 - 1)),
        )
    )
    return _applied
