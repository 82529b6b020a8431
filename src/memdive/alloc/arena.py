"""Arena: variable-size allocation inside one buffer, first fit with splitting and coalescing.

The seed's custom_malloc takes the first free block that is large enough whole (never splits it),
maps a new block for every miss and never merges freed neighbours, so memory only grows and
fragments. Here a block is split to the size asked (the rest stays free), a freed block merges with
free neighbours on both sides, and the statistics say how fragmented the free space is.

    arena = memdive.alloc.Arena(memdive.alloc.buffer(1 << 20))
    mv = arena.alloc(1000)          # a writable memoryview of 1000 bytes (16-byte aligned)
    arena.free(mv)
    arena.stats().fragmentation     # 1 - largest free block / free bytes

Metadata is kept out of band (a sorted list of free blocks, a dict of live ones), so user writes
cannot corrupt it. Thread-safe (one lock). Offsets are relative to the buffer's start.
"""

from __future__ import annotations

import bisect
import ctypes
import threading

from ..errors import InvalidInput, MemdiveError
from ..models.alloc import ArenaStats


class ArenaError(InvalidInput):
    """A free the arena refused: double free or not an allocation of this arena."""


class ArenaFull(MemdiveError):
    """No free block is large enough."""


class Arena:
    def __init__(self, buffer, *, granule: int = 16):
        if granule <= 0 or granule & (granule - 1):
            raise InvalidInput(f"granule={granule!r}: must be a power of two")
        view = buffer.view if hasattr(buffer, "view") and not isinstance(buffer, memoryview) else memoryview(buffer)
        view = view.cast("B") if view.format != "B" or view.ndim != 1 else view
        if view.readonly:
            raise InvalidInput("the arena's buffer must be writable")
        if view.nbytes < granule:
            raise InvalidInput(f"the buffer ({view.nbytes} bytes) is smaller than one granule ({granule})")
        self._view = view
        self._buffer = buffer
        self._base = ctypes.addressof(ctypes.c_char.from_buffer(view))
        self.granule = granule
        self.capacity = view.nbytes // granule * granule
        self._starts: list[int] = [0]              # free blocks, sorted by offset
        self._sizes: dict[int, int] = {0: self.capacity}
        self._used: dict[int, int] = {}            # live allocations: offset -> size
        self._lock = threading.Lock()
        self._used_bytes = self._peak = 0
        self._n_alloc = self._n_free = self._failed = self._failed_frag = self._coalesces = self._splits = 0

    @property
    def address(self) -> int:
        return self._base

    def alloc_offset(self, nbytes: int, align: int = 16) -> int:
        """First fit: the offset of NBYTES (rounded up to the granule) aligned to ALIGN; ArenaFull if none fits."""
        if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes <= 0:
            raise InvalidInput(f"allocation size must be a positive integer, not {nbytes!r}")
        if align <= 0 or align & (align - 1):
            raise InvalidInput(f"align={align!r}: must be a power of two")
        g = self.granule
        size = (nbytes + g - 1) // g * g
        align = max(align, g)
        with self._lock:
            for i, start in enumerate(self._starts):
                bsize = self._sizes[start]
                abs_start = self._base + start
                pad = (-abs_start) % align
                if pad + size > bsize:
                    continue
                # Split: [start, start+pad) stays free, [off, off+size) is used, the tail stays free.
                off = start + pad
                del self._starts[i]
                del self._sizes[start]
                if pad:
                    self._insert_free(start, pad)
                    self._splits += 1
                tail = bsize - pad - size
                if tail:
                    self._insert_free(off + size, tail)
                    self._splits += 1
                self._used[off] = size
                self._used_bytes += size
                self._peak = max(self._peak, self._used_bytes)
                self._n_alloc += 1
                return off
            self._failed += 1
            free = self.capacity - self._used_bytes
            if free >= size:
                self._failed_frag += 1
                largest = max(self._sizes.values(), default=0)
                raise ArenaFull(f"arena fragmented: {size} bytes asked, {free} free but the largest free "
                                f"block is {largest} bytes ({len(self._starts)} free blocks)")
            raise ArenaFull(f"arena full: {size} bytes asked, {free} of {self.capacity} free")

    def _insert_free(self, start: int, size: int) -> None:
        bisect.insort(self._starts, start)
        self._sizes[start] = size

    def free_offset(self, off: int) -> None:
        """Free the allocation at OFF, merging it with free neighbours."""
        with self._lock:
            size = self._used.pop(off, None)
            if size is None:
                inside = any(s <= off < s + self._sizes[s] for s in self._starts)
                raise ArenaError(f"double free at offset {off}: that block is already free" if inside else
                                 f"offset {off} is not the start of an allocation of this arena")
            self._used_bytes -= size
            self._n_free += 1
            i = bisect.bisect_left(self._starts, off)
            start = off
            # Merge with the following free block.
            if i < len(self._starts) and self._starts[i] == off + size:
                nxt = self._starts.pop(i)
                size += self._sizes.pop(nxt)
                self._coalesces += 1
            # Merge with the preceding free block.
            if i > 0:
                prev = self._starts[i - 1]
                if prev + self._sizes[prev] == off:
                    self._sizes[prev] += size
                    self._coalesces += 1
                    return
            self._starts.insert(i, start)
            self._sizes[start] = size

    def alloc(self, nbytes: int, align: int = 16) -> memoryview:
        """A writable memoryview of exactly NBYTES inside the arena."""
        off = self.alloc_offset(nbytes, align)
        return self._view[off:off + nbytes]

    def offset_of(self, mv: memoryview) -> int:
        if not isinstance(mv, memoryview) or mv.readonly or mv.nbytes == 0:
            raise ArenaError("not an allocation of this arena (a memoryview from Arena.alloc() is expected)")
        off = ctypes.addressof(ctypes.c_char.from_buffer(mv)) - self._base
        if not 0 <= off < self.capacity:
            raise ArenaError("not an allocation of this arena (its address lies outside the arena)")
        return off

    def free(self, block: memoryview | int) -> None:
        """Free an allocation (its memoryview or offset). A double free raises ArenaError."""
        self.free_offset(block if isinstance(block, int) else self.offset_of(block))

    def size_of(self, off: int) -> int:
        with self._lock:
            try:
                return self._used[off]
            except KeyError:
                raise ArenaError(f"offset {off} is not a live allocation") from None

    def blocks(self) -> list[tuple[int, int, bool]]:
        """Every block in address order: (offset, size, in_use)."""
        with self._lock:
            out = [(s, self._sizes[s], False) for s in self._starts] + [(o, n, True) for o, n in self._used.items()]
        return sorted(out)

    def stats(self) -> ArenaStats:
        with self._lock:
            free = self.capacity - self._used_bytes
            return ArenaStats(
                capacity_bytes=self.capacity, used_bytes=self._used_bytes, free_bytes=free,
                allocations=len(self._used), free_blocks=len(self._starts),
                largest_free_bytes=max(self._sizes.values(), default=0), peak_used_bytes=self._peak,
                total_allocs=self._n_alloc, total_frees=self._n_free, failed_allocs=self._failed,
                failed_fragmented=self._failed_frag, coalesces=self._coalesces, splits=self._splits)

    def reset(self) -> None:
        """Free everything at once (arena-style)."""
        with self._lock:
            self._starts, self._sizes, self._used = [0], {0: self.capacity}, {}
            self._used_bytes = 0

    def __repr__(self) -> str:
        s = self.stats()
        return (f"<memdive.alloc.Arena {s.used_bytes}/{s.capacity_bytes} B used, {s.free_blocks} free blocks, "
                f"fragmentation {s.fragmentation:.2f}>")
