"""How the process's C allocator serves the pair model's batch buffers.

torch's CPU tensors come from glibc ``malloc``. Blocks above ``M_MMAP_THRESHOLD`` are fresh
``mmap`` pages handed back to the system on ``free``, and free memory at the top of the
heap above ``M_TRIM_THRESHOLD`` is handed back too; glibc raises both by itself as large
blocks are freed (up to 32 MB and 64 MB), so how often the buffers of a batch (a few MB
each, a few dozen MB together) had to be faulted in again depended on what the process
had allocated *before* scoring. Measured on dbp15k_fr_en (forward passes of 30,000 candidate
pairs, one thread, the same inputs): 6.1 s with 900,000 minor page faults after a setup
that left the thresholds low, 4.0 s with a few hundred after one that had raised them.

:func:`keep_batch_buffers` sets the two thresholds to where glibc's own adjustment ends
(32 MB, and room for two batches' buffers before the heap is trimmed), which also turns
that adjustment off: a batch's buffers come from the heap and are reused by the next;
whole-graph arrays above 32 MB are still mapped and returned to the system when freed.
A no-op where the C library is not glibc. Source: ``mallopt(3)``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

log = logging.getLogger(__name__)

#: ``mallopt`` parameters (glibc's ``malloc.h``)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: blocks from this size up are mapped on their own (glibc's ceiling for its own adjustment)
MMAP_THRESHOLD = 32 * 1024 * 1024
#: free memory kept at the top of the heap before it is handed back
TRIM_THRESHOLD = 128 * 1024 * 1024


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The process's C library when it is glibc, else ``None`` (looked up once)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "gnu_get_libc_version") else None


def keep_batch_buffers() -> bool:
    """Fix glibc's mmap and trim thresholds (see the module docstring); once per process,
    before the tensor work. Returns whether they were set (``False`` without glibc)."""
    libc = _glibc()
    if libc is None:
        return False
    ok = (bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
          and bool(libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)))
    log.debug("malloc: mmap threshold %d, trim threshold %d (%s)", MMAP_THRESHOLD, TRIM_THRESHOLD,
              "set" if ok else "refused")
    return ok


def release_free_memory() -> bool:
    """Hand the C heap's free pages back to the system (glibc ``malloc_trim(0)``, which
    also releases free pages inside the heap, not only at its top): between two phases
    whose temporaries would otherwise stack up in the process's peak. Returns whether
    anything was released (``False`` without glibc)."""
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
