"""memdive.alloc: placement-aware buffers, a lock-free slot pool, an arena, and allocator comparison.

    buffer(nbytes, pages="4k"|"thp"|"hugetlb"|"auto", node=None, lock=False, populate=False, align=64)
    Pool(slot_size, count, buffer=None)     lock-free, ABA-safe slots (C core), double free detected
    Arena(buffer)                           first fit with splitting and coalescing, fragmentation stats
    compare_allocators(argv, allocators=None, repeat=3)  a command under glibc/jemalloc/tcmalloc/mimalloc
"""

from __future__ import annotations

from .. import _lazy_getattr

_LAZY = {
    "buffer": "buffer", "Buffer": "buffer", "BufferInUse": "buffer",
    "measure_range": "measure",
    "Pool": "pool", "PoolError": "pool",
    "Arena": "arena",
    "compare_allocators": "compare", "allocators": "compare",
}

__all__ = ["Arena", "Buffer", "BufferInUse", "Pool", "PoolError", "allocators", "buffer",
           "compare_allocators", "measure_range"]


__getattr__ = _lazy_getattr(__name__, _LAZY)
